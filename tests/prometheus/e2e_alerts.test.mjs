// End-to-end test of the shipped alert rules against a real Prometheus and node-exporter.
//
// It starts numapind on a private cgroup tree with one Guaranteed container, node-exporter
// reading numapind's textfile folder (textfile collector only), and Prometheus scraping both
// every second with deploy/alerts/numapin.rules.yaml (evaluated every second, `for` durations
// removed). It checks that numapin series arrive by both paths and that the textfile parses,
// then causes a cpuset drift and an intrusion on the container's exclusive CPU and waits for
// NumapinPinningDrift and NumapinForeignTasksOnExclusiveCpu to fire. Every process it starts is
// stopped by its PID, and the cgroups it created are removed, also when a step fails.
//
// Run as root: NUMAPIND=build/bin/numapind PROMETHEUS=prometheus
//   NODE_EXPORTER=prometheus-node-exporter node --test tests/prometheus/e2e_alerts.test.mjs
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import { parseYamlDocuments } from "../../deploy/test/models.mjs";

const kRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const kNumapind = process.env.NUMAPIND || path.join(kRoot, "build/bin/numapind");
const kPrometheus = process.env.PROMETHEUS || "prometheus";
const kNodeExporter = process.env.NODE_EXPORTER || "prometheus-node-exporter";
const kV1Cpuset = "/sys/fs/cgroup/cpuset";
const kV2Root = "/sys/fs/cgroup/unified";
const kWaitSeconds = 90;

// The Guaranteed container numapind pins: one exclusive CPU, CPU 0 left as the reserved CPU.
const kPodUid = "6f2c1a9e-0d55-4c3e-9a51-2f6b7f0c0e01";
const kContainerId = "e2e0000000000000000000000000000000000000000000000000000000000001";
const kReservedCpus = "0";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "numapin-e2e-"));
const cgroupName = `numapin-e2e-${process.pid}`;
const createdCgroups = [];
const children = [];
const ports = {};

// ---- processes ------------------------------------------------------------------------------

function startProcess(name, command, args) {
  const logPath = path.join(workDir, `${name}.log`);
  const log = fs.openSync(logPath, "w");
  const child = spawn(command, args, { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  children.push({ name, child, logPath });
  return child;
}

function logTail(name) {
  const entry = children.find((candidate) => candidate.name === name);
  if (!entry || !fs.existsSync(entry.logPath)) return "";
  return fs.readFileSync(entry.logPath, "utf8").split("\n").slice(-20).join("\n");
}

// Stops every started process by its PID: SIGTERM, then SIGKILL after five seconds.
async function stopAll() {
  for (const { child } of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
  const deadline = Date.now() + 5000;
  while (children.some(({ child }) => child.exitCode === null && child.signalCode === null)) {
    if (Date.now() > deadline) {
      for (const { child } of children) child.kill("SIGKILL");
      break;
    }
    await sleep(100);
  }
}

// A crash of the test runner itself still takes the children down.
process.on("exit", () => {
  for (const { child } of children) child.kill("SIGKILL");
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Thrown by a probe to stop waiting at once, because what it waits for can no longer happen.
class ExitedError extends Error {}

async function waitFor(description, probe) {
  const deadline = Date.now() + kWaitSeconds * 1000;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const result = await probe();
      if (result) return result;
    } catch (error) {
      if (error instanceof ExitedError) throw error;
      lastError = error;
    }
    await sleep(500);
  }
  throw new Error(`timed out after ${kWaitSeconds} s waiting for ${description}: ${lastError}`);
}

// ---- private cgroup tree --------------------------------------------------------------------

// Creates dir as a child cgroup. A v1 cpuset child starts with no CPUs or memory nodes, so it
// gets its parent's, which numapind then narrows.
function makeCgroup(dir) {
  fs.mkdirSync(dir);
  createdCgroups.push(dir);
  const parent = path.dirname(dir);
  if (fs.existsSync(path.join(dir, "cpuset.mems")) && dir.startsWith(kV1Cpuset)) {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      fs.writeFileSync(path.join(dir, file), fs.readFileSync(path.join(parent, file)));
    }
  }
}

function removeCgroups() {
  for (const dir of [...createdCgroups].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch (error) {
      console.error(`could not remove cgroup ${dir}: ${error.message}`);
    }
  }
}

// TODO: the cgroup layout and the pod file are assumptions to align with numapind's cgroup layout
// and dir: pod source. The layout is the cgroupfs driver's kubepods/pod<uid>/<container id>
// under cpuset/ and unified/ of --cgroup-root, and the pod file a v1 Pod in JSON as the
// kubelet's /pods lists it.
function createWorkload() {
  const hierarchies = { cpuset: path.join(kV1Cpuset, cgroupName) };
  if (fs.existsSync(path.join(kV2Root, "cgroup.procs"))) {
    hierarchies.unified = path.join(kV2Root, cgroupName);
  }
  const containerDirs = {};
  for (const [name, base] of Object.entries(hierarchies)) {
    let dir = base;
    makeCgroup(dir);
    for (const level of ["kubepods", `pod${kPodUid}`, kContainerId]) {
      dir = path.join(dir, level);
      makeCgroup(dir);
    }
    containerDirs[name] = dir;
  }

  const podDir = path.join(workDir, "pods");
  fs.mkdirSync(podDir);
  const quantities = { cpu: "1", memory: "64Mi" };
  const resources = { requests: quantities, limits: quantities };
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "pinned-0", namespace: "e2e", uid: kPodUid },
    spec: { nodeName: "e2e", containers: [{ name: "app", image: "none", resources }] },
    status: {
      phase: "Running",
      qosClass: "Guaranteed",
      containerStatuses: [
        {
          name: "app",
          containerID: `containerd://${kContainerId}`,
          ready: true,
          state: { running: {} },
        },
      ],
    },
  };
  fs.writeFileSync(path.join(podDir, "pinned-0.json"), JSON.stringify(pod, null, 2));
  return { hierarchies, containerDirs, podDir };
}

// ---- numapind, node-exporter, Prometheus ----------------------------------------------------

// Runs numapind in its own mount namespace, where --cgroup-root's cpuset/ and unified/ are bind
// mounts of the private trees, so that they look to numapind like whole hierarchies.
function startNumapind(workload) {
  const cgroupRoot = path.join(workDir, "cgroup");
  const mountCommands = [];
  for (const [name, source] of Object.entries(workload.hierarchies)) {
    fs.mkdirSync(path.join(cgroupRoot, name), { recursive: true });
    mountCommands.push(`mount --bind '${source}' '${path.join(cgroupRoot, name)}'`);
  }
  for (const dir of ["state", "textfile"]) fs.mkdirSync(path.join(workDir, dir));
  const numapindArgs = [
    "--mode=allocate",
    `--pod-source=dir:${workload.podDir}`,
    `--cgroup-root=${cgroupRoot}`,
    "--topology=host",
    `--reserved-cpus=${kReservedCpus}`,
    `--state-dir=${path.join(workDir, "state")}`,
    `--cpu-manager-state=${path.join(workDir, "cpu_manager_state")}`,
    `--metrics-address=127.0.0.1:${ports.numapind}`,
    `--textfile-dir=${path.join(workDir, "textfile")}`,
    "--node-name=e2e",
    "--readback-interval=1s",
  ];
  const script = `${mountCommands.join(" && ")} && exec "$0" "$@"`;
  return startProcess("numapind", "unshare", [
    "--mount", "--propagation", "private", "--", "sh", "-c", script, kNumapind, ...numapindArgs,
  ]);
}

function startNodeExporter() {
  startProcess("node-exporter", kNodeExporter, [
    `--web.listen-address=127.0.0.1:${ports.nodeExporter}`,
    "--collector.disable-defaults",
    "--collector.textfile",
    `--collector.textfile.directory=${path.join(workDir, "textfile")}`,
  ]);
}

// Writes the shipped rules with every `for` removed, so that an alert fires at the first
// evaluation where its condition holds, and starts Prometheus on them.
function startPrometheus() {
  const rulesFile = path.join(kRoot, "deploy/alerts/numapin.rules.yaml");
  const [rules] = parseYamlDocuments(fs.readFileSync(rulesFile, "utf8"), rulesFile);
  for (const group of rules.groups) {
    for (const rule of group.rules) delete rule.for;
  }
  const rulesPath = path.join(workDir, "rules.json");
  fs.writeFileSync(rulesPath, JSON.stringify(rules));

  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    rule_files: [rulesPath],
    scrape_configs: [
      { job_name: "numapin", static_configs: [{ targets: [`127.0.0.1:${ports.numapind}`] }] },
      {
        job_name: "node-exporter",
        static_configs: [{ targets: [`127.0.0.1:${ports.nodeExporter}`] }],
      },
    ],
  };
  const configPath = path.join(workDir, "prometheus.json");
  fs.writeFileSync(configPath, JSON.stringify(config));
  startProcess("prometheus", kPrometheus, [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${path.join(workDir, "prometheus-data")}`,
    `--web.listen-address=127.0.0.1:${ports.prometheus}`,
  ]);
}

async function httpGet(port, urlPath) {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: response.status, body: await response.text() };
}

// Returns the result vector of an instant query.
async function query(expression) {
  const urlPath = `/api/v1/query?query=${encodeURIComponent(expression)}`;
  const { status, body } = await httpGet(ports.prometheus, urlPath);
  assert.equal(status, 200, `query ${expression} failed: ${body}`);
  return JSON.parse(body).data.result;
}

async function firingAlerts() {
  const { body } = await httpGet(ports.prometheus, "/api/v1/alerts");
  return JSON.parse(body).data.alerts.filter((alert) => alert.state === "firing");
}

// ---- the test -------------------------------------------------------------------------------

let workload;

before(async () => {
  assert.equal(process.getuid(), 0, "the end-to-end test needs root to create cgroups");
  ports.numapind = await freePort();
  ports.nodeExporter = await freePort();
  ports.prometheus = await freePort();
  workload = createWorkload();
  const numapind = startNumapind(workload);
  startNodeExporter();
  startPrometheus();
  await waitFor("numapind /readyz", async () => {
    if (numapind.exitCode !== null) {
      throw new ExitedError(`numapind exited with ${numapind.exitCode}`);
    }
    return (await httpGet(ports.numapind, "/readyz")).status === 200;
  }).catch((error) => {
    throw new Error(`${error.message}\nnumapind log:\n${logTail("numapind")}`);
  });
  await waitFor(
    "Prometheus /-/ready",
    async () => (await httpGet(ports.prometheus, "/-/ready")).status === 200,
  );
});

after(async () => {
  await stopAll();
  removeCgroups();
  fs.rmSync(workDir, { recursive: true, force: true });
});

test("numapin series arrive by scrape and by textfile", async () => {
  for (const job of ["numapin", "node-exporter"]) {
    await waitFor(`numapin_build_info from job ${job}`, async () =>
      (await query(`numapin_build_info{job="${job}"}`)).length > 0);
  }
});

test("node-exporter parses numapin.prom", async () => {
  const result = await waitFor("node_textfile_scrape_error", async () => {
    const vector = await query('node_textfile_scrape_error{job="node-exporter"}');
    return vector.length > 0 ? vector : null;
  });
  assert.equal(result[0].value[1], "0", "node-exporter could not parse numapin.prom");
});

function readCpus(dir) {
  return fs.readFileSync(path.join(dir, "cpuset.cpus"), "utf8").trim();
}

test("container is pinned and healthy before any fault", async () => {
  // Pinned means numapind narrowed the container's cpuset below its parent's CPUs.
  const parentCpus = readCpus(path.join(kV1Cpuset, cgroupName));
  await waitFor("numapind to pin the container", async () => {
    const cpus = readCpus(workload.containerDirs.cpuset);
    return cpus !== "" && cpus !== parentCpus;
  });
  await sleep(3000);
  const names = (await firingAlerts()).map((alert) => alert.labels.alertname);
  assert.ok(!names.includes("NumapinPinningDrift"), `firing before any drift: ${names}`);
  assert.ok(
    !names.includes("NumapinForeignTasksOnExclusiveCpu"),
    `firing before any intrusion: ${names}`,
  );
});

test("cpuset drift fires NumapinPinningDrift", async () => {
  // Another writer widens the container's cpuset to every CPU; numapind re-pins it.
  const parentCpus = readCpus(path.join(kV1Cpuset, cgroupName));
  fs.writeFileSync(path.join(workload.containerDirs.cpuset, "cpuset.cpus"), parentCpus);
  await waitFor("NumapinPinningDrift to fire", async () =>
    (await firingAlerts()).some((alert) => alert.labels.alertname === "NumapinPinningDrift"));
});

test("intrusion fires NumapinForeignTasksOnExclusiveCpu", async () => {
  // A host task pinned with taskset to the container's exclusive CPU; it stays in this test's
  // own cgroup, so no task is moved between cgroups.
  const exclusiveCpu = readCpus(workload.containerDirs.cpuset);
  startProcess("intruder", "taskset", ["-c", exclusiveCpu, "sh", "-c", "while :; do :; done"]);
  await waitFor("NumapinForeignTasksOnExclusiveCpu to fire", async () =>
    (await firingAlerts()).some(
      (alert) => alert.labels.alertname === "NumapinForeignTasksOnExclusiveCpu",
    ));
});

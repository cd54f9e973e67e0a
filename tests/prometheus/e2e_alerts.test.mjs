// End-to-end test of the shipped alert rules against a real Prometheus and node-exporter.
//
// It starts numapind with the eBPF monitor on a private kubepods tree under the v1 cpuset
// hierarchy (a Guaranteed pod of 1 CPU and a Burstable pod, each with a real process),
// node-exporter reading numapind's textfile folder (textfile collector only), and Prometheus
// scraping both every second with deploy/alerts/numapin.rules.yaml (evaluated every second,
// `for` durations removed). It checks that numapin series arrive by both paths and that the
// textfile parses, then causes a cpuset drift and an intrusion on the exclusive CPU and waits
// for NumapinPinningDrift and NumapinForeignTasksOnExclusiveCpu to fire. Every process it starts
// is stopped by its PID, and the cgroups it created are removed, also when a step fails.
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
const kWaitSeconds = 30;

// The Guaranteed pod gets one exclusive CPU. The Burstable one runs in the shared pool, which
// keeps CPU 0 as the reserved CPU.
const kGuaranteed = {
  uid: "6f2c1a9e-0d55-4c3e-9a51-2f6b7f0c0e01",
  id: "e2e0000000000000000000000000000000000000000000000000000000000001",
};
const kBurstable = {
  uid: "0b7d3e42-8a61-4f0c-b2d9-5c1e7a9f3d02",
  id: "e2e0000000000000000000000000000000000000000000000000000000000002",
};
const kReservedCpus = "0";

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "numapin-prom-"));
const cgroupName = `numapin-prom-${process.pid}`;
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

// Creates dir as a v1 cpuset cgroup. A new cpuset starts with no CPUs or memory nodes and takes
// no task until both are set, so it copies its parent's, as the kubelet and runtimes do.
function makeCgroup(dir) {
  fs.mkdirSync(dir);
  createdCgroups.push(dir);
  const parent = path.dirname(dir);
  for (const file of ["cpuset.cpus", "cpuset.mems"]) {
    fs.writeFileSync(path.join(dir, file), fs.readFileSync(path.join(parent, file)));
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

// Starts a process that joins the cgroup dir and then runs args (a sleep by default).
function startInCgroup(name, dir, args = ["sleep", "100000"]) {
  return startProcess(name, "sh", [
    "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', "_", dir, ...args,
  ]);
}

function podManifest(name, uid, qos, containerId) {
  const resources =
    qos === "Guaranteed"
      ? { requests: { cpu: "1", memory: "64Mi" }, limits: { cpu: "1", memory: "64Mi" } }
      : { requests: { cpu: "100m", memory: "32Mi" } };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "e2e", uid },
    spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.9", resources }] },
    status: {
      phase: "Running",
      qosClass: qos,
      containerStatuses: [
        {
          name: "app",
          containerID: `containerd://${containerId}`,
          ready: true,
          started: true,
          state: { running: { startedAt: "2026-01-01T00:00:00Z" } },
        },
      ],
    },
  };
}

// The cgroupfs driver's tree under a private root that is passed as --cgroup-root:
// kubepods/pod<uid>/<id> for the Guaranteed pod and kubepods/burstable/pod<uid>/<id> for the
// Burstable one, each with a sleeping process, plus the pods' manifests for --pod-source=dir:.
function createWorkload() {
  const root = path.join(kV1Cpuset, cgroupName);
  for (const dir of ["", "kubepods", "kubepods/burstable", "kubepods/besteffort"]) {
    makeCgroup(path.join(root, dir));
  }
  const containerDirs = {
    guaranteed: path.join(root, "kubepods", `pod${kGuaranteed.uid}`, kGuaranteed.id),
    burstable: path.join(root, "kubepods/burstable", `pod${kBurstable.uid}`, kBurstable.id),
  };
  for (const dir of Object.values(containerDirs)) {
    makeCgroup(path.dirname(dir));
    makeCgroup(dir);
  }
  // Host tasks of this test's own: the intruder runs here, outside kubepods.
  const hostDir = path.join(root, "host");
  makeCgroup(hostDir);
  startInCgroup("guaranteed", containerDirs.guaranteed);
  startInCgroup("burstable", containerDirs.burstable);

  const podDir = path.join(workDir, "pods");
  fs.mkdirSync(podDir);
  const pods = [
    podManifest("pinned-0", kGuaranteed.uid, "Guaranteed", kGuaranteed.id),
    podManifest("shared-0", kBurstable.uid, "Burstable", kBurstable.id),
  ];
  for (const pod of pods) {
    // Written aside and renamed, so that the pod source never reads half a file.
    const file = path.join(podDir, `${pod.metadata.name}.json`);
    fs.writeFileSync(`${path.dirname(file)}/.${path.basename(file)}`, JSON.stringify(pod));
    fs.renameSync(`${path.dirname(file)}/.${path.basename(file)}`, file);
  }
  return { root, containerDirs, hostDir, podDir };
}

// ---- numapind, node-exporter, Prometheus ----------------------------------------------------

// The daemons run on the reserved CPUs, so that their own run time does not count as foreign
// tasks on the exclusive CPU.
function startPinned(name, command, args) {
  return startProcess(name, "taskset", ["-c", kReservedCpus, command, ...args]);
}

function startNumapind(workload) {
  for (const dir of ["state", "textfile"]) fs.mkdirSync(path.join(workDir, dir));
  return startPinned("numapind", kNumapind, [
    "--mode=allocate",
    `--pod-source=dir:${workload.podDir}`,
    `--cgroup-root=${workload.root}`,
    "--topology=host",
    `--reserved-cpus=${kReservedCpus}`,
    `--state-dir=${path.join(workDir, "state")}`,
    `--metrics-address=127.0.0.1:${ports.numapind}`,
    `--textfile-dir=${path.join(workDir, "textfile")}`,
    "--node-name=e2e",
    "--readback-interval=200ms",
    "--monitor=on",
  ]);
}

function startNodeExporter() {
  startPinned("node-exporter", kNodeExporter, [
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
  startPinned("prometheus", kPrometheus, [
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

// The scheduler's run time of a task in seconds (the first field of /proc/PID/schedstat), the
// same clock the monitor sums.
function runSeconds(pid) {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e9;
}

async function firing(alertname) {
  return (await firingAlerts()).some((alert) => alert.labels.alertname === alertname);
}

let exclusiveCpu;

test("pods are pinned before any fault", async () => {
  const rootCpus = readCpus(workload.root);
  exclusiveCpu = await waitFor("numapind to pin the Guaranteed container", async () => {
    const cpus = readCpus(workload.containerDirs.guaranteed);
    return cpus !== rootCpus && /^\d+$/.test(cpus) ? cpus : null;
  });
  assert.notEqual(exclusiveCpu, kReservedCpus, "the reserved CPU was made exclusive");
  const shared = readCpus(workload.containerDirs.burstable);
  assert.ok(
    !shared.split(/[,-]/).includes(exclusiveCpu),
    `the shared pool ${shared} holds exclusive CPU ${exclusiveCpu}`,
  );
  // Three rule evaluations on the pinned state.
  await sleep(3000);
  assert.ok(!(await firing("NumapinPinningDrift")), "NumapinPinningDrift fired before any drift");
});

test("cpuset drift fires NumapinPinningDrift", async () => {
  // Another writer moves the exclusive container to the reserved CPU, and numapind re-pins it.
  fs.writeFileSync(path.join(workload.containerDirs.guaranteed, "cpuset.cpus"), kReservedCpus);
  await waitFor("the exclusive cpuset to be restored", async () =>
    readCpus(workload.containerDirs.guaranteed) === exclusiveCpu);
  await waitFor("NumapinPinningDrift to fire", () => firing("NumapinPinningDrift"));
  const drift = await query('max(numapin_drift_detected_total{kind="cpuset"})');
  assert.ok(Number(drift[0].value[1]) >= 1, "cpuset drift was not counted");
});

test("intrusion fires NumapinForeignTasksOnExclusiveCpu", async () => {
  // Other host tasks may run on the exclusive CPU too, so the test checks that the intruder's
  // own run time is counted, not only that the alert fires.
  const selector = `job="numapin",category="host",cpu="${exclusiveCpu}"`;
  const foreign = `max(numapin_cpu_foreign_run_seconds_total{${selector}})`;
  const [before] = await query(foreign);
  assert.ok(before, `no foreign run series for CPU ${exclusiveCpu}`);
  const intruder = startInCgroup("intruder", workload.hostDir, [
    "taskset", "-c", exclusiveCpu, "sh", "-c", "while :; do :; done",
  ]);
  // On a busy machine the intruder gets only a share of the CPU, so the wait is for run time.
  const intruderSeconds = await waitFor("the intruder to run 0.5 s", async () => {
    const seconds = runSeconds(intruder.pid);
    return seconds >= 0.5 ? seconds : null;
  });
  await waitFor(`the intruder's ${intruderSeconds} s in ${foreign}`, async () => {
    const [now] = await query(foreign);
    return Number(now.value[1]) - Number(before.value[1]) >= 0.9 * intruderSeconds;
  });
  await waitFor("NumapinForeignTasksOnExclusiveCpu to fire", () =>
    firing("NumapinForeignTasksOnExclusiveCpu"));
});

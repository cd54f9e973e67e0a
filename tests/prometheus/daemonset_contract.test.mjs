// Checks that the manifests in deploy/ agree with each other and with numapind's flags. Each path
// flag must point into the volume mounted for it, and the metrics port must be the same
// everywhere. The Service and ServiceMonitor must select the DaemonSet's pods, and the pod must
// keep the privileges and scheduling that docs/deploy.md and deploy/CAPABILITIES.md describe.
//
// Run: node --test tests/prometheus/daemonset_contract.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { parseYamlDocuments } from "../../deploy/test/models.mjs";

const kRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function loadOne(file, kind) {
  const fullPath = path.join(kRoot, "deploy", file);
  const objects = parseYamlDocuments(fs.readFileSync(fullPath, "utf8"), fullPath);
  const matching = objects.filter((object) => object.kind === kind);
  assert.equal(matching.length, 1, `${file} must hold exactly one ${kind}`);
  return matching[0];
}

const daemonSet = loadOne("daemonset.yaml", "DaemonSet");
const podSpec = daemonSet.spec.template.spec;
const container = podSpec.containers[0];

// Returns the value of --name=value in the container's args, or undefined.
function flagValue(name) {
  const prefix = `--${name}=`;
  const arg = container.args.find((candidate) => candidate.startsWith(prefix));
  return arg === undefined ? undefined : arg.slice(prefix.length);
}

// Returns the volume mount whose volume is the hostPath hostPathValue.
function mountOfHostPath(hostPathValue) {
  const volume = podSpec.volumes.find((candidate) => candidate.hostPath?.path === hostPathValue);
  assert.ok(volume, `no hostPath volume for ${hostPathValue}`);
  const mount = container.volumeMounts.find((candidate) => candidate.name === volume.name);
  assert.ok(mount, `volume ${volume.name} is not mounted`);
  return { volume, mount };
}

function labelsMatch(selector, labels) {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

test("cgroup root flag is the host cgroup tree's mount", () => {
  const { mount } = mountOfHostPath("/sys/fs/cgroup");
  assert.equal(flagValue("cgroup-root"), mount.mountPath);
  assert.notEqual(mount.mountPath, "/sys/fs/cgroup", "must not shadow the container's own view");
  assert.notEqual(mount.readOnly, true, "numapind writes cpusets");
});

test("state flags point into their mounts", () => {
  const kubelet = mountOfHostPath("/var/lib/kubelet");
  assert.equal(flagValue("cpu-manager-state"), `${kubelet.mount.mountPath}/cpu_manager_state`);
  assert.equal(kubelet.mount.readOnly, true, "the kubelet's directory must be read-only");

  const state = mountOfHostPath("/var/lib/numapin");
  assert.equal(flagValue("state-dir"), state.mount.mountPath);
  assert.equal(state.volume.hostPath.type, "DirectoryOrCreate");

  const textfile = mountOfHostPath("/var/lib/node_exporter/textfile_collector");
  assert.equal(flagValue("textfile-dir"), textfile.mount.mountPath);
  assert.notEqual(textfile.mount.readOnly, true, "numapind writes numapin.prom");
});

test("kernel interfaces are mounted read-only", () => {
  for (const hostPathValue of ["/sys/fs/bpf", "/sys/kernel/btf"]) {
    const { mount } = mountOfHostPath(hostPathValue);
    assert.equal(mount.readOnly, true, `${hostPathValue} must be read-only`);
  }
});

test("kubelet is reached at the host IP without hostNetwork", () => {
  assert.notEqual(podSpec.hostNetwork, true);
  assert.equal(flagValue("pod-source"), "kubelet");
  assert.equal(flagValue("kubelet-url"), "https://$(HOST_IP):10250/pods");
  const hostIp = container.env.find((variable) => variable.name === "HOST_IP");
  assert.equal(hostIp?.valueFrom?.fieldRef?.fieldPath, "status.hostIP");
  const nodeName = container.env.find((variable) => variable.name === "NODE_NAME");
  assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, "spec.nodeName");
});

test("metrics port agrees across flag, probes, annotations and Service", () => {
  const metricsPort = container.ports.find((port) => port.name === "metrics");
  assert.ok(metricsPort, "container has no port named metrics");
  const port = String(metricsPort.containerPort);

  assert.equal(flagValue("metrics-address"), `0.0.0.0:${port}`);
  assert.equal(daemonSet.spec.template.metadata.annotations["prometheus.io/port"], port);
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
  assert.equal(container.livenessProbe.httpGet.port, "metrics");
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.equal(container.readinessProbe.httpGet.port, "metrics");

  const service = loadOne("service.yaml", "Service");
  assert.equal(service.spec.ports[0].name, "metrics");
  assert.equal(service.spec.ports[0].targetPort, "metrics");
});

test("Service and ServiceMonitor select the DaemonSet's pods", () => {
  const podLabels = daemonSet.spec.template.metadata.labels;
  const service = loadOne("service.yaml", "Service");
  const serviceMonitor = loadOne("servicemonitor.yaml", "ServiceMonitor");

  assert.ok(labelsMatch(daemonSet.spec.selector.matchLabels, podLabels), "DaemonSet selector");
  assert.ok(labelsMatch(service.spec.selector, podLabels), "Service selector");
  assert.ok(
    labelsMatch(serviceMonitor.spec.selector.matchLabels, service.metadata.labels),
    "ServiceMonitor selector",
  );
  assert.deepEqual(serviceMonitor.spec.namespaceSelector.matchNames, [service.metadata.namespace]);
  assert.equal(serviceMonitor.spec.endpoints[0].port, "metrics");
  // The operator names the job after the Service; the alert rules select job="numapin".
  assert.equal(service.metadata.name, "numapin");
});

test("pod runs on every node ahead of ordinary pods", () => {
  assert.equal(podSpec.priorityClassName, "system-node-critical");
  assert.equal(podSpec.hostPID, true);
  assert.deepEqual(podSpec.tolerations, [{ operator: "Exists" }]);
  assert.equal(daemonSet.spec.updateStrategy.type, "RollingUpdate");
  assert.equal(daemonSet.spec.updateStrategy.rollingUpdate.maxUnavailable, 1);
});

test("container stays in the shared pool", () => {
  // Guaranteed QoS needs CPU limits equal to requests; no CPU limit keeps it Burstable.
  const { requests, limits } = container.resources;
  assert.ok(requests.cpu, "a CPU request is needed for scheduling");
  assert.equal(limits?.cpu, undefined, "a CPU limit would make the container throttled");
  assert.notEqual(limits?.memory, requests.memory, "equal limits and requests mean Guaranteed");
});

test("privileges are a capability list, not privileged mode", () => {
  const securityContext = container.securityContext;
  assert.notEqual(securityContext.privileged, true);
  assert.deepEqual(securityContext.capabilities.drop, ["ALL"]);
  const added = [...securityContext.capabilities.add].sort();
  assert.deepEqual(added, ["BPF", "PERFMON"]);
  assert.equal(securityContext.readOnlyRootFilesystem, true);

  const capabilitiesDoc = fs.readFileSync(path.join(kRoot, "deploy/CAPABILITIES.md"), "utf8");
  for (const capability of securityContext.capabilities.add) {
    assert.match(capabilitiesDoc, new RegExp(`CAP_${capability}\\b`), `${capability} undocumented`);
  }
});

test("RBAC grants only nodes/proxy get", () => {
  const clusterRole = loadOne("rbac.yaml", "ClusterRole");
  assert.deepEqual(clusterRole.rules, [
    { apiGroups: [""], resources: ["nodes/proxy"], verbs: ["get"] },
  ]);
  const binding = loadOne("rbac.yaml", "ClusterRoleBinding");
  assert.equal(binding.roleRef.name, clusterRole.metadata.name);
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: podSpec.serviceAccountName, namespace: "numapin-system" },
  ]);
});

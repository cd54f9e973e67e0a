// Offline validation of the manifests in deploy/: every document against its kubernetes-models
// schema and its TypeScript type (for unknown fields), and the kustomize renders of deploy/ and
// of deploy/ with components/observe.
//
// Run: node --test tests/prometheus/manifests.test.mjs (KUBECTL names the kubectl to use).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { loadModel, parseYamlDocuments, unknownFieldErrors } from "../../deploy/test/models.mjs";

const kRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const kDeployDir = path.join(kRoot, "deploy");
const kKubectl = process.env.KUBECTL || "kubectl";

// The kinds `kubectl kustomize deploy/` must produce, one object each.
const kExpectedKinds = [
  "ClusterRole",
  "ClusterRoleBinding",
  "DaemonSet",
  "Namespace",
  "PrometheusRule",
  "Service",
  "ServiceAccount",
  "ServiceMonitor",
];

// Returns the Kubernetes object files of deploy/: its top-level YAML files except the
// kustomization, which is kustomize's input, not an API object.
function manifestFiles() {
  return fs
    .readdirSync(kDeployDir)
    .filter((name) => name.endsWith(".yaml") && name !== "kustomization.yaml")
    .sort()
    .map((name) => path.join(kDeployDir, name));
}

// Validates each object with its model, and returns the list of "file: Kind/name: error" lines.
async function validationErrors(objects, sourceName) {
  const errors = [];
  for (const object of objects) {
    const where = `${sourceName}: ${object.kind}/${object.metadata?.name}`;
    try {
      const Model = await loadModel(object.apiVersion, object.kind);
      new Model(object).validate();
    } catch (error) {
      errors.push(`${where}: ${error.message}`);
    }
  }
  return errors;
}

function kustomize(directory) {
  return execFileSync(kKubectl, ["kustomize", directory], { encoding: "utf8" });
}

// Renders deploy/ with components/observe through a kustomization in a temporary folder, the
// way a user's own overlay would use them. Kustomize takes only relative paths to other roots.
function kustomizeObserve() {
  const overlayDir = fs.mkdtempSync(path.join(os.tmpdir(), "numapin-observe-"));
  try {
    const deployPath = path.relative(overlayDir, kDeployDir);
    fs.writeFileSync(
      path.join(overlayDir, "kustomization.yaml"),
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        `resources: [${deployPath}]`,
        `components: [${deployPath}/components/observe]`,
        "",
      ].join("\n"),
    );
    return kustomize(overlayDir);
  } finally {
    fs.rmSync(overlayDir, { recursive: true, force: true });
  }
}

function daemonSetArgs(objects) {
  const daemonSets = objects.filter((object) => object.kind === "DaemonSet");
  assert.equal(daemonSets.length, 1, "expected exactly one DaemonSet");
  return daemonSets[0].spec.template.spec.containers[0].args;
}

test("manifest files each validate against their model", async () => {
  const files = manifestFiles();
  assert.ok(files.length >= kExpectedKinds.length - 1, `too few manifests in ${kDeployDir}`);
  for (const file of files) {
    const objects = parseYamlDocuments(fs.readFileSync(file, "utf8"), file);
    assert.ok(objects.length > 0, `${file} holds no object`);
    assert.deepEqual(await validationErrors(objects, file), [], `${file} is invalid`);
  }
});

test("validation rejects a manifest with a wrong field type", async () => {
  // Guards against a validator that accepts anything, which would make the test above hollow.
  const daemonSetFile = path.join(kDeployDir, "daemonset.yaml");
  const [daemonSet] = parseYamlDocuments(fs.readFileSync(daemonSetFile, "utf8"), daemonSetFile);
  daemonSet.spec.template.spec.containers[0].ports[0].containerPort = "metrics";
  const errors = await validationErrors([daemonSet], "mutated daemonset.yaml");
  assert.equal(errors.length, 1, "a string containerPort must be rejected");
  assert.match(errors[0], /containerPort/);
});

test("manifest files contain no unknown fields", () => {
  const objectsByName = new Map();
  for (const file of manifestFiles()) {
    for (const object of parseYamlDocuments(fs.readFileSync(file, "utf8"), file)) {
      objectsByName.set(`${path.basename(file)}: ${object.kind}/${object.metadata.name}`, object);
    }
  }
  // A misspelt field in a copy guards against a check that accepts anything.
  const [daemonSet] = parseYamlDocuments(
    fs.readFileSync(path.join(kDeployDir, "daemonset.yaml"), "utf8"),
    "daemonset.yaml",
  );
  daemonSet.spec.template.spec.containers[0].volumeMounts[0].readonly = true;
  objectsByName.set("mutated daemonset.yaml", daemonSet);

  const errors = unknownFieldErrors(objectsByName);
  const mutatedErrors = (errors.get("mutated daemonset.yaml") ?? []).join("\n");
  assert.match(mutatedErrors, /'"readonly"' does not exist in type 'IVolumeMount'/);
  errors.delete("mutated daemonset.yaml");
  assert.deepEqual(Object.fromEntries(errors), {});
});

test("kustomize render of deploy contains each kind once", async () => {
  const objects = parseYamlDocuments(kustomize(kDeployDir), "kubectl kustomize deploy");
  const kinds = objects.map((object) => object.kind).sort();
  assert.deepEqual(kinds, kExpectedKinds);
  assert.deepEqual(await validationErrors(objects, "kubectl kustomize deploy"), []);
});

test("kustomize render of deploy runs allocate mode", () => {
  const args = daemonSetArgs(parseYamlDocuments(kustomize(kDeployDir), "deploy"));
  assert.ok(args.includes("--mode=allocate"), `args: ${args.join(" ")}`);
  assert.ok(!args.includes("--repair"), "--repair applies to observe mode only");
});

test("observe component render runs observe mode with repair", async () => {
  const objects = parseYamlDocuments(kustomizeObserve(), "deploy + components/observe");
  const args = daemonSetArgs(objects);
  assert.ok(args.includes("--mode=observe"), `args: ${args.join(" ")}`);
  assert.ok(args.includes("--repair"), `args: ${args.join(" ")}`);
  assert.ok(!args.includes("--mode=allocate"), `args: ${args.join(" ")}`);
  assert.deepEqual(await validationErrors(objects, "deploy + components/observe"), []);
});

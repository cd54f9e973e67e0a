// Entry point to the npm packages in this folder for the tests under tests/prometheus. Node
// resolves bare imports relative to the importing file, so the tests import this module by path
// and reach kubernetes-models and yaml through it.
import { parseAllDocuments } from "yaml";

export { parseAllDocuments };

const kPrometheusOperatorGroup = "monitoring.coreos.com";

// Loads the kubernetes-models class for apiVersion and kind, for example "apps/v1" and
// "DaemonSet", or throws naming the pair when no package has it.
export async function loadModel(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const specifier =
    group === kPrometheusOperatorGroup
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`
      : `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}`;
  let module;
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(`no model for apiVersion ${apiVersion} kind ${kind} (${specifier}): ${error.message}`);
  }
  if (typeof module[kind] !== "function") {
    throw new Error(`${specifier} does not export a class named ${kind}`);
  }
  return module[kind];
}

// Parses every document of a multi-document YAML text, throwing on the first syntax error with
// the source name, and returns the documents as plain objects (empty documents dropped).
export function parseYamlDocuments(text, sourceName) {
  const objects = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new Error(`${sourceName}: invalid YAML: ${document.errors[0].message}`);
    }
    const value = document.toJS();
    if (value !== null && value !== undefined) {
      objects.push(value);
    }
  }
  return objects;
}

// Entry point to the npm packages in this folder for the tests under tests/prometheus. Node
// resolves bare imports relative to the importing file, so the tests import this module by path
// and reach kubernetes-models, yaml and TypeScript through it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { parseAllDocuments } from "yaml";

export { parseAllDocuments };

const kPrometheusOperatorGroup = "monitoring.coreos.com";
const kPackageDir = path.dirname(fileURLToPath(import.meta.url));

// Returns the module that defines apiVersion and kind, for example "apps/v1" and "DaemonSet".
function modelSpecifier(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === kPrometheusOperatorGroup) {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return `kubernetes-models/${group ? `${group}/` : ""}${version}/${kind}`;
}

// Loads the kubernetes-models class for apiVersion and kind, or throws naming the pair when no
// package has it.
export async function loadModel(apiVersion, kind) {
  const specifier = modelSpecifier(apiVersion, kind);
  let module;
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(
      `no model for apiVersion ${apiVersion} kind ${kind} (${specifier}): ${error.message}`,
    );
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

// Type-checks each object as a literal of its kubernetes-models interface with tsc. The JSON
// schemas behind validate() accept unknown fields, but TypeScript rejects an object literal with
// a property its type lacks, so this catches misspelt field names such as `readonly` for
// `readOnly`. Takes a map from a source name to an object and returns a map from each source
// name to its tsc errors (absent when there are none). tsc reports the innermost unknown field
// of an object first, so a fixed error can reveal another one in an enclosing object.
export function unknownFieldErrors(objectsByName) {
  // Inside node_modules, so that the generated files resolve the packages and stay untracked.
  const checkDir = path.join(kPackageDir, "node_modules", ".numapin-typecheck");
  fs.rmSync(checkDir, { recursive: true, force: true });
  fs.mkdirSync(checkDir, { recursive: true });
  fs.writeFileSync(
    path.join(checkDir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "esnext",
        moduleResolution: "bundler",
        target: "es2022",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      include: ["*.ts"],
    }),
  );

  const names = [...objectsByName.keys()];
  names.forEach((name, index) => {
    const object = objectsByName.get(name);
    const specifier = modelSpecifier(object.apiVersion, object.kind);
    const source = [
      `// ${name}`,
      `import type { I${object.kind} as Model } from "${specifier}";`,
      `export const object: Model = ${JSON.stringify(object, null, 2)};`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(checkDir, `object${index}.ts`), source);
  });

  const tsc = path.join(kPackageDir, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", "."], { cwd: checkDir, encoding: "utf8" });
  if (result.error) {
    throw new Error(`failed to run ${tsc}: ${result.error.message}`);
  }

  const errors = new Map();
  for (const line of result.stdout.split("\n")) {
    const match = /^object(\d+)\.ts\(\d+,\d+\): (error .*)$/.exec(line);
    if (match) {
      const name = names[Number(match[1])];
      errors.set(name, [...(errors.get(name) ?? []), match[2]]);
    } else if (line.includes("error TS")) {
      throw new Error(`tsc failed outside the generated objects: ${line}`);
    }
  }
  if (result.status !== 0 && errors.size === 0) {
    const output = result.stdout + result.stderr;
    throw new Error(`tsc exited with ${result.status} and no errors: ${output}`);
  }
  fs.rmSync(checkDir, { recursive: true, force: true });
  return errors;
}

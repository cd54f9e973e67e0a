// Checks the alert rules beyond what promtool does. The PrometheusRule must carry the same groups
// as the rule file, and each alert the labels and annotations an on-call engineer needs. Each
// runbook link must reach a section of docs/runbooks.md, each metric must exist in
// docs/metrics.md, and each alert needs promtool tests both for firing and for staying quiet.
//
// Run: node --test tests/prometheus/alert_rules.test.mjs
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { parseYamlDocuments } from "../../deploy/test/models.mjs";

const kRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const kRunbookPrefix = "https://github.com/numapin/numapin/blob/main/docs/runbooks.md#";
const kSeverities = new Set(["critical", "warning", "info"]);

// The conditions numapin must alert on, each by the name of its alert.
const kRequiredAlerts = [
  "NumapinAbsent",
  "NumapinAllocationFailures",
  "NumapinBpfEventsDropped",
  "NumapinDown",
  "NumapinForeignTasksOnExclusiveCpu",
  "NumapinMonitorDown",
  "NumapinPinConflict",
  "NumapinPinningDrift",
  "NumapinRemoteNumaExecution",
  "NumapinRunOutsideAllocation",
];

function readYaml(relativePath) {
  const fullPath = path.join(kRoot, relativePath);
  const objects = parseYamlDocuments(fs.readFileSync(fullPath, "utf8"), fullPath);
  assert.equal(objects.length, 1, `${relativePath} must hold one document`);
  return objects[0];
}

const rules = readYaml("deploy/alerts/numapin.rules.yaml");
const alerts = rules.groups.flatMap((group) => group.rules.filter((rule) => rule.alert));

// Returns the anchors GitHub gives the headings of a Markdown text: lower case, punctuation other
// than '-' and '_' removed, spaces turned into '-'.
function headingAnchors(markdown) {
  return new Set(
    markdown
      .split("\n")
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) =>
        line
          .replace(/^#+ /, "")
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, "")
          .replace(/ /g, "-"),
      ),
  );
}

// Returns the metric names listed in the tables of docs/metrics.md.
function documentedMetrics() {
  const text = fs.readFileSync(path.join(kRoot, "docs/metrics.md"), "utf8");
  return new Set([...text.matchAll(/^\| `(numapin_[a-z_]+)` \|/gm)].map((match) => match[1]));
}

// Returns, per alert name, whether a promtool test expects it to fire and to stay quiet.
function promtoolCoverage() {
  const coverage = new Map();
  const testDir = path.join(kRoot, "tests/prometheus/alerts");
  for (const name of fs.readdirSync(testDir).filter((file) => file.endsWith(".test.yaml"))) {
    const testFile = readYaml(path.join("tests/prometheus/alerts", name));
    for (const testCase of testFile.tests) {
      for (const check of testCase.alert_rule_test ?? []) {
        const entry = coverage.get(check.alertname) ?? { fires: false, quiet: false };
        if ((check.exp_alerts ?? []).length > 0) {
          entry.fires = true;
        } else {
          entry.quiet = true;
        }
        coverage.set(check.alertname, entry);
      }
    }
  }
  return coverage;
}

test("PrometheusRule spec equals the rule file", () => {
  const prometheusRule = readYaml("deploy/prometheusrule.yaml");
  assert.equal(prometheusRule.kind, "PrometheusRule");
  assert.deepEqual(prometheusRule.spec, rules);
});

test("required alerts are defined", () => {
  const names = new Set(alerts.map((alert) => alert.alert));
  for (const name of kRequiredAlerts) {
    assert.ok(names.has(name), `alert ${name} is missing`);
  }
  assert.equal(names.size, alerts.length, "alert names must be unique");
});

test("alerts carry severity, summary, description and runbook", () => {
  for (const alert of alerts) {
    const name = alert.alert;
    assert.ok(kSeverities.has(alert.labels?.severity), `${name}: severity`);
    const { summary, description, runbook_url: runbookUrl } = alert.annotations ?? {};
    assert.ok(summary, `${name}: summary is missing`);
    assert.doesNotMatch(summary, /\{\{/, `${name}: summary must be static`);
    const labelReference = /\{\{ \$labels\.\w+ \}\}/;
    assert.match(description ?? "", labelReference, `${name}: description names no label`);
    assert.equal(runbookUrl, kRunbookPrefix + name.toLowerCase(), `${name}: runbook_url`);
  }
});

test("runbook anchors exist in docs/runbooks.md", () => {
  const anchors = headingAnchors(fs.readFileSync(path.join(kRoot, "docs/runbooks.md"), "utf8"));
  for (const alert of alerts) {
    const anchor = alert.annotations.runbook_url.slice(kRunbookPrefix.length);
    assert.ok(anchors.has(anchor), `docs/runbooks.md has no section #${anchor}`);
  }
});

test("rule expressions use only documented metrics", () => {
  const documented = documentedMetrics();
  assert.ok(documented.size > 10, "docs/metrics.md tables were not parsed");
  for (const alert of alerts) {
    for (const [metric] of alert.expr.matchAll(/numapin_[a-z_]+/g)) {
      assert.ok(documented.has(metric), `${alert.alert}: ${metric} is not in docs/metrics.md`);
    }
  }
});

test("each alert has firing and quiet promtool tests", () => {
  const coverage = promtoolCoverage();
  for (const alert of alerts) {
    const entry = coverage.get(alert.alert);
    assert.ok(entry?.fires, `${alert.alert}: no promtool test expects it to fire`);
    assert.ok(entry?.quiet, `${alert.alert}: no promtool test expects it to stay quiet`);
  }
  for (const name of coverage.keys()) {
    assert.ok(alerts.some((alert) => alert.alert === name), `promtool tests name unknown ${name}`);
  }
});

/**
 * The lint rules that keep the layering (eslint-rules.js) and no-floating-promises fire: each
 * fixture in test/lint-fixtures breaks rules on purpose, and the clean one passes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

const expected: Record<string, string[]> = {
  "packages/policy/src/undeclared.ts": ["recfleet/declared-dependency"],
  "packages/testkit/src/cycle.ts": ["recfleet/declared-dependency", "recfleet/no-cycle"],
  "services/scorer/src/imports-service.ts": ["recfleet/declared-dependency", "recfleet/layers"],
  "services/ingest/src/imports-app.ts": ["recfleet/declared-dependency", "recfleet/layers"],
  "packages/runtime/src/floating-promise.ts": ["@typescript-eslint/no-floating-promises"],
  "packages/bus/src/clean.ts": [],
};

test("each lint fixture breaks exactly the rules it is written to break", async () => {
  // ignore: false, because the repository's lint run skips the fixtures.
  const eslint = new ESLint({ cwd: ROOT, ignore: false });
  const files = Object.keys(expected).map((f) => join(ROOT, "test", "lint-fixtures", f));
  const results = await eslint.lintFiles(files);
  const actual = Object.fromEntries(
    results.map((r) => {
      const fixture = r.filePath
        .slice(join(ROOT, "test", "lint-fixtures").length + 1)
        .split("\\")
        .join("/");
      return [fixture, [...new Set(r.messages.map((m) => m.ruleId ?? m.message))].sort()];
    }),
  );
  assert.deepEqual(actual, expected);
});

// Checks against the real MovieLens-100K; skipped (with the reason) when it is not on disk.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { itemKnn, mostPop } from "./baselines.js";
import { defaultMl100kPath, runEvalCli } from "./cli.js";
import { loadMovieLens } from "./datasets.js";
import { evaluateRanking } from "./evaluate.js";
import { splitChrono } from "./split.js";
import { sequenceExamples } from "./two-tower.js";

const path = defaultMl100kPath();
const missing = existsSync(join(path, "u.data"))
  ? false
  : `MovieLens-100K not found at ${path}; set RECFLEET_ML100K to the ml-100k folder to run these tests`;

describe("ML100K-CHRONO on MovieLens-100K", { skip: missing }, () => {
  const dataset = missing ? undefined : loadMovieLens(path);
  const split = dataset ? splitChrono(dataset) : undefined;

  it("has the protocol's shape: 943 users, 1682 items, 80,000 train and 79,057 sequence examples", () => {
    assert.equal(split!.train.length, 943);
    assert.equal(split!.numItems, 1682);
    assert.equal(split!.train.flat().length, 80000);
    assert.equal(sequenceExamples(split!).length, 79057);
  });

  it("MostPop reproduces the reference figures (±0.005)", async () => {
    const m = await evaluateRanking(mostPop(split!), split!);
    const ref = { "recall@20": 0.0955, "ndcg@20": 0.1148, "hr@10": 0.5292, "coverage@20": 0.069 };
    for (const [k, v] of Object.entries(ref))
      assert.ok(Math.abs(m[k as keyof typeof ref] - v) <= 0.005, `${k} ${m[k as keyof typeof ref]}`);
  });

  it("ItemKNN reproduces the reference figures (±0.005)", async () => {
    const m = await evaluateRanking(itemKnn(split!), split!);
    const ref = { "recall@20": 0.183, "ndcg@20": 0.1952, "hr@10": 0.6882, "coverage@20": 0.1742 };
    for (const [k, v] of Object.entries(ref))
      assert.ok(Math.abs(m[k as keyof typeof ref] - v) <= 0.005, `${k} ${m[k as keyof typeof ref]}`);
  });

  it("runEvalCli prints a table, one JSON line per model and a summary line", async () => {
    const lines: string[] = [];
    const code = await runEvalCli(["--dataset", "ml-100k", "--path", path, "--models", "mostpop", "--json"], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    assert.equal(code, 0);
    const perModel = JSON.parse(lines.at(-2)!) as Record<string, unknown>;
    assert.equal(perModel["model"], "mostpop");
    const summary = JSON.parse(lines.at(-1)!) as Record<string, Record<string, Record<string, number>>>;
    assert.equal(summary["bench"] as unknown, "ML100K-CHRONO");
    assert.equal(summary["mostpop"]!["test"]!["recall@20"], 0.0955);
    // Validation is reported apart: other users' items, other figures.
    const validation = summary["mostpop"]!["validation"]!["recall@20"]!;
    assert.ok(validation > 0 && validation !== 0.0955, `validation recall@20 ${validation}`);
  });
});

describe("runEvalCli arguments", () => {
  it("returns 2 with usage on a bad argument and 1 on a missing dataset", async () => {
    const sink = { out: () => {}, err: () => {} };
    assert.equal(await runEvalCli(["--models", "bogus"], sink), 2);
    assert.equal(await runEvalCli(["--frobnicate"], sink), 2);
    assert.equal(await runEvalCli(["--path", "/nonexistent/ml-100k"], sink), 1);
  });
});

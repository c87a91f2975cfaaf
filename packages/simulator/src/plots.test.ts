import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSimulationOutputs, type PolicyTally } from "./fleet-sim";

test("simulation plots: per-request normalisation, full legends, a PNG beside each SVG", () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-plots-"));
  try {
    // Equal clicks from unequal traffic: 3,840 vs 3,360 requests (the case cumulative clicks hid).
    const arm = (requestsPerStep: number) => ({
      answered: requestsPerStep * 10,
      perStep: Array.from({ length: 10 }, () => ({
        clicks: 40,
        impressions: requestsPerStep * 10,
        regret: 1,
        answered: requestsPerStep,
      })),
    });
    const tallies = new Map<string, Pick<PolicyTally, "answered" | "perStep">>([
      ["greedy", arm(384)],
      ["thompson:16,lift=1,prior=2", arm(336)],
    ]);
    const { csvPath, plotPath } = writeSimulationOutputs(dir, 7, tallies);
    assert.equal(plotPath, join(dir, "ctr.svg"));
    assert.ok(readFileSync(csvPath, "utf8").startsWith("step,policy"));
    for (const name of ["ctr", "clicks-per-request", "regret"]) {
      const svg = readFileSync(join(dir, `${name}.svg`), "utf8");
      assert.ok(svg.includes("thompson:16,lift=1,prior=2 (3,360 answered requests)"), `${name}: the whole legend`);
      const png = readFileSync(join(dir, `${name}.png`));
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${name}.png is a PNG`);
    }
    // Per request, the arm with fewer requests shows its higher rate: 40/336 vs 40/384.
    const perRequest = readFileSync(join(dir, "clicks-per-request.svg"), "utf8");
    assert.equal(perRequest.match(/<polyline fill="none" stroke="#(0072B2|D55E00)"/g)?.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTick, lineChart, niceTicks, renderSvg } from "./chart";

test("ticks are round: 1, 2 or 5 × 10^k, covering the range, with the step's decimals", () => {
  assert.deepEqual(niceTicks(0, 82.5).ticks, [0, 20, 40, 60, 80, 100]);
  const small = niceTicks(0.031, 0.043);
  assert.deepEqual(small.ticks, [0.03, 0.035, 0.04, 0.045]);
  assert.equal(small.decimals, 3);
  assert.deepEqual(niceTicks(0, 3840).ticks, [0, 1000, 2000, 3000, 4000]);
  assert.equal(formatTick(3840, 0), "3,840");
  assert.equal(niceTicks(5, 5).ticks.length >= 2, true, "a flat series still gets an axis");
});

test("legends keep full names below the plot; bands are drawn; SVG escapes text", () => {
  const name = "thompson:16,lift=1,prior=2 <explorer>";
  const chart = lineChart({
    title: "CTR",
    xLabel: "step",
    yLabel: "CTR",
    series: [
      {
        name: "greedy",
        points: [
          [0, 0.1],
          [1, 0.12],
        ],
      },
      {
        name,
        points: [
          [0, 0.11],
          [1, 0.14],
        ],
        band: [
          [0, 0.09, 0.13],
          [1, 0.12, 0.16],
        ],
      },
    ],
  });
  const svg = renderSvg(chart);
  assert.ok(svg.includes("thompson:16,lift=1,prior=2 &lt;explorer&gt;"), "the whole legend name");
  assert.equal(chart.primitives.filter((p) => p.kind === "polygon").length, 1);
  const legend = chart.primitives.filter((p) => p.kind === "text" && p.anchor === "start");
  assert.ok(
    legend.every((p) => p.kind === "text" && p.y > 360),
    "legend rows sit below the plot",
  );
});

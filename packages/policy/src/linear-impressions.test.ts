import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "@recfleet/numeric";
import { LinearStateError } from "./errors.js";
import { LinearImpressions, linearStateFromStoredSums } from "./linear-impressions.js";
import { createLinearState, linearMean, updateLinear } from "./linear.js";
import { sampleNormal } from "./random.js";

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= atol, `index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe("LinearImpressions", () => {
  it("sums Σxxᵀ and Σ(−p·x) per model version, and take() empties the buffer", () => {
    const buffer = new LinearImpressions();
    buffer.add("v1", [1, 2], 0.5);
    buffer.add("v1", [3, -1], 0.25);
    buffer.add("v2", [2, 0], 1);
    assert.equal(buffer.size, 3);
    const taken = new Map(buffer.take());
    const v1 = taken.get("v1")!;
    assert.deepEqual(Array.from(v1.a), [1 + 9, 2 - 3, 2 - 3, 4 + 1]);
    assert.deepEqual(Array.from(v1.b), [-0.5 - 0.75, -1 + 0.25]);
    assert.equal(v1.count, 2);
    assert.deepEqual(Array.from(taken.get("v2")!.a), [4, 0, 0, 0]);
    assert.equal(buffer.size, 0);
    assert.deepEqual(buffer.take(), []);
  });

  it("refuses a context of another dimension for the same version, and a non-finite probability", () => {
    const buffer = new LinearImpressions();
    buffer.add("v1", [1, 2], 0.5);
    assert.throws(() => buffer.add("v1", [1, 2, 3], 0.5), LinearStateError);
    assert.throws(() => buffer.add("v1", [1, 2], NaN), LinearStateError);
  });
});

describe("linearStateFromStoredSums", () => {
  it("equals folding the impressions in one by one from the prior λI (reward −p each)", () => {
    const d = 3;
    const lambda = 2;
    const rng = createRng(5);
    const buffer = new LinearImpressions();
    let sequential = createLinearState(d, lambda);
    for (let t = 0; t < 50; t++) {
      const x = Array.from({ length: d }, () => sampleNormal(rng));
      const p = rng();
      buffer.add("v", x, p);
      sequential = updateLinear(sequential, x, -p);
    }
    const [[, sums]] = buffer.take() as [[string, Parameters<typeof linearStateFromStoredSums>[1]]];
    const stored = { ...sums, a: Float64Array.from(sums.a) };
    const state = linearStateFromStoredSums(lambda, stored);
    assertClose(state.aInverse, sequential.aInverse, 1e-9);
    assertClose(linearMean(state), linearMean(sequential), 1e-9);
    assert.equal(state.count, 50);
    assert.deepEqual(Array.from(stored.a), Array.from(sums.a), "the stored sums must not be modified");
  });

  it("with no impressions, A⁻¹ is I/λ", () => {
    const state = linearStateFromStoredSums(4, { d: 2, a: new Float64Array(4), b: new Float64Array(2), count: 0 });
    assertClose(state.aInverse, [0.25, 0, 0, 0.25], 1e-12);
  });
});

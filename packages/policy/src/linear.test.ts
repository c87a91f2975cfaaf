import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "@recfleet/numeric";
import { LinearStateError, PolicyConfigError } from "./errors.js";
import {
  createLinearState,
  deserializeLinearState,
  linearContext,
  linearMean,
  linearStateFromSums,
  linearVariance,
  readsLinearState,
  serializeLinearState,
  updateLinear,
} from "./linear.js";
import { sampleNormal } from "./random.js";

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `index ${i}: ${a} vs ${e}`);
  }
}

describe("neural-linear state", () => {
  it("Sherman–Morrison A⁻¹ matches inverting A = λI + Σ xxᵀ directly", () => {
    const d = 4;
    const lambda = 0.5;
    const rng = createRng(3);
    let state = createLinearState(d, lambda);
    const a = new Array<number>(d * d).fill(0);
    for (let i = 0; i < d; i++) a[i * d + i] = lambda;
    const b = new Array<number>(d).fill(0);
    for (let t = 0; t < 200; t++) {
      const x = Array.from({ length: d }, () => sampleNormal(rng));
      const reward = rng() < 0.3 ? 1 : 0;
      state = updateLinear(state, x, reward);
      for (let i = 0; i < d; i++) {
        b[i] = (b[i] ?? 0) + reward * (x[i] ?? 0);
        for (let j = 0; j < d; j++) a[i * d + j] = (a[i * d + j] ?? 0) + (x[i] ?? 0) * (x[j] ?? 0);
      }
    }
    const direct = linearStateFromSums(d, lambda, 200, a, b);
    assertClose(state.aInverse, direct.aInverse, 1e-10, 1e-8);
    assertClose(linearMean(state), linearMean(direct), 1e-10, 1e-8);
    assert.equal(state.count, 200);
  });

  it("recovers θ from noisy linear rewards, and its uncertainty shrinks", () => {
    const d = 3;
    const theta = [0.5, -0.2, 0.1];
    const rng = createRng(9);
    let state = createLinearState(d, 1);
    const probe = [1, 1, 1];
    const before = linearVariance(state, probe);
    for (let t = 0; t < 3000; t++) {
      const x = Array.from({ length: d }, () => sampleNormal(rng));
      const y = theta.reduce((s, w, i) => s + w * (x[i] ?? 0), 0) + 0.1 * sampleNormal(rng);
      state = updateLinear(state, x, y);
    }
    assertClose(linearMean(state), theta, 0.02);
    assert.ok(linearVariance(state, probe) < before / 100);
  });

  it("updateLinear does not modify its input", () => {
    const state = createLinearState(2);
    const copy = JSON.stringify(state);
    updateLinear(state, [1, 2], 1);
    assert.equal(JSON.stringify(state), copy);
  });

  it("context is the elementwise product, zeros when a vector is missing", () => {
    assert.deepEqual(
      Array.from(linearContext(Float32Array.from([1, 2, 3]), Float32Array.from([2, 0.5, -1]), 3)),
      [2, 1, -3],
    );
    assert.deepEqual(Array.from(linearContext(undefined, Float32Array.from([1, 1]), 2)), [0, 0]);
  });

  it("serialises to JSON and back", () => {
    let state = createLinearState(3, 2);
    state = updateLinear(state, [0.1, 0.2, 0.3], 1);
    const restored = deserializeLinearState(serializeLinearState(state));
    assert.deepEqual(restored, state);
  });

  it("rejects malformed state and bad arguments with typed errors", () => {
    assert.throws(() => deserializeLinearState("{"), LinearStateError);
    assert.throws(
      () => deserializeLinearState(JSON.stringify({ d: 2, lambda: 1, count: 0, aInverse: [1, 0, 0], b: [0, 0] })),
      LinearStateError,
    );
    assert.throws(() => updateLinear(createLinearState(2), [1, 2, 3], 1), LinearStateError);
    assert.throws(() => createLinearState(0), PolicyConfigError);
    assert.throws(() => linearStateFromSums(2, 1, 0, [1, 2, 2, 1], [0, 0]), LinearStateError); // not positive definite
  });
});

it("readsLinearState: linucb and lints (with parameters or modifiers) read it; the rest do not", () => {
  for (const id of ["linucb:1", "lints:0.1,samples=16", "lints:0.1+budget:2", "linucb"])
    assert.ok(readsLinearState(id), id);
  for (const id of ["greedy", "thompson:16,lift=1", "epsilon:0.1", "linear", "lintsx:1"])
    assert.ok(!readsLinearState(id), id);
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRng, hashString, mixSeeds, percentile, SeededRandom } from "./index.js";

describe("percentile", () => {
  it("is NaN without samples and the sample itself with one", () => {
    assert.ok(Number.isNaN(percentile([], 0.5)));
    for (const q of [0, 0.3, 0.99, 1]) assert.equal(percentile([7], q), 7);
  });

  it("q=0 is the minimum, q=1 the maximum", () => {
    const sorted = [1, 2, 4, 8, 16];
    assert.equal(percentile(sorted, 0), 1);
    assert.equal(percentile(sorted, 1), 16);
  });

  it("interpolates linearly between the two nearest ranks", () => {
    assert.equal(percentile([1, 2, 3, 4, 5], 0.5), 3);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(percentile([10, 20, 30, 40, 50], 0.25), 20);
    assert.equal(percentile([10, 20], 0.1), 11);
    // 0.99 of 0..100: position 99, exactly the sample 99 (nearest rank would say the same).
    assert.equal(
      percentile(
        Float64Array.from({ length: 101 }, (_, i) => i),
        0.99,
      ),
      99,
    );
    // 0.99 of 0..9: position 8.91, between 8 and 9 (nearest rank would say 9).
    assert.ok(
      Math.abs(
        percentile(
          Float64Array.from({ length: 10 }, (_, i) => i),
          0.99,
        ) - 8.91,
      ) < 1e-12,
    );
  });

  it("refuses q outside [0,1]", () => {
    assert.throws(() => percentile([1, 2], 1.5), RangeError);
    assert.throws(() => percentile([1, 2], NaN), RangeError);
  });
});

describe("seeded generator", () => {
  it("mulberry32: the same numbers as before it moved here", () => {
    const rng = createRng(42);
    assert.deepEqual([rng(), rng(), rng()], [0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
  });

  it("SeededRandom(seed) draws the stream of createRng(seed ^ 0x9e3779b9)", () => {
    for (const seed of [0, 1, 7, 0xffffffff, -3]) {
      const a = new SeededRandom(seed);
      const b = createRng((seed ^ 0x9e3779b9) >>> 0);
      for (let i = 0; i < 5; i++) assert.equal(a.next(), b());
    }
  });

  it("SeededRandom: uniforms, normals and a permutation as before it moved here", () => {
    const rng = new SeededRandom(3);
    const draws = [rng.next(), rng.next(), rng.normal(), rng.normal(), rng.normal()];
    const expected = [
      0.8914504204876721, 0.006544230971485376, -0.2831630852796468, 0.6337368456412921, -0.4342526311894247,
    ];
    assert.deepEqual(draws, expected);
    assert.deepEqual([...rng.permutation(6)], [3, 5, 2, 4, 1, 0]);
  });

  it("hashString and mixSeeds: the same values as before they moved here", () => {
    assert.equal(hashString("user-1"), 2005895916);
    assert.equal(hashString("user-1", 7), 3892117974);
    assert.equal(mixSeeds(1, 2), 3266844567);
    assert.equal(mixSeeds(2, 1), 3306263404);
  });
});

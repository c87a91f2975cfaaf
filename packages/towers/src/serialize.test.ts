import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ModelFormatError } from "./errors.js";
import { WEIGHT_NAMES } from "./model.js";
import { deserializeModel, serializeModel } from "./serialize.js";
import { randomModel, tinyConfig, tinyData } from "./test-fixtures.js";

describe("serializeModel / deserializeModel", () => {
  const model = randomModel(tinyConfig, tinyData());

  it("round-trips exactly", () => {
    const back = deserializeModel(serializeModel(model));
    assert.deepEqual(back.config, model.config);
    assert.deepEqual(back.itemIds, model.itemIds);
    assert.equal(back.featureWidth, model.featureWidth);
    assert.deepEqual(back.itemFeatures, model.itemFeatures);
    for (const n of WEIGHT_NAMES) assert.deepEqual(back.weights[n], model.weights[n]);
  });

  it("rejects corrupt, truncated and foreign bytes with ModelFormatError", () => {
    const bytes = serializeModel(model);
    const flipped = bytes.slice();
    flipped[Math.floor(bytes.length / 2)]! ^= 0xff;
    assert.throws(() => deserializeModel(flipped), ModelFormatError);
    assert.throws(() => deserializeModel(bytes.subarray(0, bytes.length - 10)), ModelFormatError);
    assert.throws(() => deserializeModel(new TextEncoder().encode("not a model at all, just text")), ModelFormatError);
    assert.throws(() => deserializeModel(new Uint8Array(3)), ModelFormatError);
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { createModelRegistry, CorruptArtefactError } from "./models";
import { modelKeys } from "./keys";
import { publishModelVersion } from "./testing";

const redis = new Redis(testInfra().redisUrl);
test.after(() => redis.disconnect());

const meta = (version: string, createdAt: number) => ({
  version,
  createdAt,
  itemCount: 5,
  dim: 2,
  shards: 3,
  shardSize: 2,
  metrics: { "recall@20": 0.2 },
  trainingDataRange: "a/b",
});
const shard = (values: number[]) => Float32Array.from(values);

test("registry: promote only when every shard is embedded; rollback; checksums refuse corrupt artefacts; GC keeps current and previous", async () => {
  const ns = uniqueName("reg");
  const registry = createModelRegistry(redis, ns);
  await registry.putVersion(meta("v1", 1000), { "model.bin": new Uint8Array([1, 2, 3]) });
  assert.deepEqual([...(await registry.loadArtefact("v1", "model.bin"))], [1, 2, 3]);
  await registry.writeItemShard("v1", 0, shard([1, 0, 0, 1]));
  await registry.writeItemShard("v1", 1, shard([1, 1, 2, 2]));
  assert.equal((await registry.promote("v1")).promoted, false, "promoted with a shard missing");
  await registry.writeItemShard("v1", 2, shard([3, 3]));
  await registry.writeItemShard("v1", 2, shard([3, 3])); // a retried job writes the same bytes
  assert.deepEqual(await registry.promote("v1"), { promoted: true, shardsDone: 3 });
  assert.deepEqual([...(await registry.readItemMatrix("v1"))], [1, 0, 0, 1, 1, 1, 2, 2, 3, 3]);
  assert.equal(await registry.currentVersion(), "v1");

  await registry.putVersion(meta("v2", 2000), { "model.bin": new Uint8Array([9]) });
  for (let s = 0; s < 3; s++) await registry.writeItemShard("v2", s, shard(s < 2 ? [0, 0, 0, 0] : [0, 0]));
  assert.deepEqual(await registry.promote("v2"), { promoted: true, previous: "v1", shardsDone: 3 });
  assert.equal((await registry.getMeta("v1"))?.status, "retired");
  assert.deepEqual(await registry.rollback(), { from: "v2", to: "v1" });
  assert.equal(await registry.currentVersion(), "v1");

  await redis.set(modelKeys(ns).artefact("v2", "model.bin"), Buffer.from([8]));
  await assert.rejects(registry.loadArtefact("v2", "model.bin"), CorruptArtefactError);

  await registry.putVersion(meta("v0", 10), { "model.bin": new Uint8Array([0]) });
  const removed = await registry.collectGarbage(500, 3000);
  assert.deepEqual(removed.sort(), ["v0", "v2"]);
  assert.deepEqual(
    (await registry.listVersions()).map((m) => m.version),
    ["v1"],
  );
});

test("publishModelVersion: registers, writes every shard (the last one short) and makes the version current", async () => {
  const registry = createModelRegistry(redis, uniqueName("pub"));
  const itemMatrix = Float32Array.from({ length: 5 * 2 }, (_, i) => i);
  await publishModelVersion(registry, {
    version: "v1",
    dim: 2,
    shardSize: 2,
    artefacts: { "model.bin": new Uint8Array([7]) },
    itemMatrix,
  });
  assert.equal(await registry.currentVersion(), "v1");
  assert.deepEqual(await registry.readItemMatrix("v1"), itemMatrix);
  assert.deepEqual([...(await registry.loadArtefact("v1", "model.bin"))], [7]);
  const meta = await registry.getMeta("v1");
  assert.deepEqual([meta?.itemCount, meta?.shards], [5, 3]);
});

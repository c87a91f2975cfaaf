import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { fastKeyPartitioner, murmur2 } from "./partitioner";

// kafkajs' own Long-based murmur2, the reference the fast one must equal bit for bit.
const kafkajsMurmur2 = createRequire(import.meta.url)("kafkajs/src/producer/partitioners/default/murmur2.js") as (
  key: Buffer | string,
) => number;

test("murmur2 equals kafkajs' on every length, ASCII, multi-byte UTF-8 and raw bytes", () => {
  let seed = 7;
  const byte = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  for (let length = 0; length < 80; length++) {
    const bytes = Buffer.from(Array.from({ length }, byte));
    assert.equal(murmur2(bytes), kafkajsMurmur2(bytes), `bytes of length ${length}`);
    const hex = bytes.toString("hex").slice(0, length);
    assert.equal(murmur2(hex), kafkajsMurmur2(hex), `hex string ${hex}`);
  }
  for (const key of ["", "a", "user-1@example.com", "é漢字🙂", "0".repeat(64)])
    assert.equal(murmur2(key), kafkajsMurmur2(key), key);
  // Known value from Kafka's Java client (Utils.murmur2("21".getBytes())).
  assert.equal(murmur2("21"), -973932308);
});

test("fastKeyPartitioner picks kafkajs DefaultPartitioner's partition for keyed messages; explicit partitions win", () => {
  const metadata = (n: number): PartitionMetadata[] =>
    Array.from({ length: n }, (_, partitionId) => ({
      partitionId,
      leader: partitionId === 1 ? -1 : 0, // one partition without a leader: keyed messages still hash over all
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
  const ours = fastKeyPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  for (const n of [1, 3, 4, 12, 64])
    for (let u = 0; u < 500; u++) {
      const message = { key: `${u.toString(16).padStart(8, "0")}${"ab".repeat(28)}`, value: "v" };
      const args = { topic: "t", partitionMetadata: metadata(n), message };
      assert.equal(ours(args), theirs(args), `key ${message.key} over ${n} partitions`);
    }
  assert.equal(
    ours({ topic: "t", partitionMetadata: metadata(4), message: { key: "k", value: "v", partition: 3 } }),
    3,
  );
  const unkeyed = ours({ topic: "t", partitionMetadata: metadata(4), message: { value: "v" } });
  assert.ok([0, 2, 3].includes(unkeyed), "an unkeyed message goes to a partition with a leader");
});

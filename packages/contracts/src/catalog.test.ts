import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  TOPIC_CATALOG,
  TOPIC_KEYS,
  DEFAULT_PARTITIONS,
  topicNames,
  topicPartitions,
  consumerGroupId,
  decodeMessage,
  REPLY_PARTITIONS,
  type TopicKey,
  type TopicEntry,
  type TopicConsumer,
} from "./index";

const NOW = Date.UTC(2026, 10, 27);

// One valid message per topic that has a spec; a topic added with a spec but no sample fails below.
const SAMPLES: Partial<Record<TopicKey, Record<string, unknown>>> = {
  clickstream: { eventId: "e1", userId: "u1", itemId: "i1", type: "click", ts: NOW - 1000 },
  events: { eventId: "e1", user: "ab12", itemId: "i1", type: "click", ts: NOW - 1000, ingestedAt: NOW, late: false },
  recRequests: { requestId: "q1", userId: "u1", ts: NOW },
  recommendations: {
    recId: "r1",
    requestId: "q1",
    user: "ab12",
    policy: "greedy",
    propensityMethod: "exact",
    modelVersion: "v1",
    servedAt: NOW,
    latencyMs: 3,
    items: [{ itemId: "i1", score: 0.5, rank: 1, propensity: 1, explored: false }],
  },
  recReplies: {
    recId: "r2",
    requestId: "q2",
    user: "ab12",
    policy: "greedy",
    propensityMethod: "exact",
    modelVersion: "v1",
    servedAt: NOW,
    latencyMs: 3,
    items: [],
  },
  recLog: {
    recId: "r1",
    requestId: "q1",
    ts: NOW,
    policyId: "epsilon:0.1",
    modelVersion: "v1",
    propensityMethod: "exact",
    candidates: [
      { itemId: "i1", score: 1.5, vector: "AACAPw==" },
      { itemId: "i2", score: 0.2, isNew: true },
    ],
    userVector: "AACAPw==",
    itemStats: { i1: { impressions: 10, clicks: 2, expectedClicks: 1.5 }, i2: { impressions: 0, clicks: 0 } },
    items: [{ itemId: "i1", score: 1.5, rank: 1, propensity: 0.95, explored: false }],
  },
  modelVersions: { version: "v1", createdAt: NOW, itemCount: 100, dim: 32 },
  items: {
    itemId: "i9",
    op: "upsert",
    ts: NOW - 1000,
    available: true,
    categories: ["drama"],
    tags: ["1990s"],
    numbers: { price: 9.5, year: 1994 },
    text: { title: "A film" },
    provider: "studio-1",
  },
};

test("catalog: every consumer's DLQ is a catalog topic with one partition, no spec and no consumers", () => {
  for (const key of TOPIC_KEYS) {
    for (const consumer of TOPIC_CATALOG[key].consumers) {
      const dlq: TopicEntry | undefined = TOPIC_CATALOG[consumer.dlq];
      assert.ok(dlq, `${key}: DLQ ${consumer.dlq} of group ${consumer.group} is not in the catalog`);
      assert.equal(dlq.message, undefined, `${consumer.dlq} holds rejected bytes, not ${dlq.message?.name}`);
      assert.equal(topicPartitions(consumer.dlq, 8), 1, `${consumer.dlq} should have one partition`);
      assert.equal(dlq.consumers.length, 0, `${consumer.dlq} is a DLQ; nothing in the fleet consumes it`);
    }
  }
});

test("catalog: names are distinct and live under the namespace; '' gives bare names", () => {
  const names = topicNames("t1");
  assert.deepEqual(Object.keys(names).sort(), [...TOPIC_KEYS].sort());
  for (const key of TOPIC_KEYS) assert.equal(names[key], `t1.${TOPIC_CATALOG[key].base}`);
  assert.equal(new Set(Object.values(names)).size, TOPIC_KEYS.length, "two catalog topics share a name");
  assert.equal(topicNames("t1").eventsTrainerDlq, "t1.events.trainer.dlq");
  assert.equal(topicNames("").recLog, "rec.log");
  assert.equal(consumerGroupId("t1", "ingest"), "t1.ingest");
  assert.equal(consumerGroupId("t1", "scorer-versions", "42-x"), "t1.scorer-versions-42-x");
});

test("catalog: partitioned topics take the fleet's count, the rest have one", () => {
  assert.equal(topicPartitions("clickstream"), DEFAULT_PARTITIONS);
  assert.equal(topicPartitions("recLog", 12), 12);
  assert.equal(topicPartitions("modelVersions", 12), 1);
  assert.equal(topicPartitions("recRequestsDlq", 12), 1);
  assert.equal(topicPartitions("recReplies", 12), REPLY_PARTITIONS);
});

test("catalog: each topic's spec accepts a sample message and rejects one missing a required field", () => {
  for (const key of TOPIC_KEYS) {
    const spec = TOPIC_CATALOG[key].message;
    if (!spec) continue;
    const sample = SAMPLES[key];
    assert.ok(sample, `${key} has a message spec but no sample in this test: add one`);
    const ok = decodeMessage(spec, JSON.stringify(sample), undefined, NOW);
    assert.ok(ok.ok, `${key}: sample rejected: ${ok.ok ? "" : ok.detail}`);
    const required = Object.keys(spec.fields).find((f) => !spec.fields[f]!.optional)!;
    const { [required]: _dropped, ...bad } = sample;
    const rejected = decodeMessage(spec, JSON.stringify(bad), undefined, NOW);
    assert.equal(rejected.ok ? "accepted" : rejected.reason, "missing_field", `${key} without ${required}`);
  }
});

test("decision log: item stats keys must be ids and their values match the stats shape", () => {
  const spec = TOPIC_CATALOG.recLog.message!;
  const withStats = (itemStats: unknown) =>
    decodeMessage(spec, JSON.stringify({ ...SAMPLES.recLog, itemStats }), undefined, NOW);
  const badKey = withStats({ "item:*": { impressions: 1, clicks: 0 } });
  assert.equal(badKey.ok ? "accepted" : badKey.reason, "invalid_id");
  const badValue = withStats({ i1: { impressions: "ten", clicks: 0 } });
  assert.equal(badValue.ok ? "accepted" : badValue.reason, "wrong_type");
});

/** The "Topic catalog" table of docs/architecture.md, rendered from the catalog. */
function catalogTable(): string {
  const code = (s: string) => `\`${s}\``;
  const rows = TOPIC_KEYS.map((key) => {
    const t = TOPIC_CATALOG[key];
    const group = (c: TopicConsumer) =>
      c.perProcess ? `${code(`${c.group}-<instance>`)} (per process)` : code(c.group);
    const groups = t.consumers.map(group);
    const dlqs = t.consumers.map((c) => code(TOPIC_CATALOG[c.dlq].base));
    const message = t.message ? t.message.name : "rejected bytes";
    const partitions = t.partitions !== undefined ? String(t.partitions) : t.partitioned ? "fleet" : "1";
    const writers = t.producers.join(", ");
    return [code(t.base), t.key, partitions, message, writers, dlqs.join("<br>") || "–", groups.join("<br>") || "–"];
  });
  const header = ["topic", "key", "partitions", "message", "written by", "DLQ", "consumer group"];
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

test("docs/architecture.md's topic catalog table matches the catalog", () => {
  const doc = readFileSync(new URL("../../../docs/architecture.md", import.meta.url), "utf8");
  const section = doc.split(/^## Topic catalog$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'docs/architecture.md has no "## Topic catalog" section');
  const table = section
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .join("\n");
  const hint = `the table in docs/architecture.md is stale; replace it with:\n\n${catalogTable()}\n`;
  assert.equal(table, catalogTable(), hint);
});

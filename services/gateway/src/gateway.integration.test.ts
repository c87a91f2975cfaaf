/**
 * The gateway against the real broker and Redis: access (401/403/429), bad input (400 with the
 * dead-letter reason codes, nothing invalid produced), the reply path (two gateways, each
 * answer back to its asker, neither reading the other's partition), the deadline (504 and the
 * marked popular fallback), and the OpenAPI document (valid 3.1; every route in it answers).
 * A responder stands in for the scorer here: it answers each request on the partition it names,
 * as the scorer does (test/e2e/gateway.test.ts runs the real fleet).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Validator } from "@seriousme/openapi-schema-validator";
import { commonConfigSchema, createLogger, createMetricsRegistry, loadConfig, type Registry } from "@recfleet/runtime";
import { createKafka, createProducer, readTopic, startConsumerLoop, type ConsumerLoop } from "@recfleet/bus";
import { decodeMessage, recRequestSpec, topicNames, type Recommendation, type RecRequest } from "@recfleet/contracts";
import { createApiKeys, createStore } from "@recfleet/store";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { gatewayConfigSchema } from "./config";
import { startGatewayWorker, type GatewayWorker } from "./worker";

const infra = testInfra();
const logger = createLogger("gateway-it", { level: "error" });
const kafka = createKafka({ brokers: infra.brokers, clientId: "gateway-it", logger });
const redis = new Redis(infra.redisUrl);
const namespace = uniqueName("gw");
const topics = topicNames(namespace);
const keys = createApiKeys(redis, namespace);

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: namespace,
    GATEWAY_PORT: "0",
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_DEADLINE: "3s",
    GATEWAY_MAX_BODY_BYTES: "65536",
    GATEWAY_MAX_EVENTS: "50",
    GATEWAY_CORS_ORIGINS: "https://app.example",
    SCORER_ALLOWED_POLICIES: "epsilon:0.1",
    ...extra,
  };
}

const registries = new Map<GatewayWorker, Registry>();

async function startGateway(extra: Record<string, string> = {}): Promise<GatewayWorker> {
  const e = env(extra);
  const config = { ...loadConfig(commonConfigSchema, e), ...loadConfig(gatewayConfigSchema, e) };
  const registry = createMetricsRegistry("gateway");
  const worker = await startGatewayWorker(config, { logger, registry });
  registries.set(worker, registry);
  return worker;
}

async function answersRead(g: GatewayWorker, outcome: string): Promise<number> {
  const metric = await registries.get(g)!.getSingleMetric("recfleet_gateway_answers_total")!.get();
  return metric.values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
}

/** Answers every request as the scorer does: to rec.replies on the request's partition, else recommendations. */
async function startResponder(asked: Map<string, number | undefined>): Promise<ConsumerLoop> {
  const producer = await createProducer(kafka);
  const loop = await startConsumerLoop<RecRequest>({
    kafka,
    groupId: uniqueName("responder"),
    topics: [topics.recRequests],
    deadLetterTopic: topics.recRequestsDlq,
    producer,
    logger,
    registry: createMetricsRegistry("responder"),
    fromBeginning: false,
    decode: (v) => decodeMessage<RecRequest>(recRequestSpec, v),
    async handleBatch(messages) {
      const out = messages.map((m) => {
        const r = m.value;
        asked.set(r.requestId, r.replyPartition);
        const rec: Recommendation = {
          recId: `r-${r.requestId}`,
          requestId: r.requestId,
          user: r.userId ?? "u",
          items: [{ itemId: "i1", score: 1, rank: 1, propensity: 1, explored: false }],
          policy: r.policy ?? "greedy",
          propensityMethod: "exact",
          modelVersion: "echo",
          servedAt: Date.now(),
          latencyMs: 0,
        };
        return {
          topic: r.replyPartition === undefined ? topics.recommendations : topics.recReplies,
          message: {
            key: rec.user,
            value: rec,
            ...(r.replyPartition !== undefined ? { partition: r.replyPartition } : {}),
          },
        };
      });
      await producer.sendMany([
        { topic: topics.recReplies, messages: out.filter((o) => o.topic === topics.recReplies).map((o) => o.message) },
        {
          topic: topics.recommendations,
          messages: out.filter((o) => o.topic === topics.recommendations).map((o) => o.message),
        },
      ]);
    },
  });
  await waitFor("the responder to join its group", () => loop.isReady(), 30_000);
  return {
    consumer: loop.consumer,
    async stop() {
      await loop.stop();
      await producer.close();
    },
  };
}

const url = (g: GatewayWorker, path: string) => `http://127.0.0.1:${g.port}${path}`;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const postEvents = (g: GatewayWorker, key: string, body: string) =>
  fetch(url(g, "/v1/events"), { method: "POST", headers: { ...auth(key), "content-type": "application/json" }, body });

test("gateway: access, bad input, the reply path across two gateways, deadlines, OpenAPI", async (t) => {
  const a = await startGateway();
  const b = await startGateway({ GATEWAY_POPULAR_FALLBACK: "true", GATEWAY_DEADLINE: "1500ms" });
  const asked = new Map<string, number | undefined>();
  let responder: ConsumerLoop | undefined;
  t.after(async () => {
    await responder?.stop();
    await a.stop();
    await b.stop();
    redis.disconnect();
  });
  assert.notEqual(a.replyPartition, b.replyPartition, "each gateway leases a partition of its own");

  const admin = (
    await keys.create({ name: "admin", scopes: ["admin", "events:write", "recs:read"], rate: 1000, burst: 1000 })
  ).key;
  const writer = (await keys.create({ name: "writer", scopes: ["events:write"], rate: 1000, burst: 1000 })).key;
  const slow = (await keys.create({ name: "slow", scopes: ["recs:read", "events:write"], rate: 0.5, burst: 2 })).key;

  await t.test("401 without a key, with a malformed, an unknown or a revoked key", async () => {
    const none = await fetch(url(a, "/v1/recommendations?user=u1"));
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Bearer");
    assert.equal(((await none.json()) as { error: string }).error, "unauthorized");
    for (const bad of ["nope", writer.slice(0, -1) + (writer.endsWith("A") ? "B" : "A")]) {
      assert.equal((await fetch(url(a, "/v1/recommendations?user=u1"), { headers: auth(bad) })).status, 401, bad);
    }
    const revoked = await keys.create({ name: "gone", scopes: ["recs:read"], rate: 10, burst: 10 });
    assert.equal(await keys.revoke(revoked.id), true);
    assert.equal((await fetch(url(a, "/v1/recommendations?user=u1"), { headers: auth(revoked.key) })).status, 401);
  });

  await t.test("403 for a key without the route's scope", async () => {
    const res = await fetch(url(a, "/v1/recommendations?user=u1"), { headers: auth(writer) });
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { detail: string }).detail, /recs:read/);
    assert.equal((await fetch(url(a, "/v1/admin/overview"), { headers: auth(writer) })).status, 403);
  });

  await t.test("429 with Retry-After over the key's bucket, shared by both gateways", async () => {
    const body = JSON.stringify({ events: [] });
    const statuses = [];
    for (const g of [a, b, a]) statuses.push((await postEvents(g, slow, body)).status);
    assert.deepEqual(statuses.slice(0, 2), [200, 200], "two requests fit the burst");
    assert.equal(statuses[2], 429);
    const limited = await postEvents(b, slow, body);
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter} s at 0.5 tokens/s`);
  });

  await t.test("400 with the dead-letter reason codes; only valid events reach clickstream", async () => {
    const now = Date.now();
    const good = { eventId: uniqueName("ok"), userId: "u1", itemId: "i1", type: "click", ts: now };
    const cases: [string, string][] = [
      ["{not json", "malformed_json"],
      ["[1,2]", "not_an_object"],
      [JSON.stringify({ events: [good], extra: 1 }), "unknown_field"],
      [JSON.stringify({ events: Array.from({ length: 51 }, () => good) }), "too_many_items"],
      [JSON.stringify({ events: [good], pad: "x".repeat(70_000) }), "payload_too_large"],
    ];
    for (const [body, reason] of cases) {
      const res = await postEvents(a, admin, body);
      assert.equal(res.status, 400, reason);
      assert.equal(((await res.json()) as { error: string }).error, reason);
    }
    const badType = { ...good, eventId: uniqueName("bad"), type: "teleport" };
    const badId = { ...good, eventId: "has space" };
    const future = { ...good, eventId: uniqueName("future"), ts: now + 3_600_000 };
    const big = {
      ...good,
      eventId: uniqueName("big"),
      context: {
        a: "x".repeat(250),
        b: "x".repeat(250),
        c: "x".repeat(250),
        d: "x".repeat(250),
        e: "x".repeat(250),
        f: "x".repeat(250),
        g: "x".repeat(250),
        h: "x".repeat(250),
        i: "x".repeat(250),
        j: "x".repeat(250),
        k: "x".repeat(250),
        l: "x".repeat(250),
        m: "x".repeat(250),
        n: "x".repeat(250),
        o: "x".repeat(250),
        p: "x".repeat(250),
      },
    };
    const allBad = await postEvents(a, admin, JSON.stringify({ events: [badType, badId] }));
    assert.equal(allBad.status, 400);
    const mixed = await postEvents(a, admin, JSON.stringify({ events: [good, badType, future, big] }));
    assert.equal(mixed.status, 200);
    const body = (await mixed.json()) as {
      accepted: number;
      rejected: number;
      results: { status: string; reason?: string }[];
    };
    assert.equal(body.accepted, 1);
    assert.deepEqual(
      body.results.map((r) => r.reason ?? r.status),
      ["accepted", "unknown_enum_value", "timestamp_in_future", "payload_too_large"],
    );
    const records = await readTopic(kafka, topics.clickstream, { idleMs: 1500 });
    const ids = records.map((r) => (JSON.parse(r.value!.toString()) as { eventId: string }).eventId);
    assert.deepEqual(ids, [good.eventId], "only the valid event was produced");
  });

  await t.test("bad recommendation parameters are 400 with the scorer's reason codes", async () => {
    const cases: [string, string][] = [
      ["?k=5", "missing_field"],
      ["?user=u1&k=0", "value_out_of_range"],
      ["?user=u1&k=ten", "wrong_type"],
      ["?user=has%20space", "invalid_id"],
      ["?user=u1&policy=thompson:16", "policy_not_allowed"],
      ["?user=u1&policy=nonsense!", "unknown_policy"],
      ["?user=u1&debug=1", "unknown_field"],
    ];
    for (const [query, reason] of cases) {
      const res = await fetch(url(a, `/v1/recommendations${query}`), { headers: auth(admin) });
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as { error: string }).error, reason, query);
    }
  });

  await t.test("no answer: 504, or popular items marked as the fallback", async () => {
    const timeout = await fetch(url(a, "/v1/recommendations?user=u1"), { headers: auth(admin) });
    assert.equal(timeout.status, 504);
    assert.equal(((await timeout.json()) as { error: string }).error, "deadline_exceeded");
    await createStore(redis, namespace).applyEvents([
      {
        eventId: "p1",
        user: "x",
        itemId: "hot",
        type: "click",
        ts: Date.now(),
        weight: 1,
        markSeen: false,
        reward: false,
        refresh: false,
      },
    ]);
    const fallback = await fetch(url(b, "/v1/recommendations?user=u1&k=3"), { headers: auth(admin) });
    assert.equal(fallback.status, 200);
    assert.equal(fallback.headers.get("x-recfleet-fallback"), "deadline_popular");
    const body = (await fallback.json()) as { reason: string; items: { itemId: string }[] };
    assert.equal(body.reason, "deadline_popular");
    assert.deepEqual(
      body.items.map((i) => i.itemId),
      ["hot"],
    );
  });

  await t.test("two gateways: every answer returns to its asker, on its own partition", async () => {
    responder = await startResponder(asked);
    const calls = Array.from({ length: 40 }, (_, i) => ({ g: i % 2 === 0 ? a : b, user: `user${i}` }));
    const answers = await Promise.all(
      calls.map(async ({ g, user }) => {
        const res = await fetch(url(g, `/v1/recommendations?user=${user}&policy=epsilon:0.1`), {
          headers: auth(admin),
        });
        assert.equal(res.status, 200, `${user}: ${res.status}`);
        assert.equal(res.headers.get("x-recfleet-fallback"), null, `${user}: answered by the fleet, not the fallback`);
        return { g, user, rec: (await res.json()) as Recommendation };
      }),
    );
    for (const { g, user, rec } of answers) {
      assert.equal(rec.user, user, "the answer is this request's");
      assert.equal(rec.modelVersion, "echo");
      assert.equal(asked.get(rec.requestId), g.replyPartition, "the request named its gateway's partition");
    }
    // Neither gateway read the other's answers: each reader holds its one partition.
    for (const g of [a, b]) {
      assert.equal(await answersRead(g, "matched"), 20);
      assert.equal(await answersRead(g, "foreign"), 0);
    }
  });

  await t.test("CORS: allowed origins get the headers (preflight too), others do not", async () => {
    const pre = await fetch(url(a, "/v1/events"), { method: "OPTIONS", headers: { origin: "https://app.example" } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
    const other = await fetch(url(a, "/openapi.json"), { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  await t.test("the OpenAPI document is valid 3.1 and every route in it answers", async () => {
    const doc = (await (await fetch(url(a, "/openapi.json"))).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown }>>;
    };
    assert.equal(doc.openapi, "3.1.0");
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const query = path === "/v1/recommendations" ? "?user=route-check" : "";
        const init: RequestInit = { method: method.toUpperCase(), headers: auth(admin) };
        if (path === "/v1/events") {
          init.headers = { ...auth(admin), "content-type": "application/json" };
          init.body = JSON.stringify({
            events: [{ eventId: uniqueName("route"), userId: "u", itemId: "i", type: "view", ts: Date.now() }],
          });
        }
        const res = await fetch(url(a, path + query), init);
        // The admin rollback has no earlier version to go back to here: 409 is its answer.
        const expected = path === "/v1/admin/rollback" ? 409 : 200;
        assert.equal(res.status, expected, `${method.toUpperCase()} ${path}: ${await res.text()}`);
      }
    }
  });
});

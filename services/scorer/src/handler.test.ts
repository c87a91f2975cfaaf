import { test } from "node:test";
import assert from "node:assert/strict";
import {
  resolveConfig,
  trainTwoTower,
  exportServingOnnx,
  itemVectors,
  userVectors,
  type TwoTowerModel,
} from "@recfleet/towers";
import { allowPolicies, createPolicy, createRng, fromDecisionLog, LinearImpressions } from "@recfleet/policy";
import type { HistoryEntry, ItemStats, RecommendationRecord } from "@recfleet/store";
import type { RecRequest, Recommendation } from "@recfleet/contracts";
import type { ConsumedMessage, OutgoingMessage, SendOptions } from "@recfleet/bus";
import { createLogger } from "@recfleet/runtime";
import { createScorerHandler, scoreRequests, recIdFor, type ScorerStore, type ScoringStore } from "./handler";
import { createServingModel, type ServingModel } from "./serving-model";

const logger = createLogger("scorer-test", { level: "error" });
const NUM_ITEMS = 30;

async function tinyServingModel(): Promise<{ model: TwoTowerModel; serving: ServingModel }> {
  const itemIds = Array.from({ length: NUM_ITEMS }, (_, i) => `i${i}`);
  const examples = Array.from({ length: 120 }, (_, e) => {
    const base = (e * 7) % NUM_ITEMS;
    return { history: [base, (base + 1) % NUM_ITEMS, (base + 2) % NUM_ITEMS], target: (base + 3) % NUM_ITEMS };
  });
  const config = resolveConfig({
    dim: 8,
    hidden: 16,
    historyLength: 5,
    batchSize: 16,
    epochs: 2,
    temperature: 0.2,
    seed: 1,
  });
  const model = await trainTwoTower({ itemIds, itemFeatures: new Float32Array(0), examples }, config);
  const serving = await createServingModel(
    "v-test",
    model,
    exportServingOnnx(model, { modelVersion: "v-test" }),
    itemVectors(model),
    { executionProviders: ["cpu"], logger },
  );
  return { model, serving };
}

function memoryStore(histories: Record<string, string[]>, seen: Record<string, string[]>): ScoringStore {
  const entry = (itemId: string, i: number): HistoryEntry => ({ itemId, type: "click", ts: 1000 + i });
  return {
    readUsers: async (users, n) =>
      users.map((u) => ({ history: n > 0 ? (histories[u] ?? []).slice(-n).map(entry) : [], seen: seen[u] ?? [] })),
    readPopularItems: async (n) =>
      Array.from({ length: Math.min(n, NUM_ITEMS) }, (_, i) => ({ itemId: `i${i}`, score: NUM_ITEMS - i })),
    readItemStats: async (ids): Promise<ItemStats[]> =>
      ids.map((itemId) => ({ itemId, impressions: 0, clicks: 0, expectedClicks: 0 })),
  };
}

test("warm users: one retrieval for the batch, seen items dropped, greedy order = exact top-k of uᵀv, explanations from history", async () => {
  const { model, serving } = await tinyServingModel();
  const store = memoryStore(
    { alice: ["i1", "i2", "i3"], bob: ["i10", "i11"] },
    { alice: ["i1", "i2", "i3", "i4"], bob: ["i10", "i11"] },
  );
  let runs = 0;
  const counted: ServingModel = { ...serving, retrieve: (h, k) => (runs++, serving.retrieve(h, k)) };
  const out = await scoreRequests(
    [
      { requestId: "q1", user: "alice", ts: 0, k: 5 },
      { requestId: "q2", user: "bob", ts: 0, k: 5 },
    ],
    {
      store,
      model: counted,
      pseudonymise: (r) => r,
      policyFor: () => createPolicy("greedy"),
      rng: createRng(1),
      now: () => 10,
      defaultK: 10,
      candidates: 20,
      scoreToLogit: (c) => c,
      explanations: 2,
    },
  );
  assert.equal(runs, 1, "retrieval must be micro-batched across the batch's requests");
  const [a, b] = out.recommendations;
  assert.equal(a!.recId, recIdFor("q1"));
  assert.equal(a!.items.length, 5);
  for (const it of a!.items) {
    assert.ok(!["i1", "i2", "i3", "i4"].includes(it.itemId), `seen item ${it.itemId} recommended`);
    assert.equal(it.propensity, 1);
    // The two history items nearest to the shown one in item-tower space, nearest first.
    const dot = (x: Float32Array, y: Float32Array) => x.reduce((sum, xj, j) => sum + xj * y[j]!, 0);
    const shown = serving.itemVector(serving.rowOf.get(it.itemId)!);
    const nearest = ["i1", "i2", "i3"]
      .map((h) => ({ h, sim: dot(shown, serving.itemVector(serving.rowOf.get(h)!)) }))
      .sort((x, y) => y.sim - x.sim)
      .map((x) => x.h);
    assert.deepEqual(it.because, nearest.slice(0, 2));
  }
  // Parity with the TS forward pass: greedy = the k best unseen items by uᵀv.
  const u = userVectors(model, [[1, 2, 3]]);
  const v = itemVectors(model);
  const d = model.config.dim;
  const expected = Array.from({ length: NUM_ITEMS }, (_, i) => ({
    i,
    s: Array.from({ length: d }, (_, j) => u[j]! * v[i * d + j]!).reduce((x, y) => x + y, 0),
  }))
    .filter(({ i }) => ![1, 2, 3, 4].includes(i))
    .sort((x, y) => y.s - x.s)
    .slice(0, 5)
    .map(({ i }) => `i${i}`);
  assert.deepEqual(
    a!.items.map((it) => it.itemId),
    expected,
  );
  assert.ok(b!.items.every((it) => !["i10", "i11"].includes(it.itemId)));
  await serving.release();
});

test("bandit statistics: each policy of a split reads its own (per-policy, the default) or everyone's (pooled)", async () => {
  const { serving } = await tinyServingModel();
  const base = memoryStore({ alice: ["i1", "i2"], bob: ["i5", "i6"] }, {});
  const asked: (string | undefined)[] = [];
  const store: ScoringStore = {
    ...base,
    // Pooled: 100 impressions everywhere; a policy's own: as many impressions as its id is long.
    readItemStats: async (ids, policy) => {
      asked.push(policy);
      return ids.map((itemId) => ({
        itemId,
        impressions: 100,
        clicks: 10,
        expectedClicks: 10,
        ...(policy === undefined
          ? {}
          : { policy: { id: policy, impressions: policy.length, clicks: 0, expectedClicks: 0 } }),
      }));
    },
  };
  const greedy = createPolicy("greedy");
  const explorer = createPolicy("epsilon:0.3");
  const requests: RecRequest[] = [
    { requestId: "s1", user: "alice", ts: 0, k: 3 },
    { requestId: "s2", user: "bob", ts: 0, k: 3 },
  ];
  const deps = {
    store,
    model: serving,
    pseudonymise: (r: string) => r,
    policyFor: (r: RecRequest) => (r.user === "alice" ? greedy : explorer),
    rng: createRng(1),
    now: () => 10,
    defaultK: 10,
    candidates: 20,
    scoreToLogit: (c: number) => c,
    explanations: 0,
  };
  const own = await scoreRequests(requests, deps);
  assert.deepEqual(asked.sort(), [explorer.id, greedy.id].sort(), "one read per policy, with its id");
  for (const decision of own.decisions) {
    const impressions = Object.values(fromDecisionLog(decision).context.itemStats!).map((s) => s.impressions);
    assert.ok(
      impressions.every((n) => n === decision.policyId.length),
      `${decision.policyId} saw ${impressions}`,
    );
  }
  asked.length = 0;
  const pooled = await scoreRequests(requests, { ...deps, banditStats: "pooled" });
  assert.deepEqual(asked, [undefined, undefined]);
  for (const decision of pooled.decisions)
    assert.ok(Object.values(fromDecisionLog(decision).context.itemStats!).every((s) => s.impressions === 100));
  await serving.release();
});

test("shadow policies: their probabilities of the served items are logged and the served slates do not change", async () => {
  const { serving } = await tinyServingModel();
  const store = memoryStore({ alice: ["i1", "i2"], bob: ["i5", "i6"], carol: ["i9"] }, {});
  const requests: RecRequest[] = ["alice", "bob", "carol"].map((user, i) => ({
    requestId: `sh${i}`,
    user,
    ts: 0,
    k: 4,
  }));
  const serving_ = createPolicy("epsilon:0.3");
  // Thompson draws from its rng to estimate propensities: it must not draw from the serving rng.
  const shadows = [createPolicy("greedy"), createPolicy("thompson:20"), serving_];
  const deps = (withShadows: boolean) => ({
    store,
    model: serving,
    pseudonymise: (r: string) => r,
    policyFor: () => serving_,
    rng: createRng(42),
    now: () => 10,
    defaultK: 10,
    candidates: 20,
    scoreToLogit: (c: number) => c,
    explanations: 0,
    ...(withShadows ? { shadows, shadowRng: createRng(7) } : {}),
  });
  const plain = await scoreRequests(requests, deps(false));
  const shadowed = await scoreRequests(requests, deps(true));
  assert.deepEqual(
    shadowed.recommendations.map((r) => r.items.map((it) => [it.itemId, it.propensity])),
    plain.recommendations.map((r) => r.items.map((it) => [it.itemId, it.propensity])),
    "shadows changed a served slate",
  );
  for (const d of shadowed.decisions) {
    assert.deepEqual(
      Object.keys(d.shadow ?? {}).sort(),
      ["greedy", shadows[1]!.id].sort(),
      "serving policy is not its own shadow",
    );
    const greedy = d.shadow!["greedy"]!;
    assert.equal(greedy.length, d.items.length);
    // Greedy's conditional is 1 for the best remaining item and 0 otherwise: exactly what re-running it gives.
    const candidates = fromDecisionLog(d).candidates.map((c) => ({ itemId: c.itemId, score: c.score }));
    const expected = createPolicy("greedy")
      .slotDistributions(
        candidates,
        d.items.map((it) => it.itemId),
        { rng: createRng(1) },
      )
      .map((dist, r) => dist.get(d.items[r]!.itemId) ?? 0);
    assert.deepEqual(greedy, expected);
    assert.ok(d.shadow![shadows[1]!.id]!.every((p) => p >= 0 && p <= 1));
  }
  assert.equal(plain.decisions[0]!.shadow, undefined);
  await serving.release();
});

test("cold start: a user with no history gets popular unseen items with a reason", async () => {
  const { serving } = await tinyServingModel();
  const store = memoryStore({}, { carol: ["i0"] });
  const out = await scoreRequests([{ requestId: "q3", userId: "carol-raw", ts: 0, k: 3 }], {
    store,
    model: serving,
    pseudonymise: () => "carol",
    policyFor: () => createPolicy("greedy"),
    rng: createRng(1),
    now: () => 10,
    defaultK: 10,
    candidates: 20,
    scoreToLogit: (c) => c,
    explanations: 2,
  });
  const rec = out.recommendations[0]!;
  assert.equal(rec.user, "carol");
  assert.equal(rec.reason, "cold_start_popular");
  assert.deepEqual(
    rec.items.map((i) => i.itemId),
    ["i1", "i2", "i3"],
  );
  assert.equal(out.coldStarts, 1);
  await serving.release();
});

test("handler: unallowed policy → rejected with a reason; latency = ts to publish; replays add no impressions", async () => {
  const { serving } = await tinyServingModel();
  let clock = 1000;
  const recorded = new Set<string>();
  const store: ScorerStore = {
    ...memoryStore({ alice: ["i1", "i2", "i3"] }, {}),
    // Slow writes: they run alongside the send now, so the latency (stamped at publish) excludes
    // this slice's, and the next slice starts after them.
    recordRecommendations: async (records) => {
      clock += 200;
      return records.map((record) => !recorded.has(record.recId) && Boolean(recorded.add(record.recId)));
    },
  };
  const sends: { topic: string; messages: OutgoingMessage[] }[][] = [];
  const served: string[] = [];
  const impressions = new LinearImpressions();
  let heartbeats = 0;
  const handle = createScorerHandler({
    store,
    acquireModel: () => ({ model: serving, release: () => {} }),
    pseudonymise: (r) => r,
    policies: allowPolicies(["greedy", "epsilon:0.1"]),
    split: [{ policy: "greedy", weight: 1 }],
    linearState: () => undefined,
    impressions,
    rng: createRng(1),
    now: () => clock,
    defaultK: 3,
    candidates: 10,
    scoreToLogit: (c) => c,
    explanations: 1,
    maxBatch: 1,
    send: async (batches) => void sends.push(batches),
    recommendationsTopic: "recs",
    recLogTopic: "log",
    counters: { served: (policy) => void served.push(policy), batchSeconds: () => {} },
  });
  const requests: RecRequest[] = [
    { requestId: "q1", user: "alice", ts: 900 },
    { requestId: "q2", user: "alice", ts: 900, policy: "epsilon:0.10" },
    { requestId: "q3", user: "alice", ts: 900, policy: "epsilon:0.2" },
    { requestId: "q4", user: "alice", ts: 900, policy: "no-such-policy" },
  ];
  const messages: ConsumedMessage<RecRequest>[] = requests.map((value, i) => {
    return { value, key: "alice", topic: "rq", partition: 0, offset: String(i), timestamp: 0, raw: null };
  });
  const ctx = { topic: "rq", partition: 0, heartbeat: async () => void heartbeats++ };

  const outcome = await handle(messages, ctx);
  const rejected = outcome?.rejected?.map((r) => [r.message.value.requestId, r.reason]);
  assert.deepEqual(rejected, [
    ["q3", "policy_not_allowed"],
    ["q4", "unknown_policy"],
  ]);
  // Per slice of maxBatch requests: one send of the answers, and one of the decision log on its own
  // (the answers do not wait for the logs' encoding and compression).
  assert.deepEqual(
    sends.map((batches) => batches.map((b) => b.topic)),
    [["recs"], ["log"], ["recs"], ["log"]],
  );
  assert.equal(heartbeats, 2);
  const sentTo = (topic: string) => sends.flatMap((batches) => batches.filter((b) => b.topic === topic));
  const recs = sentTo("recs").flatMap((b) => b.messages.map((m) => m.value as Recommendation));
  assert.deepEqual(
    recs.map((r) => [r.requestId, r.policy]),
    [
      ["q1", "greedy"],
      ["q2", "epsilon:0.1"],
    ],
  );
  assert.deepEqual(
    recs.map((r) => r.latencyMs),
    [100, 300],
    "request ts (900) to publish (the records run alongside the send)",
  );
  assert.deepEqual(served, ["greedy", "epsilon:0.1"]);
  assert.equal(sentTo("log").length, 2, "decisions published with the answers");
  assert.equal(impressions.size, 6, "3 shown items per answered request");

  impressions.take();
  await handle(messages, ctx);
  assert.equal(impressions.size, 0, "a replayed batch must not add its impressions again");
  await serving.release();
});

test("handler: a request naming a reply partition is answered there only; the others on recommendations", async () => {
  const { serving } = await tinyServingModel();
  const sends: { topic: string; messages: OutgoingMessage[] }[][] = [];
  const handle = createScorerHandler({
    store: {
      ...memoryStore({ alice: ["i1", "i2"] }, {}),
      recordRecommendations: async (records) => records.map(() => true),
    },
    acquireModel: () => ({ model: serving, release: () => {} }),
    pseudonymise: (r) => r,
    policies: allowPolicies(["greedy"]),
    split: [{ policy: "greedy", weight: 1 }],
    linearState: () => undefined,
    impressions: new LinearImpressions(),
    rng: createRng(1),
    now: () => 1000,
    defaultK: 2,
    candidates: 10,
    scoreToLogit: (c) => c,
    explanations: 0,
    maxBatch: 10,
    send: async (batches) => void sends.push(batches),
    recommendationsTopic: "recs",
    repliesTopic: "replies",
  });
  const requests: RecRequest[] = [
    { requestId: "q1", user: "alice", ts: 900 },
    { requestId: "q2", user: "alice", ts: 900, replyPartition: 7 },
  ];
  const messages = requests.map((value, i) => ({
    value,
    key: "alice",
    topic: "rq",
    partition: 0,
    offset: String(i),
    timestamp: 0,
    raw: null,
  }));
  await handle(messages, { topic: "rq", partition: 0, heartbeat: async () => {} });
  const sent = (topic: string) =>
    sends
      .flat()
      .filter((b) => b.topic === topic)
      .flatMap((b) => b.messages);
  assert.deepEqual(
    sent("recs").map((m) => (m.value as Recommendation).requestId),
    ["q1"],
  );
  assert.deepEqual(
    sent("replies").map((m) => [(m.value as Recommendation).requestId, m.partition]),
    [["q2", 7]],
  );
  await serving.release();
});

/** One request of alice's on partition 0 of "rq", and that partition's context. */
function aliceRequest(requestId: string): ConsumedMessage<RecRequest> {
  return {
    value: { requestId, user: "alice", ts: 900 },
    key: "alice",
    topic: "rq",
    partition: 0,
    offset: "0",
    timestamp: 0,
    raw: null,
  };
}
const partition0 = { topic: "rq", partition: 0, heartbeat: async () => {} };

/** A greedy-only handler over `model` whose sends land in `sends` (tests override the rest). */
function greedyHandlerDeps(
  store: ScorerStore,
  model: ServingModel,
  sends: { topic: string; messages: OutgoingMessage[] }[][],
) {
  return {
    store,
    acquireModel: () => ({ model, release: () => {} }),
    pseudonymise: (r: string) => r,
    policies: allowPolicies(["greedy"]),
    split: [{ policy: "greedy", weight: 1 }],
    linearState: () => undefined,
    impressions: new LinearImpressions(),
    rng: createRng(1),
    now: () => 1000,
    defaultK: 3,
    candidates: 10,
    scoreToLogit: (c: number) => c,
    explanations: 0,
    maxBatch: 1,
    send: async (batches: { topic: string; messages: OutgoingMessage[] }[]) => void sends.push(batches),
    recommendationsTopic: "recs",
  };
}

test("handler: past its deadline a request is neither scored nor answered, recorded or logged; counted by stage", async () => {
  const { serving } = await tinyServingModel();
  let clock = 1000;
  const recorded: string[] = [];
  const store: ScorerStore = {
    ...memoryStore({ alice: ["i1", "i2", "i3"], bob: ["i1"] }, {}),
    recordRecommendations: async (records) => records.map((record) => Boolean(recorded.push(record.recId))),
  };
  const sends: { topic: string; messages: OutgoingMessage[] }[][] = [];
  const expired: [string, number][] = [];
  const phases: [string, number][] = [];
  const handle = createScorerHandler({
    ...greedyHandlerDeps(store, serving, sends),
    // Scoring takes 50 ms on this clock: every read of it moves it on.
    now: () => (clock += 50),
    maxBatch: 10,
    recLogTopic: "log",
    counters: {
      served: () => {},
      batchSeconds: () => {},
      expired: (stage, count) => void expired.push([stage, count]),
      phaseSeconds: (phase, seconds) => void phases.push([phase, seconds]),
    },
  });
  const requests: RecRequest[] = [
    { requestId: "gone", user: "alice", ts: 900, deadline: 1000 }, // past before its turn
    { requestId: "late", user: "bob", ts: 900, deadline: 1060 }, // passes while the slice is scored
    { requestId: "fine", user: "alice", ts: 900, deadline: 60_000 },
    { requestId: "none", user: "bob", ts: 900 },
  ];
  const messages = requests.map((value, i): ConsumedMessage<RecRequest> => ({
    value,
    key: value.user!,
    topic: "rq",
    partition: 0,
    offset: String(i),
    timestamp: 0,
    raw: null,
  }));
  await handle(messages, { topic: "rq", partition: 0, heartbeat: async () => {} });
  const sentTo = (topic: string) =>
    sends.flatMap((batches) => batches.filter((b) => b.topic === topic).flatMap((b) => b.messages));
  assert.deepEqual(
    sentTo("recs").map((m) => (m.value as Recommendation).requestId),
    ["fine", "none"],
  );
  assert.deepEqual(
    sentTo("log").map((m) => (m.value as { requestId: string }).requestId),
    ["fine", "none"],
  );
  assert.deepEqual(recorded, [recIdFor("fine"), recIdFor("none")], "no impression for an answer nobody saw");
  assert.deepEqual(expired, [
    ["before_scoring", 1],
    ["after_scoring", 1],
  ]);
  // One wait per request scored (ts 900 to the slice's turn at 1050 on this clock), then one of each phase.
  assert.deepEqual(
    phases.filter(([p]) => p === "wait"),
    [
      ["wait", 0.15],
      ["wait", 0.15],
      ["wait", 0.15],
    ],
  );
  assert.deepEqual(
    phases
      .filter(([p]) => p !== "wait")
      .map(([p]) => p)
      .sort(),
    ["answer", "log", "record", "score"],
  );
  assert.ok(phases.every(([, seconds]) => seconds >= 0));
  await serving.release();
});

test("handler: batches of partitions handed in together are scored and sent together", async () => {
  const { serving } = await tinyServingModel();
  const sends: { topic: string; messages: OutgoingMessage[] }[][] = [];
  const store: ScorerStore = {
    ...memoryStore({ alice: ["i1", "i2", "i3"] }, {}),
    recordRecommendations: async (records) => records.map(() => true),
  };
  let retrievals = 0;
  const counted = {
    ...serving,
    retrieve: (...args: Parameters<typeof serving.retrieve>) => {
      retrievals++;
      return serving.retrieve(...args);
    },
  };
  const handle = createScorerHandler({ ...greedyHandlerDeps(store, counted, sends), maxBatch: 64 });
  const batchOf = (partition: number) =>
    [0, 1].map((i): ConsumedMessage<RecRequest> => ({
      value: { requestId: `p${partition}-${i}`, user: "alice", ts: 900 },
      key: "alice",
      topic: "rq",
      partition,
      offset: String(i),
      timestamp: 0,
      raw: null,
    }));
  const ctx = (partition: number) => ({ topic: "rq", partition, heartbeat: async () => {} });
  // The partitions of one fetch, handed in within one turn, go in one run; 4 and 5 arrive while
  // it is scored and go together in the next.
  const first = [0, 1, 2, 3].map((p) => handle(batchOf(p), ctx(p)));
  await new Promise((resolve) => setImmediate(resolve));
  const second = [4, 5].map((p) => handle(batchOf(p), ctx(p)));
  await Promise.all([...first, ...second]);
  assert.equal(sends.length, 2);
  assert.equal(retrievals, 2);
  assert.deepEqual(
    sends.map((batches) => batches[0]!.messages.length),
    [8, 4],
  );
  await serving.release();
});

test("handler: the answers and sealed decision logs go uncompressed (latency; ciphertext does not deflate); plain decision logs keep the producer's codec", async () => {
  const { serving } = await tinyServingModel();
  const store: ScorerStore = {
    ...memoryStore({ alice: ["i1", "i2", "i3"] }, {}),
    recordRecommendations: async (records) => records.map(() => true),
  };
  for (const sealing of [false, true]) {
    const sends: { topic: string; options?: SendOptions }[] = [];
    const handle = createScorerHandler({
      ...greedyHandlerDeps(store, serving, []),
      recLogTopic: "log",
      send: async (batches, options) => void sends.push({ topic: batches[0]!.topic, ...(options ? { options } : {}) }),
      ...(sealing
        ? {
            sealDecisions: async (values: { user: string; value: unknown }[]) =>
              values.map(() => ({ k: "0".repeat(32), c: "c2VhbGVk" })),
          }
        : {}),
    });
    await handle([aliceRequest(`q-${sealing}`)], partition0);
    assert.deepEqual(
      sends,
      sealing
        ? [
            { topic: "recs", options: { compression: "none" } },
            { topic: "log", options: { compression: "none" } },
          ]
        : [{ topic: "recs", options: { compression: "none" } }, { topic: "log" }],
    );
  }
  await serving.release();
});

test("handler: with sendLogs the decision logs go through it and the answers through send; the batch returns after both", async () => {
  const { serving } = await tinyServingModel();
  const store: ScorerStore = {
    ...memoryStore({ alice: ["i1", "i2", "i3"] }, {}),
    recordRecommendations: async (records) => records.map(() => true),
  };
  const answers: string[] = [];
  const logs: string[] = [];
  let releaseLogs = () => {};
  const logsAcked = new Promise<void>((resolve) => (releaseLogs = resolve));
  const handle = createScorerHandler({
    ...greedyHandlerDeps(store, serving, []),
    recLogTopic: "log",
    send: async (batches) => void answers.push(...batches.map((b) => b.topic)),
    sendLogs: async (batches) => {
      await logsAcked;
      logs.push(...batches.map((b) => b.topic));
    },
  });
  let returned = false;
  const handled = handle([aliceRequest("q-logs")], partition0).then(() => (returned = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(answers, ["recs"]);
  assert.equal(returned, false, "the batch (and its commit) waits for the decision log");
  releaseLogs();
  await handled;
  assert.deepEqual(logs, ["log"]);
  await serving.release();
});

test("handler: without a linear policy to serve, no bandit contexts are recorded and no linear impressions summed", async () => {
  const { serving } = await tinyServingModel();
  for (const linearContexts of [true, false]) {
    const recorded: RecommendationRecord[] = [];
    const impressions = new LinearImpressions();
    const handle = createScorerHandler({
      ...greedyHandlerDeps(
        {
          ...memoryStore({ alice: ["i1", "i2", "i3"] }, {}),
          recordRecommendations: async (records) => records.map((r) => Boolean(recorded.push(r))),
        },
        serving,
        [],
      ),
      impressions,
      linearContexts,
    });
    await handle([aliceRequest(`lc-${linearContexts}`)], partition0);
    const items = recorded.flatMap((r) => r.items);
    assert.equal(items.length, 3);
    assert.ok(
      items.every((it) => it.expected !== undefined),
      "the click probability is recorded either way",
    );
    assert.equal(items.filter((it) => it.banditContext !== undefined).length, linearContexts ? 3 : 0);
    assert.equal(impressions.size, linearContexts ? 3 : 0);
  }
  await serving.release();
});

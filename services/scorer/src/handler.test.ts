import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveConfig, trainTwoTower, exportServingOnnx, itemVectors, userVectors, type TwoTowerModel } from "@recfleet/towers";
import { createPolicy, createRng } from "@recfleet/policy";
import type { HistoryEntry, ItemStats } from "@recfleet/store";
import { createLogger } from "@recfleet/runtime";
import { scoreRequests, recIdFor, type ScoringStore } from "./handler";
import { createServingModel, type ServingModel } from "./serving-model";

const logger = createLogger("scorer-test", { level: "error" });
const NUM_ITEMS = 30;

async function tinyServingModel(): Promise<{ model: TwoTowerModel; serving: ServingModel }> {
  const itemIds = Array.from({ length: NUM_ITEMS }, (_, i) => `i${i}`);
  const examples = Array.from({ length: 120 }, (_, e) => {
    const base = (e * 7) % NUM_ITEMS;
    return { history: [base, (base + 1) % NUM_ITEMS, (base + 2) % NUM_ITEMS], target: (base + 3) % NUM_ITEMS };
  });
  const config = resolveConfig({ dim: 8, hidden: 16, historyLength: 5, batchSize: 16, epochs: 2, temperature: 0.2, seed: 1 });
  const model = await trainTwoTower({ itemIds, itemFeatures: new Float32Array(0), examples }, config);
  const serving = await createServingModel("v-test", model, exportServingOnnx(model, { modelVersion: "v-test" }), itemVectors(model), { executionProviders: ["cpu"], logger });
  return { model, serving };
}

function memoryStore(histories: Record<string, string[]>, seen: Record<string, string[]>): ScoringStore {
  const entry = (itemId: string, i: number): HistoryEntry => ({ itemId, type: "click", ts: 1000 + i });
  return {
    readUserHistories: async (users) => users.map((u) => (histories[u] ?? []).map(entry)),
    readSeenItems: async (users) => users.map((u) => seen[u] ?? []),
    readPopularItems: async (n) => Array.from({ length: Math.min(n, NUM_ITEMS) }, (_, i) => ({ itemId: `i${i}`, score: NUM_ITEMS - i })),
    readItemStats: async (ids): Promise<ItemStats[]> => ids.map((itemId) => ({ itemId, impressions: 0, clicks: 0, expectedClicks: 0 })),
  };
}

test("warm users: one retrieval for the batch, seen items dropped, greedy order = exact top-k of uᵀv, explanations from history", async () => {
  const { model, serving } = await tinyServingModel();
  const store = memoryStore({ alice: ["i1", "i2", "i3"], bob: ["i10", "i11"] }, { alice: ["i1", "i2", "i3", "i4"], bob: ["i10", "i11"] });
  let runs = 0;
  const counted: ServingModel = { ...serving, retrieve: (h, k) => (runs++, serving.retrieve(h, k)) };
  const out = await scoreRequests(
    [{ requestId: "q1", user: "alice", ts: 0, k: 5 }, { requestId: "q2", user: "bob", ts: 0, k: 5 }],
    { store, model: counted, pseudonymise: (r) => r, policyFor: () => createPolicy("greedy"), rng: createRng(1), now: () => 10, defaultK: 10, candidates: 20, scoreToLogit: (c) => c, explanations: 2 },
  );
  assert.equal(runs, 1, "retrieval must be micro-batched across the batch's requests");
  const [a, b] = out.recommendations;
  assert.equal(a!.recId, recIdFor("q1"));
  assert.equal(a!.items.length, 5);
  for (const it of a!.items) {
    assert.ok(!["i1", "i2", "i3", "i4"].includes(it.itemId), `seen item ${it.itemId} recommended`);
    assert.equal(it.propensity, 1);
    assert.ok(it.because && it.because.length === 2 && it.because.every((h) => ["i1", "i2", "i3"].includes(h)));
  }
  // Parity with the TS forward pass: greedy = the k best unseen items by uᵀv.
  const u = userVectors(model, [[1, 2, 3]]);
  const v = itemVectors(model);
  const d = model.config.dim;
  const expected = Array.from({ length: NUM_ITEMS }, (_, i) => ({ i, s: Array.from({ length: d }, (_, j) => u[j]! * v[i * d + j]!).reduce((x, y) => x + y, 0) }))
    .filter(({ i }) => ![1, 2, 3, 4].includes(i))
    .sort((x, y) => y.s - x.s)
    .slice(0, 5)
    .map(({ i }) => `i${i}`);
  assert.deepEqual(a!.items.map((it) => it.itemId), expected);
  assert.ok(b!.items.every((it) => !["i10", "i11"].includes(it.itemId)));
  assert.equal(out.userVectors.length, 2);
  await serving.release();
});

test("cold start: a user with no history gets popular unseen items with a reason", async () => {
  const { serving } = await tinyServingModel();
  const store = memoryStore({}, { carol: ["i0"] });
  const out = await scoreRequests([{ requestId: "q3", userId: "carol-raw", ts: 0, k: 3 }], {
    store, model: serving, pseudonymise: () => "carol", policyFor: () => createPolicy("greedy"), rng: createRng(1), now: () => 10, defaultK: 10, candidates: 20, scoreToLogit: (c) => c, explanations: 2,
  });
  const rec = out.recommendations[0]!;
  assert.equal(rec.user, "carol");
  assert.equal(rec.reason, "cold_start_popular");
  assert.deepEqual(rec.items.map((i) => i.itemId), ["i1", "i2", "i3"]);
  assert.equal(out.coldStarts, 1);
  await serving.release();
});

// The scorer with a catalog, in-process: new items served by their content vector, unavailable
// and deleted items never served, request filters and boosts applied inside retrieval (the
// item_bias mask) before the policy, the per-provider cap, explanations naming the rule — and
// the χ² test of policy/propensity.test.ts extended to filtered requests: slate frequencies
// match the logged propensities over the filtered set.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeItemContent,
  exportContentTowerOnnx,
  exportServingOnnx,
  itemVectors,
  resolveConfig,
  trainTwoTower,
  type TwoTowerModel,
} from "@recfleet/towers";
import { createPolicy, createRng } from "@recfleet/policy";
import { chiSquare, chiSquareCritical } from "@recfleet/policy/testing";
import type { RecRequest } from "@recfleet/contracts";
import type { CatalogStore, HistoryEntry, ItemStats, StoredCatalogItem } from "@recfleet/store";
import { createLogger } from "@recfleet/runtime";
import { scoreRequests, type ScoringDeps, type ScoringStore } from "./handler";
import { createServingModel, type ServingModel } from "./serving-model";
import { CatalogView } from "./catalog-view";
import { ItemSpace } from "./item-space";
import type { OperatorRules } from "./catalog-rules";

const logger = createLogger("scorer-catalog-test", { level: "error" });
const N = 30;
const F = 4;
// Item i has category "c<i % 4>" as its content.
const category = (i: number) => `c${i % F}`;

async function contentModel(): Promise<{ model: TwoTowerModel; serving: ServingModel }> {
  const itemIds = Array.from({ length: N }, (_, i) => `i${i}`);
  const itemFeatures = new Float32Array(N * F);
  // The fleet's encoding (the scorer encodes new items with it too).
  for (let i = 0; i < N; i++) encodeItemContent({ categories: [category(i)] }, F, itemFeatures, i * F);
  // Users stay within one category: the next item has the category of the history.
  const examples = Array.from({ length: 400 }, (_, e) => {
    const c = e % F;
    const pick = (j: number) => c + F * ((e * 3 + j * 5) % Math.floor(N / F));
    return { history: [pick(0), pick(1), pick(2)], target: pick(3) };
  });
  const config = resolveConfig({
    dim: 8,
    hidden: 16,
    historyLength: 5,
    batchSize: 32,
    epochs: 40,
    learningRate: 0.01,
    temperature: 0.2,
    seed: 3,
    idDropout: 0.5,
  });
  const model = await trainTwoTower({ itemIds, itemFeatures, examples }, config);
  const serving = await createServingModel(
    "v-cat",
    { config: model.config, itemIds, featureWidth: F },
    exportServingOnnx(model, { modelVersion: "v-cat" }),
    itemVectors(model),
    { executionProviders: ["cpu"], logger, contentTower: exportContentTowerOnnx(model, { modelVersion: "v-cat" }) },
  );
  return { model, serving };
}

function memoryCatalog(items: StoredCatalogItem[]): Pick<CatalogStore, "readAll" | "readChanges"> {
  return {
    readAll: async () => ({ items: new Map(items.map((i) => [i.itemId, i])), cursor: "0-0" }),
    readChanges: async (cursor) => ({ cursor, items: new Map(), gap: false }),
  };
}

function store(histories: Record<string, string[]>): ScoringStore {
  const entry = (itemId: string, i: number): HistoryEntry => ({ itemId, type: "click", ts: 1000 + i });
  return {
    readUsers: async (users, n) =>
      users.map((u) => ({ history: n > 0 ? (histories[u] ?? []).slice(-n).map(entry) : [], seen: [] })),
    readPopularItems: async (n) =>
      Array.from({ length: Math.min(n, N) }, (_, i) => ({ itemId: `i${i}`, score: N - i })),
    readItemStats: async (ids): Promise<ItemStats[]> =>
      ids.map((itemId) => ({ itemId, impressions: 0, clicks: 0, expectedClicks: 0 })),
  };
}

const T = Date.UTC(2026, 10, 1);
const catalogItems: StoredCatalogItem[] = [
  ...Array.from({ length: N }, (_, i) => ({
    itemId: `i${i}`,
    ts: T,
    categories: [category(i)],
    provider: `p${i % 3}`,
    numbers: { price: i },
  })),
  // A new item of category c1 the model has never seen.
  { itemId: "new-c1", ts: T, categories: ["c1"], provider: "p9" },
];

async function deps(
  serving: ServingModel,
  items: StoredCatalogItem[],
  rules: Partial<OperatorRules> = {},
  policy = "greedy",
): Promise<ScoringDeps> {
  const view = new CatalogView(memoryCatalog(items));
  await view.reload();
  const operator = { excludeUnavailable: true, maxPerProvider: 0, ...rules };
  return {
    store: store({ u1: ["i1", "i5", "i9"], u0: ["i0", "i4", "i8"] }),
    model: serving,
    pseudonymise: (r) => r,
    policyFor: () => createPolicy(policy),
    rng: createRng(7),
    now: () => T,
    defaultK: 5,
    candidates: 20,
    scoreToLogit: (c) => (c - 0.5) * 8,
    explanations: 1,
    catalog: { space: new ItemSpace(view, operator, 0.5), rules: operator, item: (id) => view.get(id) },
  };
}

test("catalog: a new item is served by its content vector to a user of its category, with the rule named", async () => {
  const { serving } = await contentModel();
  const dd = await deps(serving, catalogItems);
  const out = await scoreRequests([{ requestId: "q1", user: "u1", ts: T, k: 5 }], dd);
  const items = out.recommendations[0]!.items;
  const fresh = items.find((it) => it.itemId === "new-c1");
  assert.ok(fresh, `new-c1 not in ${items.map((i) => i.itemId).join(",")}`);
  assert.match(fresh.rule ?? "", /new item/);
  // Without the catalog entry the item does not exist for the scorer.
  const without = await scoreRequests(
    [{ requestId: "q1", user: "u1", ts: T, k: 5 }],
    await deps(
      serving,
      catalogItems.filter((i) => i.itemId !== "new-c1"),
    ),
  );
  assert.ok(without.recommendations[0]!.items.every((it) => it.itemId !== "new-c1"));
  await serving.release();
});

test("catalog: unavailable and deleted items are never served; filters hold; boosts and the provider cap are explained", async () => {
  const { serving } = await contentModel();
  const gone = new Set(["i13", "i17", "new-c1"]);
  const items = catalogItems.map((i) =>
    i.itemId === "i13" ? { ...i, available: false } : gone.has(i.itemId) ? { ...i, deleted: true as const } : i,
  );
  const d = await deps(serving, items, { maxPerProvider: 2 });
  const requests: RecRequest[] = [
    { requestId: "a", user: "u1", ts: T, k: 10 },
    { requestId: "b", user: "u1", ts: T, k: 10, filters: { includeCategories: ["c2", "c3"] } },
    {
      requestId: "c",
      user: "u1",
      ts: T,
      k: 10,
      filters: { excludeCategories: ["c1"], ranges: { price: { min: 10, max: 25 } } },
    },
    { requestId: "d", user: "u0", ts: T, k: 8, boosts: [{ category: "c3", weight: 5 }] },
    { requestId: "e", user: "nobody", ts: T, k: 5, filters: { includeCategories: ["c2"] } },
  ];
  const out = await scoreRequests(requests, d);
  const [a, b, c, boosted, cold] = out.recommendations.map((r) => r.items);
  for (const list of [a, b, c, boosted, cold])
    for (const it of list!) assert.ok(!gone.has(it.itemId), `${it.itemId} served`);
  const index = (id: string) => Number(id.slice(1));
  assert.ok(b!.length > 0 && b!.every((it) => ["c2", "c3"].includes(category(index(it.itemId)))), "include filter");
  assert.ok(c!.every((it) => category(index(it.itemId)) !== "c1" && index(it.itemId) >= 10 && index(it.itemId) <= 25));
  assert.ok(
    cold!.length > 0 && cold!.every((it) => category(index(it.itemId)) === "c2"),
    "cold-start path filtered too",
  );
  // u0 likes c0; the boost lifts c3 items into the slate, and only they carry the rule.
  const unboosted = (await scoreRequests([{ ...requests[3]!, requestId: "d0", boosts: [] }], d)).recommendations[0]!
    .items;
  const c3 = (list: typeof unboosted) => list.filter((it) => category(index(it.itemId)) === "c3").length;
  assert.ok(c3(boosted!) > c3(unboosted), `boost: ${c3(boosted!)} c3 items vs ${c3(unboosted)} without`);
  for (const it of boosted!)
    assert.equal(it.rule === "boosted: category c3", category(index(it.itemId)) === "c3", `${it.itemId}: ${it.rule}`);
  for (const list of [a, b, c]) {
    const perProvider = new Map<string, number>();
    for (const it of list!) {
      const p = `p${index(it.itemId) % 3}`;
      perProvider.set(p, (perProvider.get(p) ?? 0) + 1);
    }
    assert.ok(
      [...perProvider.values()].every((n) => n <= 2),
      `provider cap broken: ${[...perProvider]}`,
    );
  }
  assert.ok(a!.some((it) => it.rule === "provider cap: at most 2 per provider"));
  await serving.release();
});

test("χ² on filtered requests: slate frequencies match the product of logged propensities over the filtered set", async () => {
  const { serving } = await contentModel();
  const d = await deps(serving, catalogItems, {}, "softmax:0.5");
  const filters = { includeCategories: ["c1", "c2"], excludeItems: ["i2"] };
  const allowed = new Set(
    catalogItems.filter((i) => i.categories?.some((c) => filters.includeCategories.includes(c))).map((i) => i.itemId),
  );
  allowed.delete("i2");
  const draws = 4000;
  const observed = new Map<string, number>();
  const probability = new Map<string, number>();
  for (let start = 0; start < draws; start += 200) {
    const requests = Array.from({ length: 200 }, (_, j) => ({
      requestId: `q${start + j}`,
      user: "u1",
      ts: T,
      k: 2,
      filters,
    }));
    const out = await scoreRequests(requests, d);
    for (const rec of out.recommendations) {
      assert.ok(
        rec.items.every((it) => allowed.has(it.itemId)),
        `filtered-out item in ${rec.items.map((i) => i.itemId)}`,
      );
      const key = rec.items.map((i) => i.itemId).join(">");
      observed.set(key, (observed.get(key) ?? 0) + 1);
      const p = rec.items.reduce((x, it) => x * it.propensity, 1);
      const previous = probability.get(key);
      if (previous !== undefined) assert.ok(Math.abs(previous - p) < 1e-9, `${key}: ${previous} vs ${p}`);
      probability.set(key, p);
    }
  }
  const total = [...probability.values()].reduce((x, y) => x + y, 0);
  assert.ok(total <= 1 + 1e-9);
  const expected = new Map([...probability].map(([key, p]) => [key, p * draws]));
  expected.set("(never drawn)", Math.max(0, 1 - total) * draws);
  const { statistic, df } = chiSquare(observed, expected);
  assert.ok(statistic < chiSquareCritical(df, 3.09), `χ² = ${statistic.toFixed(1)} on ${df} df`);
  await serving.release();
});

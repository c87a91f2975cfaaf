/**
 * The scorer's work for one batch of rec requests, with every dependency passed in so tests
 * run it without a broker: read histories → one retrieval run for the batch → drop seen items
 * → exploration policy → explanations → recommendations.
 */
import { createHash } from "node:crypto";
import type { RecRequest, Recommendation, RecommendedItem } from "@recfleet/contracts";
import { toDecisionLog, type Candidate, type DecisionLogRecord, type ItemStats as PolicyItemStats, type LinearBanditState, type Policy, type PolicyDecision } from "@recfleet/policy";
import type { HistoryEntry, ItemStats, RecommendationRecord } from "@recfleet/store";
import type { ServingModel } from "./serving-model";

export interface ScoringStore {
  readUserHistories(users: readonly string[], n: number): Promise<HistoryEntry[][]>;
  readSeenItems(users: readonly string[]): Promise<string[][]>;
  readPopularItems(n: number, now?: number): Promise<{ itemId: string; score: number }[]>;
  readItemStats(itemIds: readonly string[], policy?: string): Promise<ItemStats[]>;
}

export interface ScoringDeps {
  store: ScoringStore;
  /** The version to serve this batch with (held for the whole batch), or none yet. */
  model: ServingModel | undefined;
  /** Raw app user id → pseudonym (the same HMAC as ingest). */
  pseudonymise(rawUserId: string): string;
  /** The request's policy, or the traffic split's choice for this user. */
  policyFor(request: RecRequest, user: string): Policy;
  linearState?: LinearBanditState;
  rng: () => number;
  now: () => number;
  defaultK: number;
  /** Candidates handed to the policy (top-N by model score, seen items removed). */
  candidates: number;
  /** Model score (cosine) → the logit the policies expect (σ(logit) ≈ click probability). */
  scoreToLogit(cosine: number): number;
  /** History items named in each "because" explanation. */
  explanations: number;
  /** Put candidate vectors in the decision log (needed only to evaluate linear-bandit targets off-policy). */
  logVectors?: boolean;
}

export interface ScoredBatch {
  recommendations: Recommendation[];
  /** What to record per recommendation: the slate with the model's click probability per slot. */
  records: RecommendationRecord[];
  /** Per policy-driven recommendation: what the policy saw and chose (for off-policy evaluation). */
  decisions: DecisionLogRecord[];
  /** Per request: the pseudonymous user and its vector (absent for cold start). */
  userVectors: { user: string; vector: Float32Array; version: string }[];
  coldStarts: number;
}

/** Deterministic per request, so a replayed request gets the same recId (attribution stays idempotent). */
export function recIdFor(requestId: string): string {
  return "r" + createHash("sha256").update(requestId).digest("hex").slice(0, 24);
}

function userOf(request: RecRequest, pseudonymise: (raw: string) => string): string {
  if (request.user) return request.user;
  if (request.userId) return pseudonymise(request.userId);
  // contracts lets neither be absent through the worker's extra check; keep the type honest.
  throw new RangeError(`rec request ${request.requestId} names no user`);
}

/** Indices of the `n` history rows most similar to `row` in item-tower space. */
function because(model: ServingModel, row: number, historyRows: readonly number[], n: number): string[] {
  const d = model.dim;
  const m = model.itemMatrix;
  const scored: { row: number; sim: number }[] = [];
  const seen = new Set<number>();
  for (const h of historyRows) {
    if (seen.has(h)) continue;
    seen.add(h);
    let sim = 0;
    for (let j = 0; j < d; j++) sim += m[row * d + j]! * m[h * d + j]!;
    scored.push({ row: h, sim });
  }
  scored.sort((a, b) => b.sim - a.sim || a.row - b.row);
  return scored.slice(0, n).map((s) => model.itemIds[s.row]!);
}

/** The neural-linear bandit's context of a shown item: user vector ⊙ item vector. */
function banditContext(userVector: Float32Array, model: ServingModel, itemId: string): Float64Array {
  const row = model.rowOf.get(itemId)!;
  const x = new Float64Array(model.dim);
  for (let j = 0; j < model.dim; j++) x[j] = userVector[j]! * model.itemMatrix[row * model.dim + j]!;
  return x;
}

export async function scoreRequests(requests: readonly RecRequest[], deps: ScoringDeps): Promise<ScoredBatch> {
  const { store, model } = deps;
  const users = requests.map((r) => userOf(r, deps.pseudonymise));
  const historyLength = model?.historyLength ?? 50;
  const [histories, seenLists] = await Promise.all([store.readUserHistories(users, historyLength), store.readSeenItems(users)]);

  // Warm users (some history item is in this version's vocabulary) share one retrieval run.
  const historyRows = histories.map((h) => (model ? h.map((e) => model.rowOf.get(e.itemId)).filter((r): r is number => r !== undefined) : []));
  const warm = requests.map((_, i) => historyRows[i]!.length > 0).map((w, i) => (w ? i : -1)).filter((i) => i >= 0);
  const excluded = requests.map((r, i) => new Set([...seenLists[i]!, ...(r.exclude ?? [])]));
  const maxExcluded = Math.max(0, ...warm.map((i) => excluded[i]!.size));
  const retrieval = model && warm.length > 0 ? await model.retrieve(warm.map((i) => historyRows[i]!), deps.candidates + maxExcluded) : undefined;

  const warmSlot = new Map(warm.map((reqIndex, b) => [reqIndex, b]));
  const candidatesOf = new Map<number, Candidate[]>();
  if (model && retrieval) {
    warm.forEach((reqIndex, b) => {
      const list: Candidate[] = [];
      for (let j = 0; j < retrieval.k && list.length < deps.candidates; j++) {
        const row = retrieval.rows[b * retrieval.k + j]!;
        const itemId = model.itemIds[row]!;
        if (excluded[reqIndex]!.has(itemId)) continue;
        list.push({ itemId, score: deps.scoreToLogit(retrieval.scores[b * retrieval.k + j]!), vector: model.itemMatrix.subarray(row * model.dim, (row + 1) * model.dim) });
      }
      candidatesOf.set(reqIndex, list);
    });
  }

  const policies = requests.map((r, i) => deps.policyFor(r, users[i]!));
  // Bandit statistics for every candidate of the batch, one read per policy in the batch.
  const statsByPolicy = new Map<string, Map<string, PolicyItemStats>>();
  for (const policyId of new Set(policies.map((p) => p.id))) {
    const ids = [...new Set(requests.flatMap((_, i) => (policies[i]!.id === policyId ? (candidatesOf.get(i) ?? []).map((c) => c.itemId) : [])))];
    const stats = ids.length > 0 ? await store.readItemStats(ids) : [];
    statsByPolicy.set(policyId, new Map(stats.map((s) => [s.itemId, { impressions: s.impressions, clicks: s.clicks, expectedClicks: s.expectedClicks }])));
  }

  let popular: { itemId: string; score: number }[] | undefined;
  const recommendations: Recommendation[] = [];
  const records: RecommendationRecord[] = [];
  const decisions: DecisionLogRecord[] = [];
  const userVectors: ScoredBatch["userVectors"] = [];
  let coldStarts = 0;
  for (let i = 0; i < requests.length; i++) {
    const request = requests[i]!;
    const k = request.k ?? deps.defaultK;
    const candidates = candidatesOf.get(i);
    const servedAt = deps.now();
    const base = { recId: recIdFor(request.requestId), requestId: request.requestId, user: users[i]!, servedAt, latencyMs: Math.max(0, servedAt - request.ts) };
    if (!model || !candidates) {
      // Cold start: no usable history (or no model yet) → popular items not yet seen.
      coldStarts++;
      popular ??= await store.readPopularItems(k + 200, servedAt);
      const items: RecommendedItem[] = popular
        .filter((p) => !excluded[i]!.has(p.itemId))
        .slice(0, k)
        .map((p, r) => ({ itemId: p.itemId, score: p.score, rank: r + 1, propensity: 1, explored: false }));
      recommendations.push({ ...base, items, policy: "popular", propensityMethod: "exact", modelVersion: model?.version ?? "none", reason: model ? "cold_start_popular" : "no_model_popular" });
      records.push({ recId: base.recId, policy: "popular", servedAt, items: items.map((it) => ({ itemId: it.itemId })) });
      continue;
    }
    const policy = policies[i]!;
    const stats = statsByPolicy.get(policy.id)!;
    const b = warmSlot.get(i)!;
    const userVector = retrieval!.userVectors.subarray(b * model.dim, (b + 1) * model.dim);
    const itemStats = (itemId: string): PolicyItemStats => stats.get(itemId) ?? { impressions: 0, clicks: 0, expectedClicks: 0 };
    const decision: PolicyDecision = policy.select(candidates, Math.min(k, candidates.length), {
      rng: deps.rng,
      userVector,
      itemStats,
      ...(deps.linearState ? { linear: deps.linearState } : {}),
    });
    const items: RecommendedItem[] = decision.items.map((s) => {
      const row = model.rowOf.get(s.itemId)!;
      return { itemId: s.itemId, score: s.score, rank: s.rank, propensity: s.propensity, explored: s.explored, because: because(model, row, historyRows[i]!, deps.explanations) };
    });
    recommendations.push({ ...base, items, policy: decision.policyId, propensityMethod: decision.propensityMethod, modelVersion: model.version });
    decisions.push(toDecisionLog({ recId: base.recId, requestId: request.requestId, ts: servedAt, policyId: decision.policyId, modelVersion: model.version, propensityMethod: decision.propensityMethod, candidates, userVector, itemStats, items: decision.items, includeVectors: deps.logVectors ?? false }));
    const logitOf = new Map(candidates.map((c) => [c.itemId, c.score]));
    records.push({
      recId: base.recId,
      policy: decision.policyId,
      servedAt,
      modelVersion: model.version,
      items: items.map((it) => ({ itemId: it.itemId, expected: 1 / (1 + Math.exp(-(logitOf.get(it.itemId) ?? 0))), banditContext: banditContext(userVector, model, it.itemId) })),
    });
    userVectors.push({ user: users[i]!, vector: Float32Array.from(userVector), version: model.version });
  }
  return { recommendations, records, decisions, userVectors, coldStarts };
}

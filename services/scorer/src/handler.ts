/**
 * The scorer's logic, free of Kafka and Redis (every dependency is passed in): read histories →
 * one retrieval run for the batch → drop seen items → exploration policy → explanations →
 * recommendations (`scoreRequests`), and per consumed batch the checks, records and the one
 * send around it (`createScorerHandler`).
 */
import { createHash } from "node:crypto";
import { requestLatencyMs, type RecRequest, type Recommendation, type RecommendedItem } from "@recfleet/contracts";
import type { BatchHandler, ConsumedMessage, OutgoingMessage, Rejection } from "@recfleet/bus";
import {
  assignPolicy,
  createRng,
  linearContext,
  PolicyConfigError,
  toDecisionLog,
  type AllowedPolicies,
  type Candidate,
  type DecisionLogRecord,
  type ItemStats as PolicyItemStats,
  type LinearBanditState,
  type LinearImpressions,
  type Policy,
  type PolicyContext,
  type PolicyDecision,
  type TrafficShare,
} from "@recfleet/policy";
import type { HistoryEntry, ItemStats, RecommendationRecord } from "@recfleet/store";
import type { ModelLease } from "./model-holder";
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
  /**
   * Whose impressions and clicks a policy learns from: "per-policy" (default; side-by-side arms
   * learn only from their own traffic, so an A/B split compares independent arms) or "pooled"
   * (every policy's traffic). The store keeps both; this only picks which one is read.
   */
  banditStats?: BanditStatsScope;
  /**
   * Shadow (candidate) policies: for each served slate, each one's conditional probability of the
   * served items is computed on the same inputs and logged (DecisionLogRecord.shadow). They never
   * change the slate, and draw from their own rng so the serving policy's draws are the same.
   */
  shadows?: readonly Policy[];
  shadowRng?: () => number;
}

export type BanditStatsScope = "per-policy" | "pooled";

/** A recommendation before it is published; its latency is stamped at publish time. */
export type ScoredRecommendation = Omit<Recommendation, "latencyMs">;

export interface ScoredBatch {
  /** One per request, in request order. */
  recommendations: ScoredRecommendation[];
  /** What to record per recommendation: the slate with the model's click probability per slot. */
  records: RecommendationRecord[];
  /** Per policy-driven recommendation: what the policy saw and chose (for off-policy evaluation). */
  decisions: DecisionLogRecord[];
  /** Per request: the pseudonymous user and its vector (absent for cold start). */
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
  return linearContext(userVector, model.itemMatrix.subarray(row * model.dim, (row + 1) * model.dim), model.dim);
}

/** Used only when a caller gives shadows but no shadowRng (tests); the serving rng is never touched. */
const shadowRngFallback = createRng(0x5ad0);

/** Each shadow policy's per-slot conditional probability of the served items (none for the serving policy itself). */
function shadowProbabilities(
  shadows: readonly Policy[],
  serving: Policy,
  candidates: readonly Candidate[],
  decision: PolicyDecision,
  ctx: PolicyContext,
): Record<string, number[]> | undefined {
  const out: Record<string, number[]> = {};
  const slate = decision.items.map((item) => item.itemId);
  for (const shadow of shadows) {
    if (shadow.id === serving.id) continue;
    const distributions = shadow.slotDistributions(candidates, slate, ctx);
    out[shadow.id] = slate.map((itemId, r) => distributions[r]?.get(itemId) ?? 0);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export async function scoreRequests(requests: readonly RecRequest[], deps: ScoringDeps): Promise<ScoredBatch> {
  const { store, model } = deps;
  const users = requests.map((r) => userOf(r, deps.pseudonymise));
  // Histories feed only the user tower, so their length is the model's; without a model every
  // request is a cold start and needs no history.
  const [histories, seenLists] = await Promise.all([
    model ? store.readUserHistories(users, model.historyLength) : users.map(() => []),
    store.readSeenItems(users),
  ]);

  // Warm users (some history item is in this version's vocabulary) share one retrieval run.
  const historyRows = histories.map((h) =>
    model ? h.map((e) => model.rowOf.get(e.itemId)).filter((r): r is number => r !== undefined) : [],
  );
  const warm = requests
    .map((_, i) => historyRows[i]!.length > 0)
    .map((w, i) => (w ? i : -1))
    .filter((i) => i >= 0);
  const excluded = requests.map((r, i) => new Set([...seenLists[i]!, ...(r.exclude ?? [])]));
  const maxExcluded = Math.max(0, ...warm.map((i) => excluded[i]!.size));
  const retrieval =
    model && warm.length > 0
      ? await model.retrieve(
          warm.map((i) => historyRows[i]!),
          deps.candidates + maxExcluded,
        )
      : undefined;

  const warmSlot = new Map(warm.map((reqIndex, b) => [reqIndex, b]));
  const candidatesOf = new Map<number, Candidate[]>();
  if (model && retrieval) {
    warm.forEach((reqIndex, b) => {
      const list: Candidate[] = [];
      for (let j = 0; j < retrieval.k && list.length < deps.candidates; j++) {
        const row = retrieval.rows[b * retrieval.k + j]!;
        const itemId = model.itemIds[row]!;
        if (excluded[reqIndex]!.has(itemId)) continue;
        list.push({
          itemId,
          score: deps.scoreToLogit(retrieval.scores[b * retrieval.k + j]!),
          vector: model.itemMatrix.subarray(row * model.dim, (row + 1) * model.dim),
        });
      }
      candidatesOf.set(reqIndex, list);
    });
  }

  const policies = requests.map((r, i) => deps.policyFor(r, users[i]!));
  // Bandit statistics for every candidate of the batch, one read per policy in the batch (that
  // policy's own statistics unless deps.banditStats is "pooled").
  const statsByPolicy = new Map<string, Map<string, PolicyItemStats>>();
  for (const policyId of new Set(policies.map((p) => p.id))) {
    const ids = [
      ...new Set(
        requests.flatMap((_, i) =>
          policies[i]!.id === policyId ? (candidatesOf.get(i) ?? []).map((c) => c.itemId) : [],
        ),
      ),
    ];
    const perPolicy = (deps.banditStats ?? "per-policy") === "per-policy";
    const stats = ids.length > 0 ? await store.readItemStats(ids, perPolicy ? policyId : undefined) : [];
    statsByPolicy.set(
      policyId,
      new Map(
        stats.map((s) => {
          const own = perPolicy ? (s.policy ?? { impressions: 0, clicks: 0, expectedClicks: 0 }) : s;
          return [s.itemId, { impressions: own.impressions, clicks: own.clicks, expectedClicks: own.expectedClicks }];
        }),
      ),
    );
  }

  let popular: { itemId: string; score: number }[] | undefined;
  const recommendations: ScoredRecommendation[] = [];
  const records: RecommendationRecord[] = [];
  const decisions: DecisionLogRecord[] = [];
  let coldStarts = 0;
  for (let i = 0; i < requests.length; i++) {
    const request = requests[i]!;
    const k = request.k ?? deps.defaultK;
    const candidates = candidatesOf.get(i);
    const servedAt = deps.now();
    const base = { recId: recIdFor(request.requestId), requestId: request.requestId, user: users[i]!, servedAt };
    if (!model || !candidates) {
      // Cold start: no usable history (or no model yet) → popular items not yet seen.
      coldStarts++;
      popular ??= await store.readPopularItems(k + 200, servedAt);
      const items: RecommendedItem[] = popular
        .filter((p) => !excluded[i]!.has(p.itemId))
        .slice(0, k)
        .map((p, r) => ({ itemId: p.itemId, score: p.score, rank: r + 1, propensity: 1, explored: false }));
      recommendations.push({
        ...base,
        items,
        policy: "popular",
        propensityMethod: "exact",
        modelVersion: model?.version ?? "none",
        reason: model ? "cold_start_popular" : "no_model_popular",
      });
      records.push({
        recId: base.recId,
        policy: "popular",
        servedAt,
        items: items.map((it) => ({ itemId: it.itemId })),
      });
      continue;
    }
    const policy = policies[i]!;
    const stats = statsByPolicy.get(policy.id)!;
    const b = warmSlot.get(i)!;
    const userVector = retrieval!.userVectors.subarray(b * model.dim, (b + 1) * model.dim);
    const itemStats = (itemId: string): PolicyItemStats =>
      stats.get(itemId) ?? { impressions: 0, clicks: 0, expectedClicks: 0 };
    const decision: PolicyDecision = policy.select(candidates, Math.min(k, candidates.length), {
      rng: deps.rng,
      userVector,
      itemStats,
      ...(deps.linearState ? { linear: deps.linearState } : {}),
    });
    const shadow = shadowProbabilities(deps.shadows ?? [], policy, candidates, decision, {
      rng: deps.shadowRng ?? shadowRngFallback,
      userVector,
      itemStats,
      ...(deps.linearState ? { linear: deps.linearState } : {}),
    });
    const items: RecommendedItem[] = decision.items.map((s) => {
      const row = model.rowOf.get(s.itemId)!;
      return {
        itemId: s.itemId,
        score: s.score,
        rank: s.rank,
        propensity: s.propensity,
        explored: s.explored,
        because: because(model, row, historyRows[i]!, deps.explanations),
      };
    });
    recommendations.push({
      ...base,
      items,
      policy: decision.policyId,
      propensityMethod: decision.propensityMethod,
      modelVersion: model.version,
    });
    decisions.push(
      toDecisionLog({
        recId: base.recId,
        requestId: request.requestId,
        ts: servedAt,
        policyId: decision.policyId,
        modelVersion: model.version,
        propensityMethod: decision.propensityMethod,
        candidates,
        userVector,
        itemStats,
        items: decision.items,
        includeVectors: deps.logVectors ?? false,
        ...(shadow ? { shadow } : {}),
      }),
    );
    const logitOf = new Map(candidates.map((c) => [c.itemId, c.score]));
    records.push({
      recId: base.recId,
      policy: decision.policyId,
      servedAt,
      modelVersion: model.version,
      items: items.map((it) => ({
        itemId: it.itemId,
        expected: 1 / (1 + Math.exp(-(logitOf.get(it.itemId) ?? 0))),
        banditContext: banditContext(userVector, model, it.itemId),
      })),
    });
  }
  return { recommendations, records, decisions, coldStarts };
}

/** What the handler needs of the store besides reads: the records it writes. */
export interface ScorerStore extends ScoringStore {
  recordRecommendation(record: RecommendationRecord): Promise<boolean>;
}

export interface ScorerCounters {
  /** One published recommendation: policy id (an allowed policy's or "popular"), kind, latency. */
  served(policy: string, kind: "model" | "cold_start", latencySeconds: number): void;
  batchSeconds(seconds: number): void;
  /** One served slate scored by a shadow policy: its full-slate weight Π π_shadow/μ (support diagnostic). */
  shadowed?(shadowId: string, slateWeight: number): void;
}

export interface ScorerHandlerDeps extends Omit<ScoringDeps, "store" | "model" | "policyFor" | "linearState"> {
  store: ScorerStore;
  /** The serving version, held for one slice of requests. */
  acquireModel(): ModelLease;
  /** Policies a request may name; the split's policies must be among them. */
  policies: AllowedPolicies;
  /** Policy of a request that names none, by user hash. */
  split: readonly TrafficShare[];
  /** The policy `recfleet policy promote` switched traffic to (overrides the split), if any. */
  servingPolicy?: () => string | undefined;
  /** The neural-linear state of a version, if one is loaded for it. */
  linearState(version: string): LinearBanditState | undefined;
  /** Where shown items' bandit contexts are summed until the worker flushes them. */
  impressions: LinearImpressions;
  /** Requests scored and answered in one send; bigger fetched batches are sliced. */
  maxBatch: number;
  send(batches: { topic: string; messages: OutgoingMessage[] }[]): Promise<void>;
  recommendationsTopic: string;
  /** Topic of the decision log; none: not published. */
  recLogTopic?: string;
  counters?: ScorerCounters;
}

/**
 * Per consumed batch: requests naming a policy outside the allowed set are rejected (to the
 * dead-letter topic, with the reason), the rest are scored in slices. Per slice: record the
 * recommendations, sum the first-recorded impressions for the linear bandit, write the user
 * vectors, then publish the recommendations and decisions in one send. Records are idempotent
 * per recId, so a replayed batch publishes the same answers and adds no impressions twice.
 */
export function createScorerHandler(deps: ScorerHandlerDeps): BatchHandler<RecRequest> {
  const { pseudonymise, rng, now, defaultK, candidates, scoreToLogit, explanations, logVectors, banditStats } = deps;
  const scoring = {
    pseudonymise,
    rng,
    now,
    defaultK,
    candidates,
    scoreToLogit,
    explanations,
    logVectors,
    banditStats,
    ...(deps.shadows ? { shadows: deps.shadows } : {}),
    ...(deps.shadowRng ? { shadowRng: deps.shadowRng } : {}),
  };
  const splitPolicy = (user: string): Policy => {
    const promoted = deps.servingPolicy?.();
    if (promoted !== undefined) {
      const found = deps.policies.lookup(promoted);
      if (found.ok) return found.policy;
    }
    const spec = assignPolicy(user, deps.split);
    const found = deps.policies.lookup(spec);
    // The worker builds the allowed set with the split's policies; this is a wiring bug.
    if (!found.ok) throw new PolicyConfigError("POLICY_SPLIT", spec, "a policy of the allowed set");
    return found.policy;
  };

  const scoreSlice = async (requests: RecRequest[], policyOf: Map<RecRequest, Policy>): Promise<void> => {
    const started = performance.now();
    const lease = deps.acquireModel();
    try {
      const model = lease.model;
      const linearState = model ? deps.linearState(model.version) : undefined;
      const batch = await scoreRequests(requests, {
        ...scoring,
        store: deps.store,
        model,
        policyFor: (request, user) => policyOf.get(request) ?? splitPolicy(user),
        ...(linearState ? { linearState } : {}),
      });
      // Record impressions before publishing: a click can only follow a published list.
      // Only first recordings feed the linear bandit, so a replayed batch adds nothing twice.
      const fresh = await Promise.all(batch.records.map((record) => deps.store.recordRecommendation(record)));
      batch.records.forEach((record, r) => {
        if (!fresh[r] || !record.modelVersion) return;
        for (const { banditContext, expected } of record.items) {
          if (!banditContext || expected === undefined) continue;
          deps.impressions.add(record.modelVersion, banditContext, expected);
        }
      });
      // The contract's latency is request ts to publish, so it is stamped here, just before the send.
      const publishedAt = deps.now();
      const recommendations: Recommendation[] = batch.recommendations.map((rec, i) => ({
        ...rec,
        latencyMs: requestLatencyMs(requests[i]!.ts, publishedAt),
      }));
      const decisions = batch.decisions.map((d) => ({ key: d.recId, value: d }));
      for (const d of batch.decisions) {
        for (const [shadowId, probabilities] of Object.entries(d.shadow ?? {})) {
          const weight = probabilities.reduce((w, p, r) => w * (p / (d.items[r]?.propensity ?? 1)), 1);
          deps.counters?.shadowed?.(shadowId, weight);
        }
      }
      await deps.send([
        { topic: deps.recommendationsTopic, messages: recommendations.map((rec) => ({ key: rec.user, value: rec })) },
        ...(deps.recLogTopic ? [{ topic: deps.recLogTopic, messages: decisions }] : []),
      ]);
      for (const rec of recommendations) {
        deps.counters?.served(rec.policy, rec.reason ? "cold_start" : "model", rec.latencyMs / 1000);
      }
      deps.counters?.batchSeconds((performance.now() - started) / 1000);
    } finally {
      lease.release();
    }
  };

  return async (messages, ctx) => {
    const accepted: ConsumedMessage<RecRequest>[] = [];
    const rejected: Rejection<RecRequest>[] = [];
    const policyOf = new Map<RecRequest, Policy>();
    for (const m of messages) {
      if (m.value.policy === undefined) {
        accepted.push(m);
        continue;
      }
      const found = deps.policies.lookup(m.value.policy);
      if (!found.ok) {
        rejected.push({ message: m, reason: found.reason, detail: found.detail });
        continue;
      }
      policyOf.set(m.value, found.policy);
      accepted.push(m);
    }
    // Bounded slices: a backlog fetch can hold thousands of requests, and one send of all
    // their answers would exceed the broker's message size limit.
    for (let i = 0; i < accepted.length; i += deps.maxBatch) {
      await scoreSlice(
        accepted.slice(i, i + deps.maxBatch).map((m) => m.value),
        policyOf,
      );
      await ctx.heartbeat();
    }
    return { rejected };
  };
}

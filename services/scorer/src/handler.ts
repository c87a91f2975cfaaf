/**
 * The scorer's logic, free of Kafka and Redis (every dependency is passed in): read histories →
 * one retrieval run for the batch → drop seen items → exploration policy → explanations →
 * recommendations (`scoreRequests`), and per consumed batch the checks, records and the one
 * send around it (`createScorerHandler`).
 */
import { hash } from "node:crypto";
import {
  checkRecFilters,
  requestLatencyMs,
  type RecRequest,
  type Recommendation,
  type RecommendedItem,
} from "@recfleet/contracts";
import type { BatchHandler, ConsumedMessage, OutgoingMessage, Rejection, SendOptions } from "@recfleet/bus";
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
import type { ItemStats, UserView, RecommendationRecord, SealedEnvelope, StoredCatalogItem } from "@recfleet/store";
import type { ModelLease } from "./model-holder";
import type { ItemBias, ServingModel } from "./serving-model";
import { batchBias, type ItemSpace, type ServedItems } from "./item-space";
import { capPerProvider, hasRequestRules, matchesFilters, servable, type OperatorRules } from "./catalog-rules";
import { coalescing } from "./coalesce";

export interface ScoringStore {
  /** Each user's last `historyLength` history entries and seen items, one read per user. */
  readUsers(users: readonly string[], historyLength: number): Promise<UserView[]>;
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
   * Record each shown item's neural-linear context (user ⊙ item) for the linear bandit's sums.
   * Default true; the worker turns it off when no policy it may serve reads the linear state
   * (readsLinearState): the d² sums and the contexts in Redis were then ~10% of its request path.
   */
  linearContexts?: boolean;
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
  /** The item catalog: new items by content, availability, request filters and boosts, operator rules. */
  catalog?: ScoringCatalog;
}

export interface ScoringCatalog {
  space: ItemSpace;
  rules: OperatorRules;
  item(itemId: string): StoredCatalogItem | undefined;
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
  return "r" + hash("sha256", requestId, "hex").slice(0, 24);
}

function userOf(request: RecRequest, pseudonymise: (raw: string) => string): string {
  if (request.user) return request.user;
  if (request.userId) return pseudonymise(request.userId);
  // contracts lets neither be absent through the worker's extra check; keep the type honest.
  throw new RangeError(`rec request ${request.requestId} names no user`);
}

/**
 * A request's explanations: for a shown item's row, the ids of the `n` history items most similar
 * to it in item-tower space (ties: lower row first). The history's vectors are copied once per
 * request into one contiguous block (an int8 version dequantizes each once), and the best `n` are
 * kept as they come instead of sorting the whole history.
 */
function explainer(model: ServingModel, historyRows: readonly number[], n: number): (row: number) => string[] {
  const d = model.dim;
  const rows = n > 0 ? [...new Set(historyRows)] : [];
  const history = new Float32Array(rows.length * d);
  rows.forEach((h, u) => history.set(model.itemVector(h), u * d));
  // The best n so far, best first, in two small arrays reused for every shown item: this runs for
  // every slot of every answer, and objects per history item were most of its cost.
  const bestRow = new Int32Array(n);
  const bestSim = new Float64Array(n);
  const d4 = d - (d % 4);
  return (row) => {
    if (rows.length === 0) return [];
    const vector = model.itemVector(row);
    let kept = 0;
    for (let u = 0, base = 0; u < rows.length; u++, base += d) {
      // Four partial sums: the additions do not wait on each other.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j < d4; j += 4) {
        s0 += vector[j]! * history[base + j]!;
        s1 += vector[j + 1]! * history[base + j + 1]!;
        s2 += vector[j + 2]! * history[base + j + 2]!;
        s3 += vector[j + 3]! * history[base + j + 3]!;
      }
      for (; j < d; j++) s0 += vector[j]! * history[base + j]!;
      const sim = s0 + s1 + (s2 + s3);
      const h = rows[u]!;
      let at = kept;
      while (at > 0 && (sim > bestSim[at - 1]! || (sim === bestSim[at - 1]! && h < bestRow[at - 1]!))) at--;
      if (at >= n) continue;
      if (kept < n) kept++;
      for (let x = kept - 1; x > at; x--) {
        bestSim[x] = bestSim[x - 1]!;
        bestRow[x] = bestRow[x - 1]!;
      }
      bestSim[at] = sim;
      bestRow[at] = h;
    }
    const ids = new Array<string>(kept);
    for (let x = 0; x < kept; x++) ids[x] = model.itemIds[bestRow[x]!]!;
    return ids;
  };
}

/** The neural-linear bandit's context of a shown item: user vector ⊙ item vector. */
function banditContext(userVector: Float32Array, model: ServingModel, itemId: string): Float64Array {
  const row = model.rowOf.get(itemId)!;
  return linearContext(userVector, model.itemVector(row), model.dim);
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
  const { store, catalog } = deps;
  // With a catalog the model serves its vocabulary plus new catalog items (content vectors).
  const served: ServedItems | undefined = deps.model && catalog ? await catalog.space.serve(deps.model) : undefined;
  const model = served?.model ?? deps.model;
  const users = requests.map((r) => userOf(r, deps.pseudonymise));
  // Histories feed only the user tower, so their length is the model's; without a model every
  // request is a cold start and needs no history.
  const views = await store.readUsers(users, model ? model.historyLength : 0);
  const histories = views.map((v) => v.history);
  const seenLists = views.map((v) => v.seen);

  // Warm users (some history item is in this version's vocabulary) share one retrieval run.
  const historyRows = histories.map((h) =>
    model
      ? h.map((e) => model.rowOf.get(e.itemId)).filter((r): r is number => r !== undefined && r < model.vocabularySize)
      : [],
  );
  const warm = requests
    .map((_, i) => historyRows[i]!.length > 0)
    .map((w, i) => (w ? i : -1))
    .filter((i) => i >= 0);
  const excluded = requests.map(
    (r, i) => new Set([...seenLists[i]!, ...(r.exclude ?? []), ...(r.filters?.excludeItems ?? [])]),
  );
  // Filters, boosts and availability go into retrieval as item_bias: the candidates handed to the
  // policy are already the filtered set, so its propensities are exact over that set.
  const logitPerCosine = deps.scoreToLogit(1) - deps.scoreToLogit(0);
  const rules = served
    ? batchBias(
        served,
        warm.map((i) => requests[i]!),
        hasRequestRules,
        logitPerCosine,
      )
    : undefined;
  const bias: ItemBias | undefined = rules?.bias;
  const maxExcluded = Math.max(0, ...warm.map((i) => excluded[i]!.size));
  const retrieval =
    model && warm.length > 0
      ? await model.retrieve(
          warm.map((i) => historyRows[i]!),
          deps.candidates + maxExcluded,
          bias,
        )
      : undefined;

  const warmSlot = new Map(warm.map((reqIndex, b) => [reqIndex, b]));
  const candidatesOf = new Map<number, Candidate[]>();
  const cappedProviders = new Map<number, Set<string>>();
  if (model && retrieval) {
    warm.forEach((reqIndex, b) => {
      let list: Candidate[] = [];
      for (let j = 0; j < retrieval.k && list.length < deps.candidates; j++) {
        const row = retrieval.rows[b * retrieval.k + j]!;
        const itemId = model.itemIds[row]!;
        const cosine = retrieval.scores[b * retrieval.k + j]!;
        if (cosine === -Infinity) break; // masked out: every later one is too
        if (excluded[reqIndex]!.has(itemId)) continue;
        list.push({
          itemId,
          score: deps.scoreToLogit(cosine),
          vector: model.itemVector(row),
          ...(row >= model.vocabularySize ? { isNew: true } : {}),
        });
      }
      if (catalog && catalog.rules.maxPerProvider > 0) {
        const capped = capPerProvider(list, (id) => catalog.item(id)?.provider, catalog.rules.maxPerProvider);
        list = capped.kept;
        cappedProviders.set(reqIndex, capped.capped);
      }
      candidatesOf.set(reqIndex, list);
    });
  }
  const ruleOf = (reqIndex: number, itemId: string): string | undefined => {
    if (!model || !catalog) return undefined;
    const boost = rules?.boostRule(warmSlot.get(reqIndex)!, model.rowOf.get(itemId)!);
    if (boost) return boost;
    const provider = catalog.item(itemId)?.provider;
    if (provider !== undefined && cappedProviders.get(reqIndex)?.has(provider))
      return `provider cap: at most ${catalog.rules.maxPerProvider} per provider`;
    if (model.rowOf.get(itemId)! >= model.vocabularySize) return "new item: content vector (no interactions yet)";
    return undefined;
  };

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
        .filter((p) => !catalog || servable(catalog.item(p.itemId), catalog.rules))
        .filter((p) => !request.filters || matchesFilters(p.itemId, catalog?.item(p.itemId), request.filters))
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
    const because = explainer(model, historyRows[i]!, deps.explanations);
    const items: RecommendedItem[] = decision.items.map((s) => {
      const row = model.rowOf.get(s.itemId)!;
      const rule = ruleOf(i, s.itemId);
      return {
        itemId: s.itemId,
        score: s.score,
        rank: s.rank,
        propensity: s.propensity,
        explored: s.explored,
        because: because(row),
        ...(rule ? { rule } : {}),
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
    // The model's logit, not a boosted one (a cold-start boost changes the slate's scores).
    const logitOf = (itemId: string): number => candidates.find((c) => c.itemId === itemId)?.score ?? 0;
    records.push({
      recId: base.recId,
      policy: decision.policyId,
      servedAt,
      modelVersion: model.version,
      items: items.map((it) => ({
        itemId: it.itemId,
        expected: 1 / (1 + Math.exp(-logitOf(it.itemId))),
        ...(deps.linearContexts !== false ? { banditContext: banditContext(userVector, model, it.itemId) } : {}),
      })),
    });
  }
  return { recommendations, records, decisions, coldStarts };
}

/** What the handler needs of the store besides reads: the records it writes. */
export interface ScorerStore extends ScoringStore {
  recordRecommendations(records: readonly RecommendationRecord[]): Promise<boolean[]>;
}

export interface ScorerCounters {
  /** One published recommendation: policy id (an allowed policy's or "popular"), kind, latency. */
  served(policy: string, kind: "model" | "cold_start", latencySeconds: number): void;
  batchSeconds(seconds: number): void;
  /**
   * Where a run's time goes: "wait" (per request: its ts to the start of its run — the fetch and
   * the runs ahead of it), "score" (reads, retrieval, policy), then from the start of the writes
   * "record" (Redis), "answer" (the broker's ack of the answers) and "log" (sealing and the
   * decision log's ack), which overlap.
   */
  phaseSeconds?(phase: RunPhase, seconds: number): void;
  /**
   * Requests not answered because their deadline passed: "before_scoring" (already past when
   * their turn came) or "after_scoring" (scored, but past it by publish time).
   */
  expired?(stage: "before_scoring" | "after_scoring", count: number): void;
  /** One served slate scored by a shadow policy: its full-slate weight Π π_shadow/μ (support diagnostic). */
  shadowed?(shadowId: string, slateWeight: number): void;
}

export type RunPhase = "wait" | "score" | "record" | "answer" | "log";

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
  /**
   * Requests scored and answered in one send; bigger fetched batches are sliced, and batches of
   * partitions consumed at the same time are joined up to this size (coalesce.ts).
   */
  maxBatch: number;
  /** Runs in flight at once (SCORER_RUNS_IN_FLIGHT; default 1). */
  runsInFlight?: number;
  send(batches: { topic: string; messages: OutgoingMessage[] }[], options?: SendOptions): Promise<void>;
  /** Sends the decision logs beside the answers (a producer of their own); none: through `send`. */
  sendLogs?(batches: { topic: string; messages: OutgoingMessage[] }[], options?: SendOptions): Promise<void>;
  recommendationsTopic: string;
  /** rec.replies: answers to requests naming a replyPartition (gateways); none: every answer goes to recommendations. */
  repliesTopic?: string;
  /** Topic of the decision log; none: not published. */
  recLogTopic?: string;
  /** Crypto-shredding: seals each decision with its user's data key (the keyring's sealForUsers). */
  sealDecisions?: (values: { user: string; value: DecisionLogRecord }[]) => Promise<SealedEnvelope[]>;
  counters?: ScorerCounters;
}

/**
 * Per consumed batch: requests naming a policy outside the allowed set are rejected (to the
 * dead-letter topic, with the reason), the rest are scored in slices, joined with the slices of
 * other partitions handed in meanwhile. Per slice: drop requests past their deadline, score,
 * then record the recommendations (bandit impressions) and publish them with the decisions in
 * one send, both at once; first-recorded impressions are summed for the linear bandit. The batch
 * commits only after both are done. Records are idempotent per recId, so a replayed batch
 * publishes the same answers and adds no impressions twice.
 */
export function createScorerHandler(deps: ScorerHandlerDeps): BatchHandler<RecRequest> {
  const { pseudonymise, rng, now, defaultK, candidates, scoreToLogit, explanations, logVectors, catalog, banditStats } =
    deps;
  const scoring = {
    pseudonymise,
    rng,
    now,
    defaultK,
    candidates,
    scoreToLogit,
    explanations,
    logVectors,
    catalog,
    banditStats,
    ...(deps.shadows ? { shadows: deps.shadows } : {}),
    ...(deps.shadowRng ? { shadowRng: deps.shadowRng } : {}),
    ...(deps.linearContexts !== undefined ? { linearContexts: deps.linearContexts } : {}),
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

  // Policies named by requests (checked when their batch came in), for whichever slice scores them.
  const policyOf = new WeakMap<RecRequest, Policy>();
  const sendLogs = deps.sendLogs ?? deps.send;
  const pastDeadline = (request: RecRequest, t: number) => request.deadline !== undefined && t > request.deadline;

  const scoreSlice = async (slice: RecRequest[]): Promise<void> => {
    const started = performance.now();
    // An answer nobody waits for any more is not worth computing (a backlog after a failover
    // clears faster); the asker has fallen back.
    const turn = deps.now();
    const requests = slice.filter((r) => !pastDeadline(r, turn));
    if (requests.length < slice.length) deps.counters?.expired?.("before_scoring", slice.length - requests.length);
    if (requests.length === 0) return;
    const phase = deps.counters?.phaseSeconds;
    if (phase) for (const r of requests) phase("wait", Math.max(0, turn - r.ts) / 1000);
    const lease = deps.acquireModel();
    try {
      const model = lease.model;
      const linearState = model ? deps.linearState(model.version) : undefined;
      const scored = await scoreRequests(requests, {
        ...scoring,
        store: deps.store,
        model,
        policyFor: (request, user) => policyOf.get(request) ?? splitPolicy(user),
        ...(linearState ? { linearState } : {}),
      });
      // The contract's latency is request ts to publish, so it is stamped here, just before the send.
      const publishedAt = deps.now();
      const writesStarted = performance.now();
      phase?.("score", (writesStarted - started) / 1000);
      const timed = <T>(name: RunPhase, write: Promise<T>): Promise<T> =>
        phase ? write.then((v) => (phase(name, (performance.now() - writesStarted) / 1000), v)) : write;
      // Past its deadline by now: not sent, not recorded, not logged (nobody is shown it).
      const late = new Set(requests.filter((r) => pastDeadline(r, publishedAt)).map((r) => recIdFor(r.requestId)));
      if (late.size > 0) deps.counters?.expired?.("after_scoring", late.size);
      const onTime = <T extends { recId: string }>(list: T[]) =>
        late.size > 0 ? list.filter((x) => !late.has(x.recId)) : list;
      const batch = {
        recommendations: onTime(scored.recommendations),
        records: onTime(scored.records),
        decisions: onTime(scored.decisions),
      };
      const requestOf = new Map(requests.map((r) => [r.requestId, r]));
      const recommendations: Recommendation[] = batch.recommendations.map((rec) => ({
        ...rec,
        latencyMs: requestLatencyMs(requestOf.get(rec.requestId)!.ts, publishedAt),
      }));
      const userOf = new Map(batch.recommendations.map((r) => [r.recId, r.user]));
      for (const d of batch.decisions) {
        for (const [shadowId, probabilities] of Object.entries(d.shadow ?? {})) {
          const weight = probabilities.reduce((w, p, r) => w * (p / (d.items[r]?.propensity ?? 1)), 1);
          deps.counters?.shadowed?.(shadowId, weight);
        }
      }
      // A request naming a reply partition (a gateway's) is answered there, and only there.
      const toRecommendations: OutgoingMessage[] = [];
      const toReplies: OutgoingMessage[] = [];
      recommendations.forEach((rec) => {
        const partition = requestOf.get(rec.requestId)!.replyPartition;
        if (partition === undefined || !deps.repliesTopic) toRecommendations.push({ key: rec.user, value: rec });
        else toReplies.push({ key: rec.user, value: rec, partition });
      });
      // Records (impressions, and what click attribution reads), the answers and the decision log
      // go at once; the records go to Redis first, and a click on a published answer reaches Redis
      // only through Kafka, ingest and features, well after them. The answers have a send of their
      // own: they do not wait for the decision logs' sealing (a data-key read) and encoding. They go
      // uncompressed: they are the latency path, and gzip of a batch of them (~1.6 KB each) was
      // 5% of a backlog drain's CPU, on the event loop, and again in every reader. The batch
      // commits after all three: a crash in between replays it, and each is idempotent per recId.
      const recorded = timed("record", deps.store.recordRecommendations(batch.records));
      const answered = timed(
        "answer",
        deps.send(
          [
            { topic: deps.recommendationsTopic, messages: toRecommendations },
            ...(deps.repliesTopic ? [{ topic: deps.repliesTopic, messages: toReplies }] : []),
          ],
          { compression: "none" },
        ),
      );
      const logged = timed(
        "log",
        (async () => {
          if (!deps.recLogTopic || batch.decisions.length === 0) return;
          const decisions: OutgoingMessage[] = batch.decisions.map((d) => ({ key: d.recId, value: d }));
          if (!deps.sealDecisions) {
            await sendLogs([{ topic: deps.recLogTopic, messages: decisions }]);
            return;
          }
          const sealed = await deps.sealDecisions(
            batch.decisions.map((d) => ({ user: userOf.get(d.recId)!, value: d })),
          );
          sealed.forEach((value, i) => (decisions[i]!.value = value));
          // Ciphertext does not compress: deflate spent ~450 µs a format-1 record to save base64's quarter (bench/decision-log.ts).
          await sendLogs([{ topic: deps.recLogTopic, messages: decisions }], { compression: "none" });
        })(),
      );
      const sent = Promise.all([answered, logged]);
      const [fresh] = await Promise.all([recorded, sent]);
      // Only first recordings feed the linear bandit, so a replayed batch adds nothing twice.
      batch.records.forEach((record, r) => {
        if (!fresh[r] || !record.modelVersion) return;
        for (const { banditContext, expected } of record.items) {
          if (!banditContext || expected === undefined) continue;
          deps.impressions.add(record.modelVersion, banditContext, expected);
        }
      });
      for (const rec of recommendations) {
        deps.counters?.served(rec.policy, rec.reason ? "cold_start" : "model", rec.latencyMs / 1000);
      }
      deps.counters?.batchSeconds((performance.now() - started) / 1000);
    } finally {
      lease.release();
    }
  };

  const scoreJoined = coalescing(scoreSlice, deps.maxBatch, deps.runsInFlight);

  return async (messages, ctx) => {
    const accepted: ConsumedMessage<RecRequest>[] = [];
    const rejected: Rejection<RecRequest>[] = [];
    for (const m of messages) {
      const badFilter = checkRecFilters(m.value.filters);
      if (badFilter !== undefined) {
        rejected.push({ message: m, reason: "invalid_filter", detail: badFilter });
        continue;
      }
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
      await scoreJoined(accepted.slice(i, i + deps.maxBatch).map((m) => m.value));
      await ctx.heartbeat();
    }
    return { rejected };
  };
}

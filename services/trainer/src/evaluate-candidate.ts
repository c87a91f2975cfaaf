/**
 * Offline evaluation on the held-out slice and the promotion gate, pure. Both the candidate and
 * the current model are scored on the same cases; items are matched by id, so models with
 * different vocabularies compare fairly (an item a model does not know can never be retrieved
 * by it, and history items it does not know are left out of its user vector).
 */
import type { TwoTowerModel } from "@recfleet/towers";
import { historyScorer, ndcgAtK, recallAtK, topK } from "@recfleet/evaluation";
import type { EvalCase } from "./examples";

export interface EvalMetrics {
  k: number;
  recall: number;
  ndcg: number;
  /** Held-out users scored. */
  users: number;
}

/** Which model an evaluation is for; the test-only evaluation hook receives it. */
export type EvalRole = "candidate" | "current";
export type EvaluateFn = (
  model: TwoTowerModel,
  cases: readonly EvalCase[],
  k: number,
  role: EvalRole,
) => EvalMetrics | Promise<EvalMetrics>;

/** Held-out users scored per call: bounds the score matrix (batch × items floats). */
const EVAL_BATCH = 256;

/** Recall@k and NDCG@k over the held-out cases, seen items excluded from the ranking. */
export function evaluateModel(model: TwoTowerModel, cases: readonly EvalCase[], k: number): EvalMetrics {
  if (cases.length === 0) return { k, recall: 0, ndcg: 0, users: 0 };
  const row = new Map(model.itemIds.map((id, r) => [id, r]));
  const rowsOf = (ids: readonly string[]) => ids.map((id) => row.get(id)).filter((r): r is number => r !== undefined);
  const n = model.itemIds.length;
  const score = historyScorer(
    model,
    cases.map((c) => rowsOf(c.history)),
  );
  let recall = 0;
  let ndcg = 0;
  for (let start = 0; start < cases.length; start += EVAL_BATCH) {
    const batch = Array.from({ length: Math.min(EVAL_BATCH, cases.length - start) }, (_, b) => start + b);
    const scores = score(batch);
    batch.forEach((i, b) => {
      const c = cases[i]!;
      const ranked = topK(scores, b * n, n, k, new Set(rowsOf(c.seen)));
      // Unknown targets stay in the relevant set (as -1-based placeholders) so they count as misses.
      const relevant = new Set(c.targets.map((id, j) => row.get(id) ?? -1 - j));
      recall += recallAtK(ranked, relevant, k);
      ndcg += ndcgAtK(ranked, relevant, k);
    });
  }
  return { k, recall: recall / cases.length, ndcg: ndcg / cases.length, users: cases.length };
}

export type PromotionCode =
  "no_current_model" | "current_unusable" | "not_worse" | "worse_than_current" | "empty_holdout" | "below_floor";

export interface PromotionDecision {
  promote: boolean;
  code: PromotionCode;
  /** One line a person can read: the metric, both values and the margin. */
  detail: string;
}

export interface PromotionPolicy {
  metric: "recall" | "ndcg";
  /** Absolute: reject when candidate < current − margin. */
  margin: number;
  /** With nothing to compare against, reject a candidate whose recall is below this (absolute). */
  minRecall: number;
}

const f = (x: number) => x.toFixed(4);

/**
 * The gate: promote unless the candidate is worse than the current model by more than the
 * margin on the chosen metric (both measured on the same held-out slice).
 */
export function decidePromotion(
  candidate: EvalMetrics,
  current: EvalMetrics | { unusable: string } | undefined,
  policy: PromotionPolicy,
): PromotionDecision {
  const name = `${policy.metric}@${candidate.k}`;
  // Without a usable current model the margin compares against nothing, so an untrained or
  // broken candidate (recall 0.0 after the registry was lost) would otherwise be promoted.
  if ((current === undefined || "unusable" in current) && !(candidate.recall >= policy.minRecall))
    return {
      promote: false,
      code: "below_floor",
      detail: `candidate recall@${candidate.k} ${f(candidate.recall)} < floor ${policy.minRecall} (PROMOTE_MIN_RECALL) on ${candidate.users} held-out users, and no usable current model`,
    };
  if (current === undefined)
    return {
      promote: true,
      code: "no_current_model",
      detail: `no current model; candidate ${name} ${f(candidate[policy.metric])}`,
    };
  if ("unusable" in current)
    return {
      promote: true,
      code: "current_unusable",
      detail: `current model cannot be evaluated (${current.unusable}); candidate ${name} ${f(candidate[policy.metric])}`,
    };
  if (candidate.users === 0)
    return {
      promote: false,
      code: "empty_holdout",
      detail: "no user has enough events in the window to hold one out; keeping the current model",
    };
  const c = candidate[policy.metric];
  const cur = current[policy.metric];
  if (c < cur - policy.margin) {
    return {
      promote: false,
      code: "worse_than_current",
      detail: `candidate ${name} ${f(c)} < current ${f(cur)} − margin ${policy.margin} (PROMOTE_MARGIN) on ${candidate.users} held-out users`,
    };
  }
  return {
    promote: true,
    code: "not_worse",
    detail: `candidate ${name} ${f(c)} ≥ current ${f(cur)} − margin ${policy.margin} on ${candidate.users} held-out users`,
  };
}

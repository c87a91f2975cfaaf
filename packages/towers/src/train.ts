import * as ort from "onnxruntime-node";
import { SeededRandom } from "@recfleet/numeric";
import { resolveConfig, type TwoTowerConfig } from "./config.js";
import { TrainingAbortedError, TwoTowerConfigError } from "./errors.js";
import { historyWeights, initWeights, POOL_EPS, WEIGHT_NAMES, type TowerWeights, type TwoTowerModel } from "./model.js";
import { buildTrainingGraph, MLP_TENSORS } from "./train-graph.js";

export interface TrainingExample {
  /** Item rows the user interacted with before the target, oldest → newest (the newest historyLength are used). */
  history: readonly number[];
  /** Item row of the positive. */
  target: number;
  /** Optional pooling weight per history item (e.g. by event type), parallel to history. */
  historyWeights?: readonly number[];
}

export interface TrainingData {
  /** Item vocabulary in row order. */
  itemIds: string[];
  /** itemIds.length × F content features, row-major (F may be 0). */
  itemFeatures: Float32Array;
  examples: readonly TrainingExample[];
  /**
   * Examples as users' event sequences instead (then `examples` must be empty): every event but a
   * user's first is the target of one example whose history is the events before it. Histories
   * are built per batch, never all at once, so memory grows with the events, not events × history.
   */
  sequences?: TrainingSequences;
  /**
   * Occurrences per item row for the logQ correction; default: how often each row is a
   * target. ML100K-CHRONO passes all train interactions, as the peer does.
   */
  itemFrequency?: ArrayLike<number>;
}

export interface TrainingProgress {
  epoch: number; // 1-based
  epochs: number;
  step: number; // steps done in this epoch
  stepsPerEpoch: number;
  /** Mean training loss over this epoch so far. */
  loss: number;
  examplesPerSecond: number;
  etaSeconds: number;
}

export interface TrainOptions {
  /** Continue from this model: its rows are kept for items it knows, new items get fresh rows. */
  warmStart?: TwoTowerModel;
  onProgress?: (progress: TrainingProgress) => void;
  /** How often onProgress fires within an epoch (it always fires at each epoch end). Default 1000 ms. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /**
   * Called after each epoch with the model trained so far (its weights keep changing in place
   * afterwards: read what you need before returning). Return "stop" to end training there —
   * early stopping on a validation split. With the constant schedule the model after epoch k
   * equals a k-epoch run, so one run gives the whole validation curve over epochs.
   */
  onEpochEnd?: (epoch: number, model: TwoTowerModel) => void | "stop" | Promise<void | "stop">;
  /**
   * How Adam treats the embedding tables. "dense" (the default, as PyTorch's Adam and the peer):
   * every row moves each step, rows the batch did not touch with their momentum. "lazy" (as
   * torch.optim.SparseAdam): only the rows the batch touched are updated, their moments
   * included — per step cost grows with the batch, not the catalog; at 100k items it is the
   * difference between updating ~10k rows and 200k. Changes the numerics: opt-in.
   */
  embeddingAdam?: "dense" | "lazy";
}

/** Users' event sequences, back to back: user u's item rows, oldest → newest, are items[offsets[u] .. offsets[u+1]). */
export interface TrainingSequences {
  items: Int32Array;
  /** users + 1 ascending offsets into items, from 0 to items.length. */
  offsets: Int32Array;
}

/** Examples whose histories are cut out of users' sequences one batch at a time. */
export interface SequenceExamples {
  count: number;
  items: Int32Array;
  /** Per example, the position of its target in items. */
  targetAt: Int32Array;
  /** Per example, the position of its user's first event in items. */
  userStartAt: Int32Array;
  /** Pooling weights of a history of length n (1 ≤ n ≤ L): slots L·(n−1) … L·(n−1)+n−1, as packExamples computes them. */
  weightsByLength: Float32Array;
}

export type ExampleSource = PackedExamples | SequenceExamples;

export function sequenceExamplesOf(
  config: TwoTowerConfig,
  sequences: TrainingSequences,
  numItems: number,
): SequenceExamples {
  const { items, offsets } = sequences;
  const users = offsets.length - 1;
  if (users < 0 || offsets[0] !== 0 || offsets[users] !== items.length)
    throw new TwoTowerConfigError(`sequences.offsets must run from 0 to items.length (${items.length})`, "sequences");
  let count = 0;
  for (let u = 0; u < users; u++) {
    const length = offsets[u + 1]! - offsets[u]!;
    if (length < 0) throw new TwoTowerConfigError(`sequences.offsets must ascend (user ${u})`, "sequences");
    count += Math.max(0, length - 1);
  }
  for (let p = 0; p < items.length; p++) {
    const row = items[p]!;
    if (!(row >= 0 && row < numItems))
      throw new TwoTowerConfigError(`sequences.items[${p}] ${row} is not an item row in [0, ${numItems})`, "sequences");
  }
  const targetAt = new Int32Array(count);
  const userStartAt = new Int32Array(count);
  let e = 0;
  for (let u = 0; u < users; u++) {
    for (let p = offsets[u]! + 1; p < offsets[u + 1]!; p++) {
      targetAt[e] = p;
      userStartAt[e++] = offsets[u]!;
    }
  }
  const L = config.historyLength;
  const weightsByLength = new Float32Array(L * L);
  for (let n = 1; n <= L; n++) {
    const w = historyWeights(config, n);
    let total = 0;
    for (const x of w) total += x;
    const denom = Math.max(total, POOL_EPS);
    for (let j = 0; j < n; j++) weightsByLength[(n - 1) * L + j] = w[j]! / denom;
  }
  return { count, items, targetAt, userStartAt, weightsByLength };
}

/**
 * Copies the batch's examples into B × L slot rows and weights (right-aligned, padding 0) and
 * B targets — a packed example's slots as they are, a sequence example's cut from its user's events.
 */
function fillBatch(
  source: ExampleSource,
  L: number,
  batch: Int32Array,
  rows: Int32Array,
  weights: Float32Array,
  targets: Int32Array,
): void {
  if ("historyRows" in source) {
    for (let b = 0; b < batch.length; b++) {
      const e = batch[b]!;
      rows.set(source.historyRows.subarray(e * L, e * L + L), b * L);
      weights.set(source.historyWeight.subarray(e * L, e * L + L), b * L);
      targets[b] = source.targets[e]!;
    }
    return;
  }
  const { items, targetAt, userStartAt, weightsByLength } = source;
  for (let b = 0; b < batch.length; b++) {
    const e = batch[b]!;
    const end = targetAt[e]!;
    const n = Math.min(L, end - userStartAt[e]!);
    const pad = L - n;
    rows.fill(0, b * L, b * L + pad);
    weights.fill(0, b * L, b * L + pad);
    rows.set(items.subarray(end - n, end), b * L + pad);
    weights.set(weightsByLength.subarray((n - 1) * L, (n - 1) * L + n), b * L + pad);
    targets[b] = items[end]!;
  }
}

/** Examples packed into flat arrays: slots are right-aligned like the ONNX `history` input. */
export interface PackedExamples {
  count: number;
  historyRows: Int32Array; // count × L
  historyWeight: Float32Array; // count × L, normalised so each row sums to 1 (0 on padding)
  targets: Int32Array;
}

export function packExamples(
  config: TwoTowerConfig,
  examples: readonly TrainingExample[],
  numItems: number,
): PackedExamples {
  const L = config.historyLength;
  const n = examples.length;
  const historyRows = new Int32Array(n * L);
  const historyWeight = new Float32Array(n * L);
  const targets = new Int32Array(n);
  examples.forEach((ex, e) => {
    if (!Number.isInteger(ex.target) || ex.target < 0 || ex.target >= numItems) {
      throw new TwoTowerConfigError(
        `examples[${e}].target ${ex.target} is not an item row in [0, ${numItems})`,
        "examples",
      );
    }
    targets[e] = ex.target;
    const w = historyWeights(config, ex.history.length, ex.historyWeights);
    let total = 0;
    for (const x of w) total += x;
    const denom = Math.max(total, POOL_EPS);
    const skip = ex.history.length - w.length;
    const pad = L - w.length;
    for (let j = 0; j < w.length; j++) {
      const row = ex.history[skip + j]!;
      if (!Number.isInteger(row) || row < 0 || row >= numItems) {
        throw new TwoTowerConfigError(
          `examples[${e}].history holds ${row}, not an item row in [0, ${numItems})`,
          "examples",
        );
      }
      historyRows[e * L + pad + j] = row;
      historyWeight[e * L + pad + j] = w[j]! / denom;
    }
  });
  return { count: n, historyRows, historyWeight, targets };
}

/** Per-batch-size buffers and tensors, reused across steps so a step allocates nothing. */
interface StepBuffers {
  size: number;
  slotRows: Int32Array; // B × L item rows of the history slots
  historyWeight: Float32Array; // B × L slot weights after historyDropout
  targets: Int32Array; // B
  dropId: Uint8Array;
  pooled: Float32Array;
  itemInput: Float32Array;
  columnBias: Float32Array; // B: −logQWeight·log q(target_j)
  bias: Float32Array; // B × B
  sameTargetNext: Int32Array; // B: the next batch row with the same target (−1 = none)
  feeds: Record<string, ort.Tensor>;
  /** Outputs onnxruntime writes into (preallocated), keyed by the grads they belong to. */
  fetches: Record<string, ort.Tensor>;
  fetchesFor: TowerWeights | undefined;
  weightsFor: TowerWeights | undefined;
  gradPooled: Float32Array;
  gradItemInput: Float32Array;
  loss: Float32Array;
}

/** One ONNX session that computes the loss and all gradients of a batch. */
export class GradientComputer {
  private buffers: StepBuffers | undefined;
  /** Embedding rows the previous run wrote into `zeroedGrads` (all else there is zero). */
  private zeroedGrads: TowerWeights | undefined;
  private touchedHistory = new Int32Array(0);
  private touchedHistoryCount = 0;
  private touchedItem = new Int32Array(0);
  private touchedItemCount = 0;
  private rowStamp = new Int32Array(0);
  private rowHead = new Int32Array(0);
  private stamp = 0;
  private keptWeights = new Float32Array(0);

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: TwoTowerConfig,
    private readonly featureWidth: number,
  ) {}

  static async create(config: TwoTowerConfig, featureWidth: number): Promise<GradientComputer> {
    const session = await ort.InferenceSession.create(buildTrainingGraph(config, featureWidth), {
      executionProviders: ["cpu"],
      intraOpNumThreads: config.threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    return new GradientComputer(session, config, featureWidth);
  }

  /**
   * Loss and gradients of the batch `batch` (indices into packed); `grads` is overwritten
   * (embedding tables: zero except the rows the batch touched). Rows from `negativesFrom` on
   * only lend their item as a negative to the rows before (their own row is masked to a zero
   * loss and gradient): DP-SGD's per-user batches use that for data-independent negatives.
   *
   * When the same `grads` is passed again, only the embedding rows the previous call touched
   * are re-zeroed (not the whole tables): a caller may change those rows, nothing else.
   */
  async run(
    weights: TowerWeights,
    itemFeatures: Float32Array,
    logQ: Float64Array | undefined,
    examples: ExampleSource,
    batch: Int32Array,
    grads: TowerWeights,
    rng?: SeededRandom,
    negativesFrom = batch.length,
  ): Promise<number> {
    const { dim: d, historyLength: L } = this.config;
    const F = this.featureWidth;
    const B = batch.length;
    const inWidth = d + F;
    const buf = this.buffersFor(B, weights, grads);
    const { slotRows, targets } = buf;
    fillBatch(examples, L, batch, slotRows, buf.historyWeight, targets);
    const historyWeight = this.dropHistory(buf.historyWeight, B, rng);
    const histTable = weights.historyEmbedding;
    const itemTable = weights.itemEmbedding;

    // idDropout: these targets are seen through their content alone (id embedding zeroed, no id gradient).
    const dropId = buf.dropId;
    dropId.fill(0);
    if (this.config.idDropout > 0 && F > 0 && rng !== undefined)
      for (let b = 0; b < B; b++) dropId[b] = rng.next() < this.config.idDropout ? 1 : 0;
    // Gather: pooled history and item-tower input. The inner loops are unrolled by hand
    // (d is a multiple of 8 or handled by the tail): V8 does not, and each dimension is
    // independent, so the sums are the same as the plain loop's.
    const pooled = buf.pooled;
    const itemInput = buf.itemInput;
    pooled.fill(0);
    for (let b = 0; b < B; b++) {
      const out = b * d;
      for (let s = b * L; s < b * L + L; s++) {
        const w = historyWeight[s]!;
        if (w === 0) continue;
        addScaledRow(pooled, out, histTable, slotRows[s]! * d, w, d);
      }
      const t = targets[b]!;
      if (dropId[b] === 0) itemInput.set(itemTable.subarray(t * d, t * d + d), b * inWidth);
      else itemInput.fill(0, b * inWidth, b * inWidth + d);
      if (F > 0) itemInput.set(itemFeatures.subarray(t * F, t * F + F), b * inWidth + d);
    }
    this.fillLogitBias(buf, logQ, negativesFrom);

    await this.session.run(buf.feeds, buf.fetches);

    // Scatter: embedding-row gradients (the MLP gradients were written into grads directly).
    const gPooled = buf.gradPooled;
    const gItemInput = buf.gradItemInput;
    const gHist = grads.historyEmbedding;
    const gItem = grads.itemEmbedding;
    this.clearEmbeddingGrads(grads, d);
    const histStamp = this.nextStamp(gHist.length / d);
    let touchedHistory = 0;
    for (let b = 0; b < B; b++) {
      const src = b * d;
      for (let s = b * L; s < b * L + L; s++) {
        const w = historyWeight[s]!;
        if (w === 0) continue;
        const row = slotRows[s]!;
        if (this.rowStamp[row] !== histStamp) {
          this.rowStamp[row] = histStamp;
          this.touchedHistory[touchedHistory++] = row;
        }
        addScaledRow(gHist, row * d, gPooled, src, w, d);
      }
    }
    this.touchedHistoryCount = touchedHistory;
    const itemStamp = this.nextStamp(gItem.length / d);
    let touchedItem = 0;
    for (let b = 0; b < B; b++) {
      if (dropId[b] === 1) continue;
      const row = targets[b]!;
      if (this.rowStamp[row] !== itemStamp) {
        this.rowStamp[row] = itemStamp;
        this.touchedItem[touchedItem++] = row;
      }
      addScaledRow(gItem, row * d, gItemInput, b * inWidth, 1, d);
    }
    this.touchedItemCount = touchedItem;
    this.zeroedGrads = grads;
    return buf.loss[0]!;
  }

  /** Embedding rows the last run gave a gradient: history table, item table. */
  touchedRows(): { history: Int32Array; item: Int32Array } {
    return {
      history: this.touchedHistory.subarray(0, this.touchedHistoryCount),
      item: this.touchedItem.subarray(0, this.touchedItemCount),
    };
  }

  /** A fresh stamp for marking rows of a table with `rows` rows (grows the marks as needed). */
  private nextStamp(rows: number): number {
    if (this.rowStamp.length < rows) {
      this.rowStamp = new Int32Array(rows);
      this.rowHead = new Int32Array(rows);
      this.touchedHistory = new Int32Array(rows);
      this.touchedItem = new Int32Array(rows);
      this.stamp = 0;
      this.zeroedGrads = undefined; // the touched-row lists are gone: clear whole tables next time
    }
    return ++this.stamp;
  }

  /** Zero the embedding gradients: only the rows last written when grads is the same buffer. */
  private clearEmbeddingGrads(grads: TowerWeights, d: number): void {
    if (this.zeroedGrads !== grads) {
      grads.historyEmbedding.fill(0);
      grads.itemEmbedding.fill(0);
      return;
    }
    for (let i = 0; i < this.touchedHistoryCount; i++) {
      const row = this.touchedHistory[i]! * d;
      grads.historyEmbedding.fill(0, row, row + d);
    }
    for (let i = 0; i < this.touchedItemCount; i++) {
      const row = this.touchedItem[i]! * d;
      grads.itemEmbedding.fill(0, row, row + d);
    }
  }

  /**
   * Logit bias: −log q of each column's item on every row; a repeated target is masked off the
   * diagonal (as the peer does) so an item is never its own negative; a negatives-only row sees
   * only its own column (softmax 1 there, so loss and gradient 0).
   */
  private fillLogitBias(buf: StepBuffers, logQ: Float64Array | undefined, negativesFrom: number): void {
    const B = buf.size;
    const { columnBias, bias, sameTargetNext, targets } = buf;
    for (let j = 0; j < B; j++) columnBias[j] = logQ === undefined ? 0 : -this.config.logQWeight * logQ[targets[j]!]!;
    for (let i = 0; i < B; i++) bias.set(columnBias, i * B);
    // Rows sharing a target, as linked lists through sameTargetNext (heads stamped per call).
    const stamp = this.nextStamp(this.rowStamp.length);
    const head = this.rowHead;
    for (let b = B - 1; b >= 0; b--) {
      const t = targets[b]!;
      sameTargetNext[b] = this.rowStamp[t] === stamp ? head[t]! : -1;
      this.rowStamp[t] = stamp;
      head[t] = b;
    }
    for (let b = 0; b < B; b++) {
      if (sameTargetNext[b] === -1 || head[targets[b]!] !== b) continue;
      for (let i = b; i !== -1; i = sameTargetNext[i]!)
        for (let j = b; j !== -1; j = sameTargetNext[j]!) if (i !== j) bias[i * B + j] = -1e9;
    }
    for (let i = negativesFrom; i < B; i++) {
      bias.fill(-1e9, i * B, i * B + B);
      bias[i * B + i] = 0;
    }
  }

  private buffersFor(B: number, weights: TowerWeights, grads: TowerWeights): StepBuffers {
    const { dim: d, historyLength: L } = this.config;
    const F = this.featureWidth;
    if (this.rowStamp.length < weights.itemEmbedding.length / d) this.nextStamp(weights.itemEmbedding.length / d);
    let buf = this.buffers;
    if (buf === undefined || buf.size !== B) {
      const pooled = new Float32Array(B * d);
      const itemInput = new Float32Array(B * (d + F));
      const bias = new Float32Array(B * B);
      const gradPooled = new Float32Array(B * d);
      const gradItemInput = new Float32Array(B * (d + F));
      const loss = new Float32Array(1);
      buf = {
        size: B,
        slotRows: new Int32Array(B * L),
        historyWeight: new Float32Array(B * L),
        targets: new Int32Array(B),
        dropId: new Uint8Array(B),
        pooled,
        itemInput,
        columnBias: new Float32Array(B),
        bias,
        sameTargetNext: new Int32Array(B),
        feeds: {
          pooled: new ort.Tensor("float32", pooled, [B, d]),
          item_input: new ort.Tensor("float32", itemInput, [B, d + F]),
          logit_bias: new ort.Tensor("float32", bias, [B, B]),
        },
        fetches: {},
        fetchesFor: undefined,
        weightsFor: undefined,
        gradPooled,
        gradItemInput,
        loss,
      };
      this.buffers = buf;
    }
    if (buf.weightsFor !== weights) {
      for (const [name, onnxName] of MLP_TENSORS)
        buf.feeds[onnxName] = new ort.Tensor("float32", weights[name], shapeOf(this.config, F, onnxName));
      buf.weightsFor = weights;
    }
    if (buf.fetchesFor !== grads) {
      const fetches: Record<string, ort.Tensor> = {
        loss: new ort.Tensor("float32", buf.loss, [1]),
        grad_pooled: new ort.Tensor("float32", buf.gradPooled, [B, d]),
        grad_item_input: new ort.Tensor("float32", buf.gradItemInput, [B, d + F]),
      };
      for (const [name, onnxName] of MLP_TENSORS)
        fetches[`grad_${onnxName}`] = new ort.Tensor("float32", grads[name], shapeOf(this.config, F, onnxName));
      buf.fetches = fetches;
      buf.fetchesFor = grads;
    }
    return buf;
  }

  /**
   * historyDropout on the batch's slot weights (B × L, each row summing to 1), in place: each
   * item is dropped with that probability and the rest renormalised; a history that would lose
   * every item keeps them all.
   */
  private dropHistory(weights: Float32Array, B: number, rng: SeededRandom | undefined): Float32Array {
    const L = this.config.historyLength;
    const p = this.config.historyDropout;
    if (p === 0 || rng === undefined) return weights;
    if (this.keptWeights.length < L) this.keptWeights = new Float32Array(L);
    const kept = this.keptWeights;
    for (let b = 0; b < B; b++) {
      const from = b * L;
      let total = 0;
      for (let s = from; s < from + L; s++) {
        kept[s - from] = weights[s]!;
        if (weights[s] === 0) continue;
        if (rng.next() < p) weights[s] = 0;
        else total += weights[s]!;
      }
      if (total === 0) weights.set(kept.subarray(0, L), from);
      else for (let s = from; s < from + L; s++) weights[s]! /= total;
    }
    return weights;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * target[to + k] += w · source[from + k] for k < d, rounded to float32 at each add like the
 * plain loop. Unrolled by 8: V8 does not unroll, and the loop overhead was half its time.
 */
function addScaledRow(
  target: Float32Array,
  to: number,
  source: Float32Array,
  from: number,
  w: number,
  d: number,
): void {
  let k = 0;
  for (; k + 8 <= d; k += 8) {
    const o = to + k;
    const r = from + k;
    target[o]! += w * source[r]!;
    target[o + 1]! += w * source[r + 1]!;
    target[o + 2]! += w * source[r + 2]!;
    target[o + 3]! += w * source[r + 3]!;
    target[o + 4]! += w * source[r + 4]!;
    target[o + 5]! += w * source[r + 5]!;
    target[o + 6]! += w * source[r + 6]!;
    target[o + 7]! += w * source[r + 7]!;
  }
  for (; k < d; k++) target[to + k]! += w * source[from + k]!;
}

function shapeOf(config: TwoTowerConfig, F: number, onnxName: string): number[] {
  const { dim: d, hidden: h } = config;
  switch (onnxName) {
    case "user_w1":
      return [d, h];
    case "item_w1":
      return [d + F, h];
    case "user_w2":
    case "item_w2":
      return [h, d];
    case "user_b1":
    case "item_b1":
      return [h];
    default:
      return [d];
  }
}

/**
 * Adam (Kingma & Ba) with PyTorch's defaults β=(0.9, 0.999), ε=1e-8, dense over every tensor
 * (embedding rows a batch did not touch still move with their momentum, as in the peer), with
 * optional decoupled weight decay (AdamW).
 */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(private readonly params: Float32Array[]) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /**
   * One step. `rowsOf[p]`, when given, limits tensor p to those rows of `rowWidth` values (lazy
   * Adam on an embedding table): other rows and their moments stay as they are.
   */
  step(
    grads: Float32Array[],
    lr: number,
    weightDecay: number,
    rowsOf?: readonly (Int32Array | undefined)[],
    rowWidth = 1,
  ): void {
    const beta1 = 0.9;
    const beta2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2 = 1 - Math.pow(beta2, this.t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    const keep = 1 - lr * weightDecay;
    const oneMinusBeta1 = 1 - beta1;
    const oneMinusBeta2 = 1 - beta2;
    // The same arithmetic, in the same order, as a plain loop over every element.
    const update = (
      param: Float32Array,
      grad: Float32Array,
      m: Float32Array,
      v: Float32Array,
      from: number,
      to: number,
    ) => {
      for (let i = from; i < to; i++) {
        const g = grad[i]!;
        const mi = beta1 * m[i]! + oneMinusBeta1 * g;
        const vi = beta2 * v[i]! + oneMinusBeta2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i]! * keep - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      }
    };
    for (let p = 0; p < this.params.length; p++) {
      const param = this.params[p]!;
      const rows = rowsOf?.[p];
      if (rows === undefined) {
        update(param, grads[p]!, this.m[p]!, this.v[p]!, 0, param.length);
        continue;
      }
      for (const row of rows)
        update(param, grads[p]!, this.m[p]!, this.v[p]!, row * rowWidth, row * rowWidth + rowWidth);
    }
  }
}

export function emptyLike(w: TowerWeights): TowerWeights {
  const out = {} as Record<keyof TowerWeights, Float32Array>;
  for (const name of WEIGHT_NAMES) out[name] = new Float32Array(w[name].length);
  return out;
}

/** log q(item) from occurrence counts, +1 smoothed so unseen items stay finite. */
export function logQFromFrequency(frequency: ArrayLike<number>, numItems: number): Float64Array {
  let total = 0;
  for (let i = 0; i < numItems; i++) total += (frequency[i] ?? 0) + 1;
  const out = new Float64Array(numItems);
  for (let i = 0; i < numItems; i++) out[i] = Math.log(((frequency[i] ?? 0) + 1) / total);
  return out;
}

/** Initial weights: fresh, or the warm-start model's, remapped onto this vocabulary. */
export function startingWeights(
  config: TwoTowerConfig,
  data: TrainingData,
  featureWidth: number,
  rng: SeededRandom,
  warm?: TwoTowerModel,
): TowerWeights {
  const numItems = data.itemIds.length;
  const fresh = initWeights(config, numItems, featureWidth, rng);
  if (warm === undefined) return fresh;
  for (const key of ["dim", "hidden"] as const) {
    if (warm.config[key] !== config[key]) {
      throw new TwoTowerConfigError(
        `warm start: config.${key} is ${config[key]} but the model has ${warm.config[key]}; keep it equal`,
        key,
      );
    }
  }
  if (warm.featureWidth !== featureWidth) {
    throw new TwoTowerConfigError(
      `warm start: data has ${featureWidth} content features, the model ${warm.featureWidth}`,
      "itemFeatures",
    );
  }
  const d = config.dim;
  const oldRow = new Map(warm.itemIds.map((id, r) => [id, r]));
  for (let r = 0; r < numItems; r++) {
    const old = oldRow.get(data.itemIds[r]!);
    if (old === undefined) continue; // a new item keeps its fresh init rows
    fresh.historyEmbedding.set(warm.weights.historyEmbedding.subarray(old * d, old * d + d), r * d);
    fresh.itemEmbedding.set(warm.weights.itemEmbedding.subarray(old * d, old * d + d), r * d);
  }
  for (const [name] of MLP_TENSORS) fresh[name].set(warm.weights[name]);
  return fresh;
}

/** Train (or fine-tune, with options.warmStart) a two-tower model. Deterministic for a seed and thread count. */
export async function trainTwoTower(
  data: TrainingData,
  configOverrides: Partial<TwoTowerConfig> = {},
  options: TrainOptions = {},
): Promise<TwoTowerModel> {
  const config = resolveConfig(configOverrides);
  const numItems = data.itemIds.length;
  if (numItems === 0) throw new TwoTowerConfigError("data.itemIds is empty", "itemIds");
  const featureWidth = data.itemFeatures.length / numItems;
  if (!Number.isInteger(featureWidth)) {
    throw new TwoTowerConfigError(
      `data.itemFeatures has ${data.itemFeatures.length} values, not a multiple of ${numItems} items`,
      "itemFeatures",
    );
  }
  const rng = new SeededRandom(config.seed);
  const weights = startingWeights(config, data, featureWidth, rng, options.warmStart);
  const model: TwoTowerModel = {
    config,
    itemIds: [...data.itemIds],
    featureWidth,
    itemFeatures: data.itemFeatures,
    weights,
  };
  if (data.sequences !== undefined && data.examples.length > 0)
    throw new TwoTowerConfigError("give examples or sequences, not both", "sequences");
  const packed: ExampleSource =
    data.sequences !== undefined
      ? sequenceExamplesOf(config, data.sequences, numItems)
      : packExamples(config, data.examples, numItems);
  if (packed.count === 0 || config.epochs === 0) return model;
  let frequency = data.itemFrequency;
  if (frequency === undefined) {
    const counts = new Float64Array(numItems);
    if ("targets" in packed) for (const t of packed.targets) counts[t]! += 1;
    else for (const at of packed.targetAt) counts[packed.items[at]!]! += 1;
    frequency = counts;
  }
  const logQ = config.logQWeight > 0 ? logQFromFrequency(frequency, numItems) : undefined;

  const computer = await GradientComputer.create(config, featureWidth);
  const grads = emptyLike(weights);
  const adam = new Adam(WEIGHT_NAMES.map((n) => weights[n]));
  const gradList = WEIGHT_NAMES.map((n) => grads[n]);
  const stepsPerEpoch = Math.ceil(packed.count / config.batchSize);
  const totalSteps = stepsPerEpoch * config.epochs;
  const intervalMs = options.progressIntervalMs ?? 1000;
  const started = performance.now();
  let lastReport = started;
  let globalStep = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = rng.permutation(packed.count);
      let lossSum = 0;
      for (let step = 0; step < stepsPerEpoch; step++) {
        if (options.signal?.aborted) throw new TrainingAbortedError(epoch, { cause: options.signal.reason });
        const batch = order.subarray(step * config.batchSize, Math.min(packed.count, (step + 1) * config.batchSize));
        lossSum += await computer.run(weights, data.itemFeatures, logQ, packed, batch, grads, rng);
        const lr =
          config.learningRateSchedule === "cosine"
            ? config.learningRate * 0.5 * (1 + Math.cos((Math.PI * globalStep) / totalSteps))
            : config.learningRate;
        if (options.embeddingAdam === "lazy") {
          const touched = computer.touchedRows();
          adam.step(gradList, lr, config.weightDecay, [touched.history, touched.item], config.dim);
        } else adam.step(gradList, lr, config.weightDecay);
        globalStep++;
        const now = performance.now();
        const epochEnd = step === stepsPerEpoch - 1;
        if (options.onProgress && (epochEnd || now - lastReport >= intervalMs)) {
          lastReport = now;
          const seconds = (now - started) / 1000;
          const examplesDone = (epoch - 1) * packed.count + Math.min(packed.count, (step + 1) * config.batchSize);
          const rate = examplesDone / seconds;
          options.onProgress({
            epoch,
            epochs: config.epochs,
            step: step + 1,
            stepsPerEpoch,
            loss: lossSum / (step + 1),
            examplesPerSecond: rate,
            etaSeconds: (config.epochs * packed.count - examplesDone) / rate,
          });
        }
      }
      if (options.onEpochEnd && (await options.onEpochEnd(epoch, model)) === "stop") break;
    }
  } finally {
    await computer.release();
  }
  return model;
}

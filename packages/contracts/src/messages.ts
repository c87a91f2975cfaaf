import type { MessageSpec, ReasonCode } from "./schema";
import { catalogItemSpec, recBoostsField, recFiltersField, type RecBoost, type RecFilters } from "./items";

export const EVENT_TYPES = ["view", "click", "add_to_cart", "purchase", "rating"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What an app produces to `clickstream`. `userId` is the app's own (raw) id. */
export interface ClickstreamEvent {
  eventId: string;
  userId: string;
  itemId: string;
  type: EventType;
  /** Epoch ms after validation (ISO-8601 strings are accepted on input). */
  ts: number;
  value?: number;
  /** The recommendation this event answers, for reward attribution. */
  recId?: string;
  context?: Record<string, string | number | boolean>;
}

/** One event's outcome in a batch sent over HTTP (the gateway's answer; the client's return value). */
export interface EventResult {
  index: number;
  eventId?: string;
  status: "accepted" | "rejected";
  reason?: ReasonCode;
  detail?: string;
}

/** What ingest writes to `events`: validated, deduplicated, pseudonymous. */
export interface CanonicalEvent {
  eventId: string;
  /** HMAC-SHA256 pseudonym of the raw user id (hex); the raw id never leaves ingest. */
  user: string;
  itemId: string;
  type: EventType;
  ts: number;
  ingestedAt: number;
  /** True when ts is older than ingest's lateness threshold at arrival. */
  late: boolean;
  value?: number;
  recId?: string;
  context?: Record<string, string | number | boolean>;
}

/** A request for recommendations. From apps `userId` is raw; the features worker sends `user` (pseudonym). */
export interface RecRequest {
  requestId: string;
  userId?: string;
  user?: string;
  k?: number;
  /** Policy id to use ("greedy", "epsilon:0.1", …); absent → the configured traffic split. */
  policy?: string;
  ts: number;
  exclude?: string[];
  reason?: string;
  /** Catalog rules for this request (applied before the policy). */
  filters?: RecFilters;
  boosts?: RecBoost[];
  /**
   * Partition of `rec.replies` the answer goes to instead of `recommendations`: the asking
   * gateway instance reads only that partition (see REPLY_PARTITIONS).
   */
  replyPartition?: number;
  /**
   * When the answer stops being useful (epoch ms, the asker's clock): the scorer does not answer
   * past it (no recommendation, no impression, no decision logged) and counts the request as
   * expired, so the asker falls back on its own (a gateway: its popular fallback or a 504).
   */
  deadline?: number;
}

export interface RecommendedItem {
  itemId: string;
  score: number;
  rank: number;
  propensity: number;
  explored: boolean;
  /** History items most similar to this one in tower space ("because you watched …"). */
  because?: string[];
  /** The rule that changed this slot, when one did ("boosted: category drama"). */
  rule?: string;
}

export interface Recommendation {
  recId: string;
  requestId: string;
  user: string;
  items: RecommendedItem[];
  policy: string;
  propensityMethod: "exact" | "monte-carlo";
  modelVersion: string;
  servedAt: number;
  latencyMs: number;
  /** Why this list looks the way it does when not model-driven, e.g. "cold_start_popular". */
  reason?: string;
}

export interface ModelVersionAnnouncement {
  version: string;
  createdAt: number;
  itemCount: number;
  dim: number;
  metrics?: Record<string, string | number | boolean>;
}

/** A candidate the policy saw. Vectors are base64 little-endian float32 (smaller than JSON numbers). */
export interface LoggedCandidate {
  itemId: string;
  score: number;
  vector?: string;
  isNew?: boolean;
}

/**
 * The candidates of a format-2 decision log, column by column: candidate i is itemIds[i], and its
 * numbers are the i-th little-endian float64 of each base64 column. Half the bytes of the rows,
 * and a JSON encoder's time goes to a handful of strings instead of 400 numbers.
 */
export interface DecisionLogColumns {
  itemIds: string[];
  /** Model scores (logits). */
  scores: string;
  impressions: string;
  clicks: string;
  /** Σ σ(score) of the impressions; NaN where the policy read none. */
  expectedClicks: string;
  /** Indices of the candidates with no trained embedding yet. */
  newItems?: number[];
  /** n × dim little-endian float32, row i the item embedding of candidate i (NaN row: none); only with DECISION_LOG_VECTORS. */
  vectors?: string;
}

/** Click counts of one item as the policy read them. */
export interface LoggedItemStats {
  impressions: number;
  clicks: number;
  expectedClicks?: number;
}

/** One placed item; `propensity` is P(this item in this slot | the slots above). */
export interface LoggedSlateItem {
  itemId: string;
  score: number;
  rank: number;
  propensity: number;
  explored: boolean;
}

/**
 * What the scorer writes to `rec.log` per recommendation: what the policy saw and what it chose.
 * Defined here rather than in @recfleet/policy so the contract does not depend on the policy
 * code; policy's toDecisionLog/fromDecisionLog build and read exactly this type.
 */
export interface DecisionLogRecord {
  recId: string;
  requestId: string;
  ts: number;
  policyId: string;
  modelVersion: string;
  propensityMethod: "exact" | "monte-carlo";
  /** 2 = the candidates and their statistics as `columns`; absent = format 1, as rows. */
  format?: 2;
  /** Format 1: the candidates as rows. */
  candidates?: LoggedCandidate[];
  userVector?: string;
  /** Format 1: the statistics by item id. */
  itemStats?: Record<string, LoggedItemStats>;
  /** Format 2: the candidates and the statistics the policy read, as columns. */
  columns?: DecisionLogColumns;
  items: LoggedSlateItem[];
  /**
   * Shadow policies: per candidate policy id, its probability of each served item in its slot
   * given the slots above (the same conditional as `items[].propensity`), computed on the same
   * inputs without changing the slate. What off-policy evaluation of the candidate needs.
   */
  shadow?: Record<string, number[]>;
}

/**
 * Partitions of `rec.replies`: each gateway instance leases one and reads only it, so this is
 * how many gateway instances one namespace can run at once.
 */
export const REPLY_PARTITIONS = 16;

/** The largest latency a recommendation can report (its latencyMs field's maximum, about 11.6 days). */
export const MAX_LATENCY_MS = 1e9;

/** A canonical policy id as packages/policy writes it: a name, then optional parameters after ':'. */
export const POLICY_ID_PATTERN = "^[A-Za-z][A-Za-z0-9_.:,=+-]{0,63}$";

/**
 * Request ts to publish, within [0, MAX_LATENCY_MS]: a client clock ahead of ours gives a negative
 * difference, and requests older than MAX_LATENCY_MS are rejected at decode, so the clamp only
 * absorbs the time spent serving one.
 */
export function requestLatencyMs(requestTs: number, servedAt: number): number {
  return Math.min(MAX_LATENCY_MS, Math.max(0, servedAt - requestTs));
}

const CONTEXT = {
  kind: "attributes",
  maxKeys: 16,
  maxValueLength: 256,
  optional: true,
  description: "Free-form attributes (device, page, …).",
} as const;

export const clickstreamEventSpec: MessageSpec = {
  name: "clickstream-event",
  description: "A user interaction produced by an app to the clickstream topic.",
  maxBytes: 4096,
  fields: {
    eventId: { kind: "id", description: "Unique id of this event; duplicates are dropped." },
    userId: { kind: "id", description: "The app's user id; pseudonymised at ingest." },
    itemId: { kind: "id", description: "The item interacted with." },
    type: { kind: "enum", values: EVENT_TYPES, description: "Interaction type." },
    ts: { kind: "timestamp", description: "When it happened: epoch ms or ISO-8601." },
    value: { kind: "number", min: -1e9, max: 1e9, optional: true, description: "Rating or amount." },
    recId: { kind: "id", optional: true, description: "The recommendation this event answers." },
    context: CONTEXT,
  },
};

export const canonicalEventSpec: MessageSpec = {
  name: "canonical-event",
  description: "A validated, deduplicated, pseudonymous event on the events topic.",
  maxBytes: 4096,
  fields: {
    eventId: { kind: "id", description: "Unique id of the event." },
    user: { kind: "id", description: "Pseudonymous user id (HMAC-SHA256 hex)." },
    itemId: { kind: "id", description: "The item." },
    type: { kind: "enum", values: EVENT_TYPES, description: "Interaction type." },
    ts: { kind: "timestamp", description: "Event time, epoch ms." },
    ingestedAt: { kind: "number", min: 0, max: 1e15, integer: true, description: "Ingest time, epoch ms." },
    late: { kind: "boolean", description: "Arrived later than the lateness threshold." },
    value: { kind: "number", min: -1e9, max: 1e9, optional: true, description: "Rating or amount." },
    recId: { kind: "id", optional: true, description: "Attributed recommendation." },
    context: CONTEXT,
  },
};

export const recRequestSpec: MessageSpec = {
  name: "rec-request",
  description: "A request for recommendations for one user.",
  maxBytes: 8192,
  fields: {
    requestId: { kind: "id", description: "Carried to the answer; the client correlates on it." },
    userId: { kind: "id", optional: true, description: "Raw app user id (pseudonymised by the scorer)." },
    user: { kind: "id", optional: true, description: "Pseudonymous user id, when the caller already has it." },
    k: {
      kind: "number",
      min: 1,
      max: 200,
      integer: true,
      optional: true,
      description: "How many items (default from config).",
    },
    policy: {
      kind: "string",
      maxLength: 64,
      optional: true,
      description: "Exploration policy id; absent → traffic split.",
    },
    // Older requests could not be answered with a latency the recommendation contract allows.
    ts: { kind: "timestamp", maxAgeMs: MAX_LATENCY_MS, description: "When the request was made." },
    exclude: {
      kind: "array",
      of: { kind: "id", description: "Item id." },
      maxItems: 200,
      optional: true,
      description: "Items not to return.",
    },
    reason: { kind: "string", maxLength: 64, optional: true, description: "Why it was sent (e.g. refresh_on_event)." },
    filters: recFiltersField,
    boosts: recBoostsField,
    replyPartition: {
      kind: "number",
      min: 0,
      max: REPLY_PARTITIONS - 1,
      integer: true,
      optional: true,
      description: "Answer on this partition of rec.replies (the asking gateway's) instead of recommendations.",
    },
    deadline: {
      kind: "timestamp",
      optional: true,
      description:
        "When the answer stops being useful: past it the scorer sends none (counted as expired) and the asker falls back.",
    },
  },
};

export const recommendationSpec: MessageSpec = {
  name: "recommendation",
  description: "The answer to a rec request.",
  maxBytes: 256 * 1024,
  fields: {
    recId: { kind: "id", description: "Id of this recommendation; clicks carry it back as recId." },
    requestId: { kind: "id", description: "The request answered." },
    user: { kind: "id", description: "Pseudonymous user id." },
    items: {
      kind: "array",
      maxItems: 200,
      description: "Ranked items.",
      of: {
        kind: "object",
        description: "One slot.",
        fields: {
          itemId: { kind: "id", description: "Item." },
          score: { kind: "number", min: -1e9, max: 1e9, description: "Model score." },
          rank: { kind: "number", min: 1, max: 200, integer: true, description: "Slot, 1-based." },
          propensity: { kind: "number", min: 0, max: 1, description: "P(policy shows this item in this slot)." },
          explored: { kind: "boolean", description: "Chosen by exploration rather than the model's order." },
          because: {
            kind: "array",
            of: { kind: "id", description: "History item." },
            maxItems: 5,
            optional: true,
            description: "Explanation.",
          },
          rule: { kind: "string", maxLength: 128, optional: true, description: "Rule that changed this slot." },
        },
      },
    },
    policy: { kind: "string", maxLength: 64, description: "Policy id that chose the slate." },
    propensityMethod: {
      kind: "enum",
      values: ["exact", "monte-carlo"],
      description: "How propensities were computed.",
    },
    modelVersion: { kind: "string", maxLength: 64, description: "Model version that scored." },
    servedAt: { kind: "number", min: 0, max: 1e15, integer: true, description: "Epoch ms." },
    latencyMs: { kind: "number", min: 0, max: MAX_LATENCY_MS, description: "Request ts to publish." },
    reason: { kind: "string", maxLength: 64, optional: true, description: "e.g. cold_start_popular." },
  },
};

export const modelVersionSpec: MessageSpec = {
  name: "model-version",
  description: "Announces that a model version is now current.",
  maxBytes: 16 * 1024,
  fields: {
    version: { kind: "string", maxLength: 64, description: "Model version id." },
    createdAt: { kind: "number", min: 0, max: 1e15, integer: true, description: "Epoch ms." },
    itemCount: { kind: "number", min: 0, max: 1e9, integer: true, description: "Items in the item matrix." },
    dim: { kind: "number", min: 1, max: 4096, integer: true, description: "Embedding dimension." },
    metrics: {
      kind: "attributes",
      maxKeys: 32,
      maxValueLength: 128,
      optional: true,
      description: "Offline metrics of this version.",
    },
  },
};

// SCORER_CANDIDATES allows up to 10 000 candidates; a vector of the largest dim (4096) is 21 848 base64 chars.
const MAX_LOGGED_CANDIDATES = 10_000;
const LOGGED_VECTOR = { kind: "string", maxLength: 32_768, optional: true } as const;
// A base64 column of one little-endian float64 per candidate.
const LOGGED_COLUMN = { kind: "string", maxLength: Math.ceil((MAX_LOGGED_CANDIDATES * 8) / 3) * 4 } as const;

export const decisionLogSpec: MessageSpec = {
  name: "decision-log",
  description: "What the scorer's policy saw and chose for one recommendation, for off-policy evaluation.",
  // The broker's default message.max.bytes: the scorer cannot produce a bigger record anyway.
  maxBytes: 1024 * 1024,
  fields: {
    recId: { kind: "id", description: "The recommendation (its recId on the recommendations topic)." },
    requestId: { kind: "id", description: "The request answered." },
    ts: { kind: "number", min: 0, max: 1e15, integer: true, description: "When it was served, epoch ms." },
    policyId: { kind: "string", maxLength: 64, description: "Policy id that chose the slate." },
    modelVersion: { kind: "string", maxLength: 64, description: "Model version that scored." },
    propensityMethod: {
      kind: "enum",
      values: ["exact", "monte-carlo"],
      description: "How propensities were computed.",
    },
    format: {
      kind: "number",
      min: 2,
      max: 2,
      integer: true,
      optional: true,
      description: "2: candidates and statistics as `columns`; absent: format 1, as `candidates` and `itemStats`.",
    },
    columns: {
      kind: "object",
      optional: true,
      description: "Format 2: every candidate the policy chose from and the statistics it read, column by column.",
      fields: {
        itemIds: {
          kind: "array",
          maxItems: MAX_LOGGED_CANDIDATES,
          of: { kind: "id", description: "Item." },
          description: "Candidate i's item.",
        },
        scores: { ...LOGGED_COLUMN, description: "Model scores (logits)." },
        impressions: { ...LOGGED_COLUMN, description: "Impressions the policy read." },
        clicks: { ...LOGGED_COLUMN, description: "Clicks the policy read." },
        expectedClicks: { ...LOGGED_COLUMN, description: "Σ σ(score) of the impressions; NaN where none was read." },
        newItems: {
          kind: "array",
          maxItems: MAX_LOGGED_CANDIDATES,
          optional: true,
          of: {
            kind: "number",
            min: 0,
            max: MAX_LOGGED_CANDIDATES - 1,
            integer: true,
            description: "Candidate index.",
          },
          description: "Candidates with no trained embedding yet.",
        },
        vectors: {
          kind: "string",
          // The record's own maxBytes bounds it first.
          maxLength: 2 * 1024 * 1024,
          optional: true,
          description:
            "n × dim base64 little-endian float32 item embeddings, a NaN row where none (only with DECISION_LOG_VECTORS).",
        },
      },
    },
    candidates: {
      kind: "array",
      maxItems: MAX_LOGGED_CANDIDATES,
      optional: true,
      description: "Format 1: every candidate the policy chose from.",
      of: {
        kind: "object",
        description: "One candidate.",
        fields: {
          itemId: { kind: "id", description: "Item." },
          score: { kind: "number", min: -1e9, max: 1e9, description: "Model score (a logit)." },
          vector: { ...LOGGED_VECTOR, description: "Item embedding, base64 float32 (only with DECISION_LOG_VECTORS)." },
          isNew: { kind: "boolean", optional: true, description: "The item has no trained embedding yet." },
        },
      },
    },
    userVector: { ...LOGGED_VECTOR, description: "User embedding, base64 little-endian float32." },
    itemStats: {
      kind: "map",
      maxKeys: MAX_LOGGED_CANDIDATES,
      optional: true,
      description: "Format 1: click counts the policy read, by item id.",
      values: {
        kind: "object",
        description: "Counts of one item.",
        fields: {
          impressions: { kind: "number", min: 0, max: 1e15, description: "Impressions." },
          clicks: { kind: "number", min: 0, max: 1e15, description: "Clicks." },
          expectedClicks: {
            kind: "number",
            min: 0,
            max: 1e15,
            optional: true,
            description: "Σ σ(score) of the impressions.",
          },
        },
      },
    },
    items: {
      kind: "array",
      maxItems: 200,
      description: "The slate chosen, in rank order.",
      of: {
        kind: "object",
        description: "One slot.",
        fields: {
          itemId: { kind: "id", description: "Item." },
          score: { kind: "number", min: -1e9, max: 1e9, description: "Score the policy ranked on." },
          rank: { kind: "number", min: 1, max: 200, integer: true, description: "Slot, 1-based." },
          propensity: { kind: "number", min: 0, max: 1, description: "P(this item in this slot | the slots above)." },
          explored: { kind: "boolean", description: "Differs from what pure exploitation would have placed." },
        },
      },
    },
    shadow: {
      kind: "map",
      maxKeys: 8,
      // Keys are canonical policy ids ("epsilon:0.3", "thompson:16,prior=3,lift=1"), not ids.
      keyPattern: POLICY_ID_PATTERN,
      optional: true,
      description: "Shadow policy id → its conditional probability of each served item, slot by slot.",
      values: {
        kind: "array",
        maxItems: 200,
        description: "One probability per served slot.",
        of: { kind: "number", min: 0, max: 1, description: "P_shadow(this item in this slot | the slots above)." },
      },
    },
  },
};

export const MESSAGE_SPECS: readonly MessageSpec[] = [
  clickstreamEventSpec,
  canonicalEventSpec,
  recRequestSpec,
  recommendationSpec,
  modelVersionSpec,
  decisionLogSpec,
  catalogItemSpec,
];

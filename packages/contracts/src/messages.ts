import type { MessageSpec } from "./schema";

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
}

export interface RecommendedItem {
  itemId: string;
  score: number;
  rank: number;
  propensity: number;
  explored: boolean;
  /** History items most similar to this one in tower space ("because you watched …"). */
  because?: string[];
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

const CONTEXT = { kind: "attributes", maxKeys: 16, maxValueLength: 256, optional: true, description: "Free-form attributes (device, page, …)." } as const;

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
    k: { kind: "number", min: 1, max: 200, integer: true, optional: true, description: "How many items (default from config)." },
    policy: { kind: "string", maxLength: 64, optional: true, description: "Exploration policy id; absent → traffic split." },
    ts: { kind: "timestamp", description: "When the request was made." },
    exclude: { kind: "array", of: { kind: "id", description: "Item id." }, maxItems: 200, optional: true, description: "Items not to return." },
    reason: { kind: "string", maxLength: 64, optional: true, description: "Why it was sent (e.g. refresh_on_event)." },
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
          because: { kind: "array", of: { kind: "id", description: "History item." }, maxItems: 5, optional: true, description: "Explanation." },
        },
      },
    },
    policy: { kind: "string", maxLength: 64, description: "Policy id that chose the slate." },
    propensityMethod: { kind: "enum", values: ["exact", "monte-carlo"], description: "How propensities were computed." },
    modelVersion: { kind: "string", maxLength: 64, description: "Model version that scored." },
    servedAt: { kind: "number", min: 0, max: 1e15, integer: true, description: "Epoch ms." },
    latencyMs: { kind: "number", min: 0, max: 1e9, description: "Request ts to publish." },
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
    metrics: { kind: "attributes", maxKeys: 32, maxValueLength: 128, optional: true, description: "Offline metrics of this version." },
  },
};

export const MESSAGE_SPECS: readonly MessageSpec[] = [clickstreamEventSpec, canonicalEventSpec, recRequestSpec, recommendationSpec, modelVersionSpec];

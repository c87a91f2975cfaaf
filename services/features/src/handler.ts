/** Features' logic, free of Kafka and Redis: canonical events → store updates → refresh requests. */
import { hash } from "node:crypto";
import type { CanonicalEvent, EventType, RecRequest } from "@recfleet/contracts";
import type { BatchHandler, OutgoingMessage } from "@recfleet/bus";
import type { ApplyOptions, ApplyResult, FeatureEvent } from "@recfleet/store";

export interface FeaturePolicy {
  weights: Readonly<Record<EventType, number>>;
  seenTypes: readonly EventType[];
  rewardTypes: readonly EventType[];
  refreshTypes: readonly EventType[];
}

/** The policy a features worker applies, from its config. */
export function featurePolicy(config: {
  eventWeights: Readonly<Record<EventType, number>>;
  seenTypes: readonly EventType[];
  rewardTypes: readonly EventType[];
  refreshTypes: readonly EventType[];
}): FeaturePolicy {
  return {
    weights: config.eventWeights,
    seenTypes: config.seenTypes,
    rewardTypes: config.rewardTypes,
    refreshTypes: config.refreshTypes,
  };
}

export function toFeatureEvent(e: CanonicalEvent, policy: FeaturePolicy): FeatureEvent {
  const out: FeatureEvent = {
    eventId: e.eventId,
    user: e.user,
    itemId: e.itemId,
    type: e.type,
    ts: e.ts,
    weight: policy.weights[e.type],
    markSeen: policy.seenTypes.includes(e.type),
    reward: e.recId !== undefined && policy.rewardTypes.includes(e.type),
    refresh: policy.refreshTypes.includes(e.type),
  };
  if (e.recId !== undefined) out.recId = e.recId;
  return out;
}

/** The refresh request an event triggers; its id derives from the event id, so a resend carries the same id. */
export function refreshRequest(e: FeatureEvent, now: number): RecRequest {
  return {
    requestId: `rf-${hash("sha256", e.eventId, "hex").slice(0, 32)}`,
    user: e.user,
    ts: now,
    reason: "refresh_on_event",
  };
}

export interface FeaturesCounters {
  inc(outcome: "applied" | "replayed" | "attributed" | "refresh_requests", n: number): void;
}

export interface FeaturesHandlerDeps {
  policy: FeaturePolicy;
  /** One round trip for the batch: the store's applyEvents. */
  apply: (events: FeatureEvent[], options: ApplyOptions) => Promise<ApplyResult>;
  /**
   * The live worker's rule for a partition without state (Redis restarted empty): replay it from
   * the start of the log instead of applying on top of nothing. Off for rebuild-features, which
   * replays from where it is told.
   */
  rewindWhenStateMissing?: boolean;
  send: (topic: string, messages: OutgoingMessage[]) => Promise<void>;
  recRequestsTopic: string;
  now?: () => number;
  counters?: FeaturesCounters;
  /** Folds reward events into the neural-linear bandit (idempotent per recId and item). */
  foldLinearRewards?: (rewards: { recId: string; itemId: string; ts: number }[]) => Promise<number>;
}

/**
 * Per consumed batch: one atomic, idempotent store update, then one send of the refresh
 * requests that came due. Refresh requests are hints: a crash between the update and the
 * send loses them (the rate limit was taken), never the features.
 */
export function createFeaturesHandler(deps: FeaturesHandlerDeps): BatchHandler<CanonicalEvent> {
  const now = deps.now ?? Date.now;
  // Partitions rewound to the log start, until their first apply: the replay builds their state
  // from nothing, so it must not ask for state again (a partition whose first events were all
  // dead letters would otherwise rewind for good).
  const rebuilding = new Set<number>();
  return async (messages, ctx) => {
    // The position makes a replayed batch a no-op (the store's per-partition and per-user watermarks).
    const events = messages.map((m) => {
      const e = toFeatureEvent(m.value, deps.policy);
      e.partition = m.partition;
      e.offset = Number(m.offset);
      return e;
    });
    // A batch from offset 0 is the log start already: nothing to replay first.
    const requireState =
      deps.rewindWhenStateMissing === true && !rebuilding.has(ctx.partition) && messages[0]?.offset !== "0";
    const result = await deps.apply(events, { requireState });
    if (result.stateMissing.length > 0) {
      rebuilding.add(ctx.partition);
      // Offset 0, or the log start when retention has deleted the beginning (out of range → earliest).
      return { rewindTo: "0" };
    }
    rebuilding.delete(ctx.partition);
    const rewards = events
      .filter((e) => e.reward && e.recId !== undefined)
      .map((e) => ({ recId: e.recId!, itemId: e.itemId, ts: e.ts }));
    if (rewards.length > 0 && deps.foldLinearRewards) await deps.foldLinearRewards(rewards);
    const t = now();
    await deps.send(
      deps.recRequestsTopic,
      result.refresh.map((e) => ({ key: e.user, value: refreshRequest(e, t) })),
    );
    if (deps.counters) {
      deps.counters.inc("applied", result.applied);
      deps.counters.inc("replayed", result.replayed);
      deps.counters.inc("attributed", result.attributed);
      deps.counters.inc("refresh_requests", result.refresh.length);
    }
  };
}

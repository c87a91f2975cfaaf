import { ConfigError, duration, int, str, type ConfigOf, type CommonConfig, type Field } from "@recfleet/runtime";
import { DEFAULT_PARTITIONS, EVENT_TYPES, type EventType } from "@recfleet/contracts";
import { storeConfigSchema } from "@recfleet/store";

function eventTypes(env: string, fallback: readonly EventType[]): Field<EventType[]> {
  const describe = `a comma-separated list of ${EVENT_TYPES.join(", ")} (may be empty)`;
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return [...fallback];
      const values = raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      for (const v of values)
        if (!(EVENT_TYPES as readonly string[]).includes(v)) throw new ConfigError(env, describe, raw);
      return values as EventType[];
    },
  };
}

export const DEFAULT_EVENT_WEIGHTS: Readonly<Record<EventType, number>> = {
  view: 1,
  click: 2,
  add_to_cart: 3,
  purchase: 5,
  rating: 2,
};

function eventWeights(env: string): Field<Record<EventType, number>> {
  const describe = `a comma-separated list of type:weight with weight > 0, e.g. "view:1,click:2" (unlisted types keep their defaults ${JSON.stringify(DEFAULT_EVENT_WEIGHTS)})`;
  return {
    env,
    describe,
    parse(raw) {
      const out = { ...DEFAULT_EVENT_WEIGHTS };
      if (raw === undefined) return out;
      for (const part of raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0)) {
        const [type, w] = part.split(":");
        const weight = Number(w);
        if (!(EVENT_TYPES as readonly string[]).includes(type ?? "") || !(weight > 0) || !Number.isFinite(weight))
          throw new ConfigError(env, describe, raw);
        out[type as EventType] = weight;
      }
      return out;
    },
  };
}

/** Features' settings (on top of commonConfigSchema). */
export const featuresConfigSchema = {
  ...storeConfigSchema,
  groupId: str("FEATURES_GROUP_ID", "", "consumer group (default <namespace>.features)"),
  catalogGroupId: str("CATALOG_GROUP_ID", "", "consumer group of the items topic (default <namespace>.catalog)"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  eventWeights: eventWeights("FEATURES_EVENT_WEIGHTS"),
  seenTypes: eventTypes("FEATURES_SEEN_TYPES", EVENT_TYPES),
  rewardTypes: eventTypes("FEATURES_REWARD_TYPES", ["click"]),
  refreshTypes: eventTypes("FEATURES_REFRESH_TYPES", []),
  refreshIntervalMs: duration("FEATURES_REFRESH_INTERVAL", 30_000),
  maxBytesPerPartition: int("FEATURES_MAX_BYTES_PER_PARTITION", 262_144, { min: 1024 }),
  /**
   * A batch handler keeps its group membership (heartbeats go on) for up to this long while it
   * works: a large batch from a backlog on a busy machine outlives the 10 s session timeout, and a
   * batch whose commit the group refuses three times is dead-lettered. Past it the group takes the
   * partitions back (a stuck handler).
   */
  maxBatchTimeMs: duration("FEATURES_MAX_BATCH_TIME", 60_000),
  /** Partitions handled at once; their effects are independent (keys are per user, scripts atomic), and one batch's Redis or broker wait overlaps another's work. */
  partitionsConsumedConcurrently: int("FEATURES_CONCURRENCY", 4, { min: 1, max: 64 }),
};
export type FeaturesConfig = CommonConfig & ConfigOf<typeof featuresConfigSchema>;

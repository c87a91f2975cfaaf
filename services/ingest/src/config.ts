import { duration, int, str, type ConfigOf, type CommonConfig } from "@recfleet/runtime";
import { DEFAULT_PARTITIONS } from "@recfleet/contracts";
import { storeConfigSchema } from "@recfleet/store";

/** Ingest's settings (on top of commonConfigSchema). */
export const ingestConfigSchema = {
  ...storeConfigSchema,
  groupId: str("INGEST_GROUP_ID", "", "consumer group (default <namespace>.ingest)"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  latenessMs: duration("INGEST_LATENESS_THRESHOLD", 3_600_000),
  maxBytesPerPartition: int("INGEST_MAX_BYTES_PER_PARTITION", 262_144, { min: 1024 }),
  /**
   * A batch handler keeps its group membership (heartbeats go on) for up to this long while it
   * works: a large batch from a backlog on a busy machine outlives the 10 s session timeout, and a
   * batch whose commit the group refuses three times is dead-lettered. Past it the group takes the
   * partitions back (a stuck handler).
   */
  maxBatchTimeMs: duration("INGEST_MAX_BATCH_TIME", 60_000),
  /** Partitions handled at once; their effects are independent (keys are per user, scripts atomic), and one batch's Redis or broker wait overlaps another's work. */
  partitionsConsumedConcurrently: int("INGEST_CONCURRENCY", 4, { min: 1, max: 64 }),
  /** Raw id → pseudonym pairs kept in memory (LRU) to skip repeated HMACs; 0 turns the cache off. */
  pseudonymCacheSize: int("INGEST_PSEUDONYM_CACHE_SIZE", 100_000, { min: 0, max: 10_000_000 }),
};
export type IngestConfig = CommonConfig & ConfigOf<typeof ingestConfigSchema>;

import { duration, int, str, type ConfigOf, type CommonConfig } from "@recfleet/runtime";
import { storeConfigSchema } from "@recfleet/store";

/** Ingest's settings (on top of commonConfigSchema). */
export const ingestConfigSchema = {
  ...storeConfigSchema,
  groupId: str("INGEST_GROUP_ID", "", "consumer group (default <namespace>.ingest)"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", 4, { min: 1, max: 1024 }),
  latenessMs: duration("INGEST_LATENESS_THRESHOLD", 3_600_000),
  maxBytesPerPartition: int("INGEST_MAX_BYTES_PER_PARTITION", 262_144, { min: 1024 }),
  partitionsConsumedConcurrently: int("INGEST_CONCURRENCY", 1, { min: 1, max: 64 }),
};
export type IngestConfig = CommonConfig & ConfigOf<typeof ingestConfigSchema>;

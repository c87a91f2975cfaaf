/**
 * The one way the trainer and its CLI talk to BullMQ: a dedicated connection (BullMQ needs
 * maxRetriesPerRequest: null for its blocking commands) and the namespace's key prefix.
 */
import { Redis } from "ioredis";
import { UnrecoverableError } from "bullmq";
import { errorMessage, shouldRetry, type Logger } from "@recfleet/runtime";
import { newRedisClient, trainerKeys, type RedisConnection } from "@recfleet/store";

/** Options for every Queue, Worker, FlowProducer and QueueEvents: `new Queue(name, bull)`. */
export interface BullConnection {
  connection: Redis;
  /** `<ns>:bull`: without it BullMQ writes under `bull:`, shared by every fleet on the Redis. */
  prefix: string;
}

export function createBullConnection(config: RedisConnection & { namespace: string }, logger: Logger): BullConnection {
  const connection = newRedisClient(config, { maxRetriesPerRequest: null });
  // Without a listener a Redis blip becomes an unhandled 'error' event; ioredis reconnects by itself.
  connection.on("error", (err: Error) => {
    logger.warn("bullmq redis connection error; ioredis reconnects", { error: err.message });
  });
  return { connection, prefix: trainerKeys(config.namespace).bullPrefix };
}

/**
 * Runs a job's work; an error retrying cannot fix (shouldRetry false) becomes BullMQ's
 * UnrecoverableError, so BullMQ fails the job at once instead of spending its attempts.
 */
export async function failFastUnlessRetriable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!shouldRetry(err) && !(err instanceof UnrecoverableError)) throw new UnrecoverableError(errorMessage(err));
    throw err;
  }
}

/** Shared by the trainer's integration tests: a config for a test namespace and synthetic events. */
import { commonConfigSchema, loadConfig } from "@recfleet/runtime";
import type { CanonicalEvent } from "@recfleet/contracts";
import { trainerConfigSchema, type TrainerConfig } from "./config";

export function testEnv(namespace: string, infra: { brokers: string[]; redisUrl: string }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: infra.brokers.join(","),
    REDIS_URL: infra.redisUrl,
    RECFLEET_NAMESPACE: namespace,
    RECFLEET_TOPIC_PARTITIONS: "2",
    TRAIN_INTERVAL: "0",
    TRAIN_MIN_EVENTS: "50",
    TRAIN_EPOCHS: "2",
    TRAIN_DIM: "16",
    TRAIN_HIDDEN: "32",
    TRAIN_BATCH_SIZE: "64",
    EXECUTION_PROVIDERS: "cpu",
    EMBED_BACKOFF: "200ms",
    EMBED_TIMEOUT: "60s",
    ...extra,
  };
}

export function testConfig(env: NodeJS.ProcessEnv): TrainerConfig {
  return { ...loadConfig(commonConfigSchema, env), ...loadConfig(trainerConfigSchema, env) };
}

/**
 * Users in `groups` taste groups walk through their group's items in order, so the next item is
 * predictable from the history: a model that learns anything beats chance on the held-out slice.
 */
export function syntheticEvents(options: { users: number; eventsPerUser: number; items: number; groups: number; itemOffset?: number; startTs: number; tag: string }): CanonicalEvent[] {
  const out: CanonicalEvent[] = [];
  const perGroup = Math.floor(options.items / options.groups);
  for (let u = 0; u < options.users; u++) {
    const g = u % options.groups;
    for (let j = 0; j < options.eventsPerUser; j++) {
      const item = (options.itemOffset ?? 0) + g * perGroup + ((u + j) % perGroup);
      const ts = options.startTs + u * 10 + j * 1000;
      out.push({ eventId: `${options.tag}-${u}-${j}`, user: `u${u}`, itemId: `i${item}`, type: "click", ts, ingestedAt: ts, late: false });
    }
  }
  return out;
}

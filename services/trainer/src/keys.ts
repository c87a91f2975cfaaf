/**
 * Every Redis key and BullMQ queue name the trainer owns (the registry and the training window
 * keep theirs in @recfleet/store's models.ts):
 *   <ns>:trainer:lock                  string  fleet-wide training lock (token, PX TTL)
 *   <ns>:trainer:last                  string  JSON of the last training outcome (for `model list`)
 *   <ns>:trainer:embed:<version>       hash    worker id -> embed jobs completed for that version
 *   <ns>:trainer:embed-started:<ver>   hash    "<shard>" -> worker id that last started the shard
 * Queues (BullMQ, default "bull" prefix): <ns>-train, <ns>-embed-items, <ns>-promote.
 */
export interface TrainerKeys {
  lock: string;
  lastOutcome: string;
  embedBy(version: string): string;
  embedStarted(version: string): string;
}

export function trainerKeys(namespace: string): TrainerKeys {
  const p = `${namespace}:trainer:`;
  return {
    lock: `${p}lock`,
    lastOutcome: `${p}last`,
    embedBy: (v) => `${p}embed:${v}`,
    embedStarted: (v) => `${p}embed-started:${v}`,
  };
}

export interface QueueNames {
  train: string;
  embedItems: string;
  promote: string;
}

/** BullMQ queue names under a namespace (BullMQ forbids ":" in them). */
export function queueNames(namespace: string): QueueNames {
  return { train: `${namespace}-train`, embedItems: `${namespace}-embed-items`, promote: `${namespace}-promote` };
}

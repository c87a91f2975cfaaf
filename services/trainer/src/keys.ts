/**
 * BullMQ queue names the trainer owns: <ns>-train, <ns>-embed-items, <ns>-promote. Their keys
 * live under the namespace's BullMQ prefix (`<ns>:bull`, see createBullConnection); the
 * trainer's other Redis keys are in @recfleet/store's keys.ts.
 */
export interface QueueNames {
  train: string;
  embedItems: string;
  promote: string;
}

/** BullMQ queue names under a namespace (BullMQ forbids ":" in them). */
export function queueNames(namespace: string): QueueNames {
  return { train: `${namespace}-train`, embedItems: `${namespace}-embed-items`, promote: `${namespace}-promote` };
}

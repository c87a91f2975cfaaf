/**
 * BullMQ queue names the trainer owns (its Redis keys live in @recfleet/store's keys.ts):
 * <ns>-train, <ns>-embed-items, <ns>-promote, under BullMQ's default "bull" prefix.
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

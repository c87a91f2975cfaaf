/**
 * The catalog loop's logic: validated item changes (contracts' catalogItemSpec) → the catalog in
 * Redis, newest change per item winning. The message key must be the itemId, or compaction
 * would keep the wrong messages: such a message is dead-lettered with `key_mismatch`.
 */
import type { CatalogItem } from "@recfleet/contracts";
import type { BatchHandler, ConsumedMessage, Rejection } from "@recfleet/bus";

export interface CatalogHandlerDeps {
  /** Applies the changes in order; returns how many were newer than what was stored. */
  apply(changes: readonly CatalogItem[]): Promise<number>;
  counters?: { inc(outcome: "applied" | "stale" | "rejected", n: number): void };
}

export function createCatalogHandler(deps: CatalogHandlerDeps): BatchHandler<CatalogItem> {
  return async (messages) => {
    const accepted: ConsumedMessage<CatalogItem>[] = [];
    const rejected: Rejection<CatalogItem>[] = [];
    for (const m of messages) {
      if (m.key !== m.value.itemId) {
        const detail = `message key ${JSON.stringify(m.key)} is not the itemId ${JSON.stringify(m.value.itemId)}`;
        rejected.push({ message: m, reason: "key_mismatch", detail });
      } else accepted.push(m);
    }
    const applied = await deps.apply(accepted.map((m) => m.value));
    deps.counters?.inc("applied", applied);
    deps.counters?.inc("stale", accepted.length - applied);
    deps.counters?.inc("rejected", rejected.length);
    return { rejected };
  };
}

/**
 * A batch handler behind a per-batch transformation of the decoded values — for topics whose
 * messages are sealed and must be opened with keys fetched for the whole batch (one round trip)
 * before the service's own handler sees them. Bus knows nothing of keys: the service supplies
 * `open`. A value that cannot be opened because its key is gone is skipped and counted (it was
 * erased on purpose); one that is invalid once opened becomes a dead letter with its reason.
 */
import type { BatchHandler, ConsumedMessage, Rejection } from "./consumer";

export type Opened<T> =
  | { ok: true; value: T }
  | { ok: false; shredded: true }
  | { ok: false; shredded: false; reason: string; detail: string };

export function openingHandler<R, T>(
  open: (values: R[]) => Promise<Opened<T>[]>,
  handler: BatchHandler<T>,
  onShredded: (count: number) => void,
): BatchHandler<R> {
  return async (messages, ctx) => {
    const opened = await open(messages.map((m) => m.value));
    const valid: ConsumedMessage<T>[] = [];
    const rejected: Rejection<R>[] = [];
    let shredded = 0;
    opened.forEach((o, i) => {
      const m = messages[i]!;
      if (o.ok) valid.push({ ...m, value: o.value });
      else if (o.shredded) shredded++;
      else rejected.push({ message: m, reason: o.reason, detail: o.detail });
    });
    const outcome = valid.length > 0 ? await handler(valid, ctx) : undefined;
    // The batch runs again from there: nothing of this pass counts.
    if (outcome?.rewindTo !== undefined) return { rewindTo: outcome.rewindTo };
    if (shredded > 0) onShredded(shredded);
    const byOffset = new Map(messages.map((m) => [m.offset, m]));
    for (const r of outcome?.rejected ?? []) {
      const original = byOffset.get(r.message.offset);
      if (original) rejected.push({ message: original, reason: r.reason, detail: r.detail });
    }
    return { rejected };
  };
}

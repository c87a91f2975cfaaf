/**
 * Requests waiting for their answer on this gateway's reply partition, by requestId. An answer
 * nobody waits for (its deadline passed, or a previous holder of the partition asked) is
 * dropped and counted.
 */
import { decodeMessage, recommendationSpec, type Recommendation } from "@recfleet/contracts";

export interface PendingReplies {
  /** Resolves with the answer, or undefined once `deadlineMs` has passed. */
  wait(requestId: string, deadlineMs: number): Promise<Recommendation | undefined>;
  /** Values read from the reply partition. */
  deliver(values: readonly (Buffer | null)[]): void;
  readonly size: number;
  /** Resolves every waiting request with undefined (shutdown). */
  clear(): void;
}

export interface ReplyCounters {
  /**
   * An answer read: "matched" a waiting request; "late" (one of ours whose deadline passed);
   * "foreign" (not asked by this gateway: a previous holder of the partition, or misrouted);
   * "invalid".
   */
  answer(outcome: "matched" | "late" | "foreign" | "invalid"): void;
}

/** `ownPrefix`: every requestId this gateway makes starts with it (tells late answers from foreign ones). */
export function createPendingReplies(ownPrefix: string, counters?: ReplyCounters): PendingReplies {
  const waiting = new Map<string, { resolve(rec: Recommendation | undefined): void; timer: NodeJS.Timeout }>();
  return {
    wait(requestId, deadlineMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(requestId);
          resolve(undefined);
        }, deadlineMs);
        waiting.set(requestId, { resolve, timer });
      });
    },
    deliver(values) {
      for (const value of values) {
        const decoded = decodeMessage<Recommendation>(recommendationSpec, value);
        if (!decoded.ok) {
          counters?.answer("invalid");
          continue;
        }
        const entry = waiting.get(decoded.value.requestId);
        if (!entry) {
          counters?.answer(decoded.value.requestId.startsWith(ownPrefix) ? "late" : "foreign");
          continue;
        }
        waiting.delete(decoded.value.requestId);
        clearTimeout(entry.timer);
        counters?.answer("matched");
        entry.resolve(decoded.value);
      }
    },
    get size() {
      return waiting.size;
    },
    clear() {
      for (const { resolve, timer } of waiting.values()) {
        clearTimeout(timer);
        resolve(undefined);
      }
      waiting.clear();
    },
  };
}

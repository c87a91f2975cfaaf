/**
 * kafkajs 2.2.4 keeps a 1 ms timer loop running on every broker connection: its request queue
 * reschedules a check of pending requests after every check, and with nothing pending and no
 * throttle the delay is negative (throttledUntil starts at −1), which Node runs after 1 ms
 * (tulios/kafkajs#1556, #1704; unfixed upstream, which is no longer maintained). An idle producer
 * cost ~35 ms of CPU a second and ~1,700 event-loop wakeups on this machine; a scorer holds several
 * connections. Here the check is scheduled only when a request waits: with none pending nothing
 * can be sent, and `push` schedules again when one has to wait.
 */
import { createRequire } from "node:module";

interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

/** kafkajs' retry interval for a queue held back by in-flight limits (its CHECK_PENDING_REQUESTS_INTERVAL). */
const RECHECK_MS = 10;
let applied = false;

/** The RequestQueue class kafkajs builds its connections with (the same module instance). */
export function kafkajsRequestQueue(): new (options: Record<string, unknown>) => RequestQueueInternals {
  return createRequire(import.meta.url)("kafkajs/src/network/requestQueue/index.js");
}

export function fixIdleRequestQueueLoop(): void {
  if (applied) return;
  applied = true;
  const prototype = kafkajsRequestQueue().prototype as RequestQueueInternals;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueueInternals) {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const throttledFor = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      throttledFor > 0 ? throttledFor : RECHECK_MS,
    );
  };
}

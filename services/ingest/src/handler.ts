/**
 * Ingest's logic, free of Kafka and Redis: validate → dedupe (through an injected claim
 * function) → pseudonymise → normalise time → canonical events keyed by pseudonym.
 */
import {
  clickstreamEventSpec,
  decodeMessage,
  DEFAULT_LIMITS,
  type CanonicalEvent,
  type ClickstreamEvent,
  type Limits,
  type ReasonCode,
} from "@recfleet/contracts";
import type { BatchHandler, OutgoingMessage } from "@recfleet/bus";
import type { ClaimOutcome, EventClaim, SealedEnvelope } from "@recfleet/store";

export interface CanonicalOptions {
  /** Events older than this at arrival are kept and marked `late: true`. */
  latenessMs: number;
  pseudonymise: (rawUserId: string) => string;
}

const REDACTED = "[redacted]";

/** The canonical form of a valid clickstream event. The raw user id goes no further than this function. */
export function toCanonical(e: ClickstreamEvent, options: CanonicalOptions, now: number): CanonicalEvent {
  const out: CanonicalEvent = {
    eventId: e.eventId,
    user: options.pseudonymise(e.userId),
    itemId: e.itemId,
    type: e.type,
    ts: e.ts,
    ingestedAt: now,
    late: e.ts < now - options.latenessMs,
  };
  if (e.value !== undefined) out.value = e.value;
  if (e.recId !== undefined) out.recId = e.recId;
  if (e.context !== undefined) {
    // Free-form attributes must not smuggle the raw id onto `events`.
    const context: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(e.context)) {
      context[k.includes(e.userId) ? REDACTED : k] = typeof v === "string" && v.includes(e.userId) ? REDACTED : v;
    }
    out.context = context;
  }
  return out;
}

export type IngestOutcome = { ok: true; event: CanonicalEvent } | { ok: false; reason: ReasonCode; detail: string };

/** Bytes → canonical event or a dead-letter reason. Never throws, whatever the input. */
export function ingestOne(
  bytes: Uint8Array | string | null,
  options: CanonicalOptions,
  now: number,
  limits: Limits = DEFAULT_LIMITS,
): IngestOutcome {
  const decoded = decodeMessage<ClickstreamEvent>(clickstreamEventSpec, bytes, limits, now);
  if (!decoded.ok) return decoded;
  return { ok: true, event: toCanonical(decoded.value, options, now) };
}

export interface IngestCounters {
  inc(outcome: ClaimOutcome | "late", n: number): void;
}

export interface IngestHandlerDeps extends CanonicalOptions {
  /** One round trip for the batch: the store's claimEvents. */
  claim: (claims: EventClaim[]) => Promise<ClaimOutcome[]>;
  /** One producer send for the batch. */
  send: (topic: string, messages: OutgoingMessage[]) => Promise<void>;
  eventsTopic: string;
  now?: () => number;
  counters?: IngestCounters;
  /**
   * Crypto-shredding: seals each event with its user's data key (the keyring's sealForUsers).
   * Sealed events are keyed by key id instead of pseudonym, so one user's events stay in order
   * and nothing on the topic names the user once the key is erased.
   */
  seal?: (events: { user: string; value: CanonicalEvent }[]) => Promise<SealedEnvelope[]>;
}

/**
 * Per consumed batch: claim every event id (new / replay / duplicate), then produce the new and
 * replayed ones as canonical events keyed by pseudonym in one send. A crash between the claim
 * and the send replays the batch; the claims then hold these messages' own offsets, so they
 * are produced again instead of being dropped as duplicates.
 */
export function createIngestHandler(deps: IngestHandlerDeps): BatchHandler<ClickstreamEvent> {
  const now = deps.now ?? Date.now;
  return async (messages) => {
    const outcomes = await deps.claim(
      messages.map((m) => ({ eventId: m.value.eventId, partition: m.partition, offset: Number(m.offset) })),
    );
    const t = now();
    const out: { key: string; value: CanonicalEvent }[] = [];
    const tally = { new: 0, replay: 0, duplicate: 0, late: 0 };
    messages.forEach((m, i) => {
      const outcome = outcomes[i] ?? "duplicate";
      tally[outcome]++;
      if (outcome === "duplicate") return;
      const event = toCanonical(m.value, deps, t);
      if (event.late) tally.late++;
      out.push({ key: event.user, value: event });
    });
    if (deps.seal) {
      const sealed = await deps.seal(out.map((m) => ({ user: m.key, value: m.value })));
      await deps.send(
        deps.eventsTopic,
        sealed.map((value) => ({ key: value.k, value })),
      );
    } else await deps.send(deps.eventsTopic, out as OutgoingMessage[]);
    if (deps.counters)
      for (const [k, n] of Object.entries(tally)) if (n > 0) deps.counters.inc(k as ClaimOutcome | "late", n);
  };
}

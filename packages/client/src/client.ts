/**
 * @recfleet/client: the same calls over two transports. `createHttpClient` speaks to the
 * gateway (browsers, apps; only `fetch`, no Node API); `createKafkaClient` (from
 * "@recfleet/client/kafka") produces and consumes the fleet's topics directly (backends).
 * Both validate nothing the fleet would not: events are checked by contracts either way, with
 * the same reason codes.
 */
import type { ClickstreamEvent, EventResult, Recommendation } from "@recfleet/contracts";

/** An event as an app sends it: `ts` may be epoch ms or an ISO-8601 string with a zone. */
export type EventInput = Omit<ClickstreamEvent, "ts"> & { ts: number | string };

export type { EventResult };

export interface EventResults {
  accepted: number;
  rejected: number;
  results: EventResult[];
}

export interface RecommendParams {
  user: string;
  k?: number;
  policy?: string;
  exclude?: string[];
}

export interface RecfleetClient {
  /** Valid events reach the clickstream topic; each result says accepted or why not. */
  sendEvents(events: readonly EventInput[]): Promise<EventResults>;
  /** The fleet's answer for one user. Throws RecfleetClientError (reason deadline_exceeded, …). */
  recommend(params: RecommendParams): Promise<Recommendation>;
  close(): Promise<void>;
}

/** A call the fleet refused or could not answer: the reason code (contracts', or unauthorized, rate_limited, deadline_exceeded, …). */
export class RecfleetClientError extends Error {
  readonly retriable: boolean;
  constructor(
    readonly reason: string,
    message: string,
    /** HTTP status over HTTP; the HTTP status that means the same over Kafka. */
    readonly status: number,
    /** Seconds to wait before retrying (rate limited). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "RecfleetClientError";
    this.retriable = status === 429 || status >= 500;
  }
}

export interface HttpClientOptions {
  /** The gateway, e.g. "https://recs.example.com". */
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
}

export function createHttpClient(options: HttpClientOptions): RecfleetClient {
  const get = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, "");
  const call = async <T>(path: string, init: RequestInit = {}, accept: number[] = [200]): Promise<T> => {
    const res = await get(base + path, {
      ...init,
      headers: { authorization: `Bearer ${options.apiKey}`, ...(init.headers as Record<string, string> | undefined) },
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (accept.includes(res.status)) return body as T;
    const retryAfter = res.headers.get("retry-after");
    throw new RecfleetClientError(
      typeof body.error === "string" ? body.error : "http_error",
      `${res.status} ${typeof body.detail === "string" ? body.detail : res.statusText}`,
      res.status,
      retryAfter === null ? undefined : Number(retryAfter),
    );
  };
  return {
    async sendEvents(events) {
      // A batch whose every event was rejected comes back 400 with the same per-event results.
      const res = await get(base + "/v1/events", {
        method: "POST",
        headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ events }),
      });
      const body = (await res.json().catch(() => ({}))) as EventResults & { error?: string; detail?: string };
      if (res.ok || (res.status === 400 && Array.isArray(body.results))) return body;
      const retryAfter = res.headers.get("retry-after");
      throw new RecfleetClientError(
        body.error ?? "http_error",
        `${res.status} ${body.detail ?? res.statusText}`,
        res.status,
        retryAfter === null ? undefined : Number(retryAfter),
      );
    },
    recommend(params) {
      const query = new URLSearchParams({ user: params.user });
      if (params.k !== undefined) query.set("k", String(params.k));
      if (params.policy !== undefined) query.set("policy", params.policy);
      if (params.exclude?.length) query.set("exclude", params.exclude.join(","));
      return call<Recommendation>(`/v1/recommendations?${query.toString()}`);
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The gateway's HTTP API as a node:http request handler, free of Kafka and Redis (every
 * dependency is passed in), so tests drive it in-process. node:http rather than a framework:
 * there are six routes, validation is packages/contracts' (the same code and reason codes as the
 * topics' dead letters), and a body limit, CORS and JSON answers are a few lines each.
 *
 * Order per request: CORS preflight → route → API key (401) → scope (403) → token bucket (429 +
 * Retry-After) → body (400 with reason codes) → work. Nothing invalid is produced to Kafka.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  clickstreamEventSpec,
  decodeMessage,
  recRequestSpec,
  validateValue,
  type ClickstreamEvent,
  type EventResult,
  type ReasonCode,
  type Recommendation,
  type RecRequest,
  type RecommendedItem,
} from "@recfleet/contracts";
import type { AllowedPolicies } from "@recfleet/policy";
import { NoRollbackTargetError, type ApiKeyInfo, type ApiScope, type TokenTake } from "@recfleet/store";

export interface GatewayLimits {
  maxBodyBytes: number;
  maxEventsPerBatch: number;
  defaultK: number;
  deadlineMs: number;
  /** Past the deadline: popular items marked as such instead of 504. */
  popularFallback: boolean;
  /** Allowed browser origins ("*" for any); empty: no CORS headers. */
  corsOrigins: readonly string[];
}

export interface GatewayCounters {
  request(route: string, status: number, seconds: number): void;
  events(outcome: "accepted" | "rejected", n: number): void;
  deadline(outcome: "timeout" | "fallback"): void;
}

export interface GatewayDeps {
  limits: GatewayLimits;
  verifyKey(presented: string): Promise<ApiKeyInfo | undefined>;
  takeToken(key: ApiKeyInfo): Promise<TokenTake>;
  policies: AllowedPolicies;
  /** Produces valid events to clickstream (keyed by userId). */
  produceEvents(events: ClickstreamEvent[]): Promise<void>;
  /** Sends the request to rec.requests and waits at most `deadlineMs` for its answer on this gateway's reply partition. */
  recommend(
    request: Omit<RecRequest, "requestId" | "replyPartition">,
    deadlineMs: number,
  ): Promise<Recommendation | undefined>;
  popularItems(k: number): Promise<RecommendedItem[]>;
  openApi: object;
  consoleHtml: string;
  admin: {
    overview(): Promise<unknown>;
    rollback(): Promise<{ from: string; to: string }>;
  };
  counters?: GatewayCounters;
}

/** A rejected request: the HTTP status, a reason code (contracts' for bad input) and a detail. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason:
      | ReasonCode
      | "unauthorized"
      | "forbidden"
      | "rate_limited"
      | "not_found"
      | "method_not_allowed"
      | "deadline_exceeded"
      | "unsupported_media_type"
      | "no_rollback_target",
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Reads the body up to `limit` bytes; a longer one is refused without reading the rest. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > limit)
    throw new HttpError(400, "payload_too_large", `body is ${declared} bytes (limit ${limit})`, {
      connection: "close",
    });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit)
      throw new HttpError(400, "payload_too_large", `body is over ${limit} bytes`, { connection: "close" });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body)) as unknown;
  } catch (err) {
    throw new HttpError(
      400,
      "malformed_json",
      `not UTF-8 JSON: ${err instanceof Error ? err.message.slice(0, 80) : "parse error"}`,
    );
  }
}

/** Validates a batch body `{"events": [...]}` event by event, with clickstream's own spec (size limit included). */
export function validateEventBatch(
  body: unknown,
  maxEvents: number,
  now = Date.now(),
): { valid: ClickstreamEvent[]; results: EventResult[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, "not_an_object", 'the body must be a JSON object {"events": [...]}');
  const keys = Object.keys(body);
  const extra = keys.find((k) => k !== "events");
  if (extra !== undefined)
    throw new HttpError(400, "unknown_field", `${JSON.stringify(extra.slice(0, 40))} is not a field of an event batch`);
  const events = (body as { events?: unknown }).events;
  if (events === undefined) throw new HttpError(400, "missing_field", "events is required");
  if (!Array.isArray(events)) throw new HttpError(400, "wrong_type", "events must be an array");
  if (events.length > maxEvents)
    throw new HttpError(400, "too_many_items", `events has ${events.length} items (limit ${maxEvents})`);
  const valid: ClickstreamEvent[] = [];
  const results: EventResult[] = events.map((event: unknown, index) => {
    const eventId =
      typeof event === "object" && event !== null && typeof (event as { eventId?: unknown }).eventId === "string"
        ? (event as { eventId: string }).eventId.slice(0, 128)
        : undefined;
    const decoded = decodeMessage<ClickstreamEvent>(
      clickstreamEventSpec,
      JSON.stringify(event) ?? "null",
      undefined,
      now,
    );
    if (!decoded.ok)
      return {
        index,
        ...(eventId ? { eventId } : {}),
        status: "rejected",
        reason: decoded.reason as ReasonCode,
        detail: decoded.detail,
      };
    valid.push(decoded.value);
    return { index, eventId: decoded.value.eventId, status: "accepted" };
  });
  return { valid, results };
}

const REC_PARAMS = new Set(["user", "k", "policy", "exclude", "category", "exclude_category", "boost"]);

/** Comma-separated and repeated values of a query parameter, as one list. */
const listParam = (query: URLSearchParams, name: string) =>
  query
    .getAll(name)
    .flatMap((v) => v.split(","))
    .filter((v) => v.length > 0);

/** `boost=<category>:<weight>` (repeatable): a logit boost of the catalog issue's request boosts. */
function boostsFromQuery(query: URLSearchParams): { category: string; weight: number }[] {
  return listParam(query, "boost").map((raw) => {
    const at = raw.lastIndexOf(":");
    const weight = Number(raw.slice(at + 1));
    if (at <= 0 || !Number.isFinite(weight))
      throw new HttpError(
        400,
        "wrong_type",
        `boost must be <category>:<weight>, got ${JSON.stringify(raw.slice(0, 40))}`,
      );
    return { category: raw.slice(0, at), weight };
  });
}

/** The query of GET /v1/recommendations as a rec request, checked with rec-request's spec and the allowed policies. */
export function recRequestFromQuery(
  query: URLSearchParams,
  policies: AllowedPolicies,
  now = Date.now(),
): Omit<RecRequest, "requestId" | "replyPartition"> {
  for (const name of query.keys()) {
    if (!REC_PARAMS.has(name))
      throw new HttpError(400, "unknown_field", `${JSON.stringify(name.slice(0, 40))} is not a parameter`);
  }
  const user = query.get("user");
  if (user === null) throw new HttpError(400, "missing_field", "user is required");
  const k = query.get("k");
  if (k !== null && !/^\d{1,4}$/.test(k)) throw new HttpError(400, "wrong_type", "k must be an integer");
  const policy = query.get("policy");
  const exclude = listParam(query, "exclude");
  const includeCategories = listParam(query, "category");
  const excludeCategories = listParam(query, "exclude_category");
  const boosts = boostsFromQuery(query);
  const filters = {
    ...(includeCategories.length > 0 ? { includeCategories } : {}),
    ...(excludeCategories.length > 0 ? { excludeCategories } : {}),
  };
  const request = {
    requestId: "probe",
    userId: user,
    ts: now,
    ...(k !== null ? { k: Number(k) } : {}),
    ...(policy !== null ? { policy } : {}),
    ...(exclude.length > 0 ? { exclude } : {}),
    ...(Object.keys(filters).length > 0 ? { filters } : {}),
    ...(boosts.length > 0 ? { boosts } : {}),
  };
  const checked = validateValue<RecRequest>(recRequestSpec, request, undefined, now);
  if (!checked.ok) throw new HttpError(400, checked.reason, checked.detail);
  if (policy !== null) {
    const found = policies.lookup(policy);
    if (!found.ok) throw new HttpError(400, found.reason, found.detail);
  }
  const { requestId: _probe, ...rest } = checked.value;
  return rest;
}

interface Route {
  method: "GET" | "POST";
  /** Scope needed; absent: public (the OpenAPI document and the console's page, which holds no data). */
  scope?: ApiScope;
  handle(req: IncomingMessage, res: ServerResponse, url: URL, key: ApiKeyInfo | undefined): Promise<void>;
}

export function createGatewayHandler(deps: GatewayDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { limits } = deps;
  const routes: Record<string, Route> = {
    "/openapi.json": {
      method: "GET",
      handle: (_req, res) => Promise.resolve(sendJson(res, 200, deps.openApi)),
    },
    "/console": {
      method: "GET",
      handle(_req, res) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
        res.end(deps.consoleHtml);
        return Promise.resolve();
      },
    },
    "/v1/events": {
      method: "POST",
      scope: "events:write",
      async handle(req, res) {
        const type = req.headers["content-type"] ?? "";
        if (!type.startsWith("application/json"))
          throw new HttpError(415, "unsupported_media_type", "send the batch as application/json");
        const { valid, results } = validateEventBatch(
          parseJson(await readBody(req, limits.maxBodyBytes)),
          limits.maxEventsPerBatch,
        );
        if (valid.length > 0) await deps.produceEvents(valid);
        const rejected = results.length - valid.length;
        deps.counters?.events("accepted", valid.length);
        deps.counters?.events("rejected", rejected);
        // Every event rejected is a bad request; a mixed batch is accepted in part, each result says which.
        sendJson(res, valid.length === 0 && rejected > 0 ? 400 : 200, { accepted: valid.length, rejected, results });
      },
    },
    "/v1/recommendations": {
      method: "GET",
      scope: "recs:read",
      async handle(_req, res, url) {
        const request = recRequestFromQuery(url.searchParams, deps.policies);
        const answer = await deps.recommend(request, limits.deadlineMs);
        if (answer) return sendJson(res, 200, answer);
        if (!limits.popularFallback) {
          deps.counters?.deadline("timeout");
          throw new HttpError(
            504,
            "deadline_exceeded",
            `no answer from the fleet within ${limits.deadlineMs} ms (GATEWAY_DEADLINE)`,
          );
        }
        deps.counters?.deadline("fallback");
        const items = await deps.popularItems(request.k ?? limits.defaultK);
        sendJson(
          res,
          200,
          { items, policy: "popular", reason: "deadline_popular", servedAt: Date.now() },
          {
            "x-recfleet-fallback": "deadline_popular",
          },
        );
      },
    },
    "/v1/admin/overview": {
      method: "GET",
      scope: "admin",
      async handle(_req, res) {
        sendJson(res, 200, await deps.admin.overview());
      },
    },
    "/v1/admin/rollback": {
      method: "POST",
      scope: "admin",
      async handle(_req, res) {
        try {
          sendJson(res, 200, { rolledBack: await deps.admin.rollback() });
        } catch (err) {
          if (err instanceof NoRollbackTargetError) throw new HttpError(409, "no_rollback_target", err.message);
          throw err;
        }
      },
    },
  };

  const corsHeaders = (req: IncomingMessage): Record<string, string> => {
    const origin = req.headers.origin;
    if (!origin || limits.corsOrigins.length === 0) return {};
    const allowed = limits.corsOrigins.includes("*") || limits.corsOrigins.includes(origin);
    if (!allowed) return {};
    return {
      "access-control-allow-origin": limits.corsOrigins.includes("*") ? "*" : origin,
      "access-control-allow-headers": "authorization, content-type, x-api-key",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-expose-headers": "retry-after, x-recfleet-fallback, x-ratelimit-remaining",
      "access-control-max-age": "600",
      vary: "origin",
    };
  };

  const authenticate = async (req: IncomingMessage, scope: ApiScope): Promise<ApiKeyInfo> => {
    const header = req.headers.authorization;
    const presented = header?.startsWith("Bearer ") ? header.slice(7).trim() : req.headers["x-api-key"];
    if (typeof presented !== "string" || presented.length === 0)
      throw new HttpError(401, "unauthorized", "send an API key: Authorization: Bearer <key>", {
        "www-authenticate": "Bearer",
      });
    const key = await deps.verifyKey(presented);
    if (!key) throw new HttpError(401, "unauthorized", "unknown or revoked API key", { "www-authenticate": "Bearer" });
    if (!key.scopes.includes(scope)) throw new HttpError(403, "forbidden", `this key lacks the ${scope} scope`);
    const take = await deps.takeToken(key);
    if (!take.allowed) {
      const seconds = Math.max(1, Math.ceil(take.retryAfterMs / 1000));
      throw new HttpError(429, "rate_limited", `over this key's rate of ${key.rate}/s (burst ${key.burst})`, {
        "retry-after": String(seconds),
      });
    }
    return key;
  };

  return (req, res) => {
    const started = performance.now();
    const url = new URL(req.url ?? "/", "http://gateway");
    const route = routes[url.pathname];
    const label = route ? url.pathname : "other";
    const cors = corsHeaders(req);
    for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    res.on("finish", () => deps.counters?.request(label, res.statusCode, (performance.now() - started) / 1000));
    void (async () => {
      if (req.method === "OPTIONS") {
        res.writeHead(204);
        res.end();
        return;
      }
      if (!route) throw new HttpError(404, "not_found", `no route ${url.pathname}; see /openapi.json`);
      if (req.method !== route.method)
        throw new HttpError(405, "method_not_allowed", `${url.pathname} takes ${route.method}`, {
          allow: route.method,
        });
      const key = route.scope ? await authenticate(req, route.scope) : undefined;
      await route.handle(req, res, url, key);
    })().catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpError)
        return sendJson(res, err.status, { error: err.reason, detail: err.detail }, err.headers);
      sendJson(res, 500, { error: "internal", detail: err instanceof Error ? err.message.slice(0, 200) : "error" });
    });
  };
}

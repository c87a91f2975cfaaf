/**
 * The OpenAPI 3.1 document of the gateway, generated from packages/contracts' message specs —
 * the same source as the validators and the JSON Schema files — so the document, the checks
 * and the topics cannot drift apart. Served at /openapi.json.
 */
import {
  clickstreamEventSpec,
  REASON_CODES,
  recommendationSpec,
  recRequestSpec,
  toOpenApiSchema,
} from "@recfleet/contracts";

export interface OpenApiOptions {
  maxEventsPerBatch: number;
  maxBodyBytes: number;
  deadlineMs: number;
}

const ERROR_CODES = [
  ...REASON_CODES,
  "unauthorized",
  "forbidden",
  "rate_limited",
  "not_found",
  "method_not_allowed",
  "deadline_exceeded",
  "unsupported_media_type",
  "no_rollback_target",
  "internal",
];

const json = (schema: object) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string, headers?: object) => ({
  description,
  content: json(ref("Error")),
  ...(headers ? { headers } : {}),
});

/** The routes, with what each needs: the test calls every one of them. */
export function buildOpenApi(options: OpenApiOptions): Record<string, unknown> {
  const field = (name: string) => {
    const schema = (toOpenApiSchema(recRequestSpec).properties as Record<string, { description?: string }>)[name]!;
    return schema;
  };
  const secured = (scope: string) => ({ security: [{ apiKey: [scope] }] });
  const authErrors = {
    "401": error("Missing, unknown or revoked API key."),
    "403": error("The key lacks the scope this route needs."),
    "429": error("Over the key's rate limit.", {
      "Retry-After": { description: "Seconds until a request would be allowed.", schema: { type: "integer" } },
    }),
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "recfleet gateway",
      version: "1.0.0",
      description:
        "HTTP access to a recfleet fleet: clickstream events in, recommendations out. Bad input is answered 400 with the reason codes of the fleet's dead-letter topics.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    components: {
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "An API key from `npx recfleet keys create` (scopes: events:write, recs:read, admin).",
        },
      },
      schemas: {
        ClickstreamEvent: toOpenApiSchema(clickstreamEventSpec),
        Recommendation: toOpenApiSchema(recommendationSpec),
        EventBatch: {
          type: "object",
          additionalProperties: false,
          required: ["events"],
          properties: {
            events: { type: "array", maxItems: options.maxEventsPerBatch, items: ref("ClickstreamEvent") },
          },
          description: `At most ${options.maxBodyBytes} bytes; each event at most ${clickstreamEventSpec.maxBytes} bytes.`,
        },
        EventResults: {
          type: "object",
          required: ["accepted", "rejected", "results"],
          properties: {
            accepted: { type: "integer", minimum: 0 },
            rejected: { type: "integer", minimum: 0 },
            results: {
              type: "array",
              items: {
                type: "object",
                required: ["index", "status"],
                properties: {
                  index: { type: "integer", minimum: 0 },
                  eventId: { type: "string" },
                  status: { type: "string", enum: ["accepted", "rejected"] },
                  reason: { type: "string", enum: [...REASON_CODES] },
                  detail: { type: "string" },
                },
              },
            },
          },
        },
        PopularFallback: {
          type: "object",
          required: ["items", "policy", "reason", "servedAt"],
          description:
            "Popular items, when the fleet did not answer within the deadline and GATEWAY_POPULAR_FALLBACK is on.",
          properties: {
            items: { type: "array", items: { type: "object" } },
            policy: { const: "popular" },
            reason: { const: "deadline_popular" },
            servedAt: { type: "integer" },
          },
        },
        Error: {
          type: "object",
          required: ["error", "detail"],
          properties: { error: { type: "string", enum: ERROR_CODES }, detail: { type: "string" } },
        },
      },
    },
    paths: {
      "/v1/events": {
        post: {
          operationId: "sendEvents",
          summary: "Send a batch of clickstream events; valid ones are produced to the clickstream topic.",
          ...secured("events:write"),
          requestBody: { required: true, content: json(ref("EventBatch")) },
          responses: {
            "200": { description: "Per-event results (some may be rejected).", content: json(ref("EventResults")) },
            "400": {
              description: "Bad body, or every event rejected (results say why).",
              content: json({ oneOf: [ref("Error"), ref("EventResults")] }),
            },
            ...authErrors,
          },
        },
      },
      "/v1/recommendations": {
        get: {
          operationId: "recommend",
          summary: "Recommendations for one user, answered by the fleet over Kafka.",
          ...secured("recs:read"),
          parameters: [
            { name: "user", in: "query", required: true, schema: field("userId"), description: "The app's user id." },
            { name: "k", in: "query", required: false, schema: field("k") },
            { name: "policy", in: "query", required: false, schema: field("policy") },
            {
              name: "exclude",
              in: "query",
              required: false,
              schema: field("exclude"),
              style: "form",
              explode: false,
              description: "Item ids not to return (comma-separated).",
            },
            {
              name: "category",
              in: "query",
              required: false,
              schema: { type: "array", items: { type: "string", maxLength: 64 }, maxItems: 16 },
              style: "form",
              explode: false,
              description: "Only items of these catalog categories (comma-separated; filters.includeCategories).",
            },
            {
              name: "exclude_category",
              in: "query",
              required: false,
              schema: { type: "array", items: { type: "string", maxLength: 64 }, maxItems: 16 },
              style: "form",
              explode: false,
              description: "No items of these catalog categories (filters.excludeCategories).",
            },
            {
              name: "boost",
              in: "query",
              required: false,
              schema: { type: "array", items: { type: "string", pattern: "^.+:-?[0-9.]+$" }, maxItems: 8 },
              style: "form",
              explode: true,
              description: "<category>:<weight> logit boosts before the policy (boosts; |weight| ≤ 5).",
            },
          ],
          responses: {
            "200": {
              description: "The fleet's answer (or, when configured, popular items past the deadline).",
              content: json({ oneOf: [ref("Recommendation"), ref("PopularFallback")] }),
            },
            "400": error("Bad parameters (reason codes of rec.requests.dlq)."),
            "504": error(`No answer within the deadline (${options.deadlineMs} ms).`),
            ...authErrors,
          },
        },
      },
      "/v1/admin/overview": {
        get: {
          operationId: "overview",
          summary: "What the console shows: workers, lag, throughput, dead letters, models, policies, charts.",
          ...secured("admin"),
          responses: { "200": { description: "Fleet overview.", content: json({ type: "object" }) }, ...authErrors },
        },
      },
      "/v1/admin/rollback": {
        post: {
          operationId: "rollback",
          summary: "Roll the serving model back to the version promoted before it, and announce it.",
          ...secured("admin"),
          responses: {
            "200": {
              description: "Rolled back.",
              content: json({
                type: "object",
                properties: {
                  rolledBack: { type: "object", properties: { from: { type: "string" }, to: { type: "string" } } },
                },
              }),
            },
            "409": error("No version was promoted before the current one."),
            ...authErrors,
          },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "openApi",
          summary: "This document.",
          responses: { "200": { description: "OpenAPI 3.1", content: json({ type: "object" }) } },
        },
      },
      "/console": {
        get: {
          operationId: "console",
          summary: "The console page (its data needs an admin key).",
          responses: { "200": { description: "HTML", content: { "text/html": { schema: { type: "string" } } } } },
        },
      },
    },
  };
}

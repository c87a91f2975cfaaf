/**
 * A small schema language: each message type is declared once as data, and both the
 * validator and the JSON Schema files (for producers in other languages) come from it.
 * Validation never throws on bad input; it returns a reason code and a detail.
 */

export type ReasonCode =
  | "malformed_json"
  | "not_an_object"
  | "payload_too_large"
  | "missing_field"
  | "unknown_field"
  | "wrong_type"
  | "invalid_id"
  | "unknown_enum_value"
  | "timestamp_out_of_range"
  | "timestamp_in_future"
  | "timestamp_without_timezone"
  | "value_out_of_range"
  | "too_many_items"
  | "string_too_long"
  // The scorer's, for a request's `policy`: not a policy spec / not one the operator allows.
  | "unknown_policy"
  | "policy_not_allowed"
  // The scorer's, for a request's filters the field specs cannot check (a range with min > max).
  | "invalid_filter"
  // The catalog worker's: an items message whose key is not its itemId (compaction keys on it).
  | "key_mismatch";

export const REASON_CODES: readonly ReasonCode[] = [
  "malformed_json",
  "not_an_object",
  "payload_too_large",
  "missing_field",
  "unknown_field",
  "wrong_type",
  "invalid_id",
  "unknown_enum_value",
  "timestamp_out_of_range",
  "timestamp_in_future",
  "timestamp_without_timezone",
  "value_out_of_range",
  "too_many_items",
  "string_too_long",
  "unknown_policy",
  "policy_not_allowed",
  "invalid_filter",
  "key_mismatch",
];

/** Ids are what end up inside Redis keys and logs: short, printable ASCII, no separators or globs. */
export const ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$";
const ID_REGEX = new RegExp(ID_PATTERN);
export const MAX_ID_LENGTH = 128;

export type FieldSpec =
  | { kind: "id"; optional?: boolean; description: string }
  | { kind: "enum"; values: readonly string[]; optional?: boolean; description: string }
  /** maxAgeMs: also reject times further than this in the past of the receiver's clock. */
  | { kind: "timestamp"; maxAgeMs?: number; optional?: boolean; description: string }
  | { kind: "number"; min: number; max: number; integer?: boolean; optional?: boolean; description: string }
  | { kind: "boolean"; optional?: boolean; description: string }
  | { kind: "string"; maxLength: number; optional?: boolean; description: string }
  | { kind: "attributes"; maxKeys: number; maxValueLength: number; optional?: boolean; description: string }
  | { kind: "array"; of: FieldSpec; maxItems: number; optional?: boolean; description: string }
  /** An object keyed by ids (e.g. item id → stats), every value of the same spec; `keyPattern` replaces ID_PATTERN for keys that are not ids (e.g. policy ids). */
  | {
      kind: "map";
      values: FieldSpec;
      maxKeys: number;
      keyPattern?: string;
      optional?: boolean;
      description: string;
    }
  | { kind: "object"; fields: Record<string, FieldSpec>; optional?: boolean; description: string };

export interface MessageSpec {
  name: string;
  description: string;
  maxBytes: number;
  fields: Record<string, FieldSpec>;
}

export interface Limits {
  /** Accept timestamps at most this far ahead of the receiver's clock. */
  maxFutureSkewMs: number;
  /** Reject timestamps older than this absolute epoch-ms floor (clearly wrong clocks). */
  minTimestampMs: number;
}

export const DEFAULT_LIMITS: Limits = { maxFutureSkewMs: 5 * 60_000, minTimestampMs: Date.UTC(2000, 0, 1) };

/**
 * ISO-8601 timestamps must name their zone (Z or ±hh:mm): without one, Date.parse reads the
 * receiver's local time, so the same event means different instants on different hosts.
 * The year is 2000 or later, like DEFAULT_LIMITS.minTimestampMs; the JSON Schema uses this too.
 */
export const ISO_TIMESTAMP_PATTERN = "^[2-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|z|[+-][0-9]{2}:[0-9]{2})$";
const ISO_TIMESTAMP_REGEX = new RegExp(ISO_TIMESTAMP_PATTERN);
const ZONE_SUFFIX = /(Z|z|[+-]\d{2}:\d{2})$/;

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: ReasonCode; detail: string };

const fail = (reason: ReasonCode, detail: string): { ok: false; reason: ReasonCode; detail: string } => ({
  ok: false,
  reason,
  detail,
});

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describeType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** Shortened, printable form of a value for a rejection detail (never the whole payload). */
function preview(v: unknown): string {
  const s = typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + "…" : s);
}

function validateField(path: string, spec: FieldSpec, v: unknown, limits: Limits, now: number): Validation<unknown> {
  switch (spec.kind) {
    case "id":
      if (typeof v !== "string") return fail("wrong_type", `${path} must be a string, got ${describeType(v)}`);
      if (!ID_REGEX.test(v))
        return fail("invalid_id", `${path} must match ${ID_PATTERN} (1-${MAX_ID_LENGTH} chars), got ${preview(v)}`);
      return { ok: true, value: v };
    case "enum":
      if (typeof v !== "string") return fail("wrong_type", `${path} must be a string, got ${describeType(v)}`);
      if (!spec.values.includes(v))
        return fail("unknown_enum_value", `${path} must be one of ${spec.values.join("|")}, got ${preview(v)}`);
      return { ok: true, value: v };
    case "timestamp": {
      let ms: number;
      if (typeof v === "number") ms = v;
      else if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v)) {
        if (!ZONE_SUFFIX.test(v))
          return fail("timestamp_without_timezone", `${path} ${preview(v)} has no time zone: end it with Z or ±hh:mm`);
        if (!ISO_TIMESTAMP_REGEX.test(v))
          return fail("wrong_type", `${path} ${preview(v)} does not match ${ISO_TIMESTAMP_PATTERN}`);
        ms = Date.parse(v);
      } else
        return fail("wrong_type", `${path} must be epoch milliseconds or an ISO-8601 string, got ${describeType(v)}`);
      if (!Number.isFinite(ms) || !Number.isInteger(Math.round(ms)))
        return fail("wrong_type", `${path} is not a valid time`);
      ms = Math.round(ms);
      if (ms < limits.minTimestampMs)
        return fail(
          "timestamp_out_of_range",
          `${path} ${ms} is before ${new Date(limits.minTimestampMs).toISOString()}`,
        );
      if (ms > now + limits.maxFutureSkewMs)
        return fail(
          "timestamp_in_future",
          `${path} is ${ms - now} ms ahead of this clock (limit ${limits.maxFutureSkewMs} ms)`,
        );
      if (spec.maxAgeMs !== undefined && ms < now - spec.maxAgeMs) {
        return fail("timestamp_out_of_range", `${path} is ${now - ms} ms in the past (limit ${spec.maxAgeMs} ms)`);
      }
      return { ok: true, value: ms };
    }
    case "number":
      if (typeof v !== "number" || !Number.isFinite(v))
        return fail("wrong_type", `${path} must be a finite number, got ${describeType(v)}`);
      if (spec.integer && !Number.isInteger(v)) return fail("wrong_type", `${path} must be an integer`);
      if (v < spec.min || v > spec.max)
        return fail("value_out_of_range", `${path} must be in [${spec.min}, ${spec.max}], got ${v}`);
      return { ok: true, value: v };
    case "boolean":
      if (typeof v !== "boolean") return fail("wrong_type", `${path} must be a boolean, got ${describeType(v)}`);
      return { ok: true, value: v };
    case "string":
      if (typeof v !== "string") return fail("wrong_type", `${path} must be a string, got ${describeType(v)}`);
      if (v.length > spec.maxLength)
        return fail("string_too_long", `${path} is ${v.length} chars (limit ${spec.maxLength})`);
      return { ok: true, value: v };
    case "attributes": {
      if (!isPlainObject(v)) return fail("wrong_type", `${path} must be an object of strings, numbers and booleans`);
      const keys = Object.keys(v);
      if (keys.length > spec.maxKeys)
        return fail("too_many_items", `${path} has ${keys.length} keys (limit ${spec.maxKeys})`);
      const out: Record<string, string | number | boolean> = {};
      for (const key of keys) {
        const item = v[key];
        if (key.length > 64) return fail("string_too_long", `${path} key ${preview(key)} is longer than 64 chars`);
        if (typeof item === "string") {
          if (item.length > spec.maxValueLength)
            return fail("string_too_long", `${path}.${key} is longer than ${spec.maxValueLength} chars`);
          out[key] = item;
        } else if ((typeof item === "number" && Number.isFinite(item)) || typeof item === "boolean") out[key] = item;
        else return fail("wrong_type", `${path}.${key} must be a string, finite number or boolean`);
      }
      return { ok: true, value: out };
    }
    case "array": {
      if (!Array.isArray(v)) return fail("wrong_type", `${path} must be an array, got ${describeType(v)}`);
      if (v.length > spec.maxItems)
        return fail("too_many_items", `${path} has ${v.length} items (limit ${spec.maxItems})`);
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        const r = validateField(`${path}[${i}]`, spec.of, v[i], limits, now);
        if (!r.ok) return r;
        out.push(r.value);
      }
      return { ok: true, value: out };
    }
    case "map": {
      if (!isPlainObject(v)) return fail("wrong_type", `${path} must be an object, got ${describeType(v)}`);
      const keys = Object.keys(v);
      if (keys.length > spec.maxKeys) {
        return fail("too_many_items", `${path} has ${keys.length} keys (limit ${spec.maxKeys})`);
      }
      const out: Record<string, unknown> = {};
      const keyRegex = spec.keyPattern === undefined ? ID_REGEX : new RegExp(spec.keyPattern);
      for (const key of keys) {
        if (!keyRegex.test(key))
          return fail("invalid_id", `${path} key must match ${spec.keyPattern ?? ID_PATTERN}, got ${preview(key)}`);
        const r = validateField(`${path}.${key}`, spec.values, v[key], limits, now);
        if (!r.ok) return r;
        out[key] = r.value;
      }
      return { ok: true, value: out };
    }
    case "object":
      return validateObject(path, spec.fields, v, limits, now);
  }
}

function validateObject(
  path: string,
  fields: Record<string, FieldSpec>,
  v: unknown,
  limits: Limits,
  now: number,
): Validation<unknown> {
  if (!isPlainObject(v))
    return fail(
      path === "" ? "not_an_object" : "wrong_type",
      `${path || "message"} must be a JSON object, got ${describeType(v)}`,
    );
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(fields, key))
      return fail("unknown_field", `${path ? path + "." : ""}${preview(key)} is not a field of this message`);
  }
  for (const [key, spec] of Object.entries(fields)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const raw = v[key];
    if (raw === undefined || raw === null) {
      if (spec.optional) continue;
      return fail("missing_field", `${fieldPath} is required`);
    }
    const r = validateField(fieldPath, spec, raw, limits, now);
    if (!r.ok) return r;
    out[key] = r.value;
  }
  return { ok: true, value: out };
}

/** Validate already-parsed JSON against a message spec. */
export function validateValue<T>(
  spec: MessageSpec,
  value: unknown,
  limits: Limits = DEFAULT_LIMITS,
  now = Date.now(),
): Validation<T> {
  return validateObject("", spec.fields, value, limits, now) as Validation<T>;
}

// decode() without { stream: true } keeps no state between calls, so one decoder serves every
// message; a new TextDecoder per message costs about as much as the JSON parse itself.
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decode raw bytes (size limit, JSON parse) and validate. Never throws. */
export function decodeMessage<T>(
  spec: MessageSpec,
  bytes: Uint8Array | string | null | undefined,
  limits: Limits = DEFAULT_LIMITS,
  now = Date.now(),
): Validation<T> {
  if (bytes === null || bytes === undefined) return fail("malformed_json", "empty message value");
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > spec.maxBytes) return fail("payload_too_large", `${spec.name} is ${size} bytes (limit ${spec.maxBytes})`);
  let parsed: unknown;
  try {
    const text = typeof bytes === "string" ? bytes : UTF8.decode(bytes);
    parsed = JSON.parse(text);
  } catch (err) {
    return fail("malformed_json", `not UTF-8 JSON: ${err instanceof Error ? err.message.slice(0, 80) : "parse error"}`);
  }
  return validateValue<T>(spec, parsed, limits, now);
}

type JsonSchema = Record<string, unknown>;

function fieldToJsonSchema(spec: FieldSpec): JsonSchema {
  const base = { description: spec.description };
  switch (spec.kind) {
    case "id":
      return { ...base, type: "string", pattern: ID_PATTERN, minLength: 1, maxLength: MAX_ID_LENGTH };
    case "enum":
      return { ...base, type: "string", enum: [...spec.values] };
    case "timestamp": {
      // An upper bound relative to "now" has no JSON Schema keyword; the description states it.
      const age = spec.maxAgeMs === undefined ? "" : ` and at most ${spec.maxAgeMs} ms before it`;
      const bounds =
        ` Epoch ms from ${DEFAULT_LIMITS.minTimestampMs} (2000-01-01) up to ${DEFAULT_LIMITS.maxFutureSkewMs} ms ahead` +
        ` of the receiver's clock${age}; ISO-8601 strings must name their time zone.`;
      return {
        description: spec.description + bounds,
        oneOf: [
          { type: "integer", minimum: DEFAULT_LIMITS.minTimestampMs },
          { type: "string", format: "date-time", pattern: ISO_TIMESTAMP_PATTERN },
        ],
      };
    }
    case "number":
      return { ...base, type: spec.integer ? "integer" : "number", minimum: spec.min, maximum: spec.max };
    case "boolean":
      return { ...base, type: "boolean" };
    case "string":
      return { ...base, type: "string", maxLength: spec.maxLength };
    case "attributes":
      return {
        ...base,
        type: "object",
        maxProperties: spec.maxKeys,
        propertyNames: { maxLength: 64 },
        additionalProperties: {
          oneOf: [{ type: "string", maxLength: spec.maxValueLength }, { type: "number" }, { type: "boolean" }],
        },
      };
    case "array":
      return { ...base, type: "array", maxItems: spec.maxItems, items: fieldToJsonSchema(spec.of) };
    case "map":
      return {
        ...base,
        type: "object",
        maxProperties: spec.maxKeys,
        propertyNames: { pattern: spec.keyPattern ?? ID_PATTERN, maxLength: MAX_ID_LENGTH },
        additionalProperties: fieldToJsonSchema(spec.values),
      };
    case "object":
      return { ...base, ...objectSchema(spec.fields) };
  }
}

function objectSchema(fields: Record<string, FieldSpec>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [k, f] of Object.entries(fields)) properties[k] = fieldToJsonSchema(f);
  const required = Object.entries(fields)
    .filter(([, f]) => !f.optional)
    .map(([k]) => k);
  return { type: "object", additionalProperties: false, required, properties };
}

export function toJsonSchema(spec: MessageSpec): JsonSchema {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `https://recfleet.dev/schemas/${spec.name}.json`,
    title: spec.name,
    description: `${spec.description} Encoded as UTF-8 JSON, at most ${spec.maxBytes} bytes.`,
    ...objectSchema(spec.fields),
  };
}

/** The spec as an OpenAPI 3.1 component schema (JSON Schema 2020-12, without the document-level $schema/$id). */
export function toOpenApiSchema(spec: MessageSpec): JsonSchema {
  return { title: spec.name, description: spec.description, ...objectSchema(spec.fields) };
}

/**
 * Every input at the edges has a bound and a reason code. Generated from the specs themselves,
 * so a field added later is covered without touching this file:
 *  - messages: for every field of every catalog message (nested ones included), each
 *    out-of-range value is rejected with the reason code its kind promises;
 *  - config: for every variable of every worker, a value outside its declared range stops the
 *    worker with a ConfigError naming that variable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  DEFAULT_LIMITS,
  MAX_ID_LENGTH,
  TOPIC_CATALOG,
  TOPIC_KEYS,
  validateValue,
  type FieldSpec,
  type MessageSpec,
  type ReasonCode,
} from "@recfleet/contracts";
import { commonConfigSchema, ConfigError, loadConfig, type Field } from "@recfleet/runtime";
import { ingestConfigSchema } from "@recfleet/ingest";
import { featuresConfigSchema } from "@recfleet/features";
import { trainerConfigSchema } from "@recfleet/trainer";
import { scorerConfigSchema } from "@recfleet/scorer";

const NOW = Date.UTC(2026, 10, 30, 12);

/** A valid value of a field: every optional field present too, so nested fields get checked. */
function validValue(spec: FieldSpec): unknown {
  switch (spec.kind) {
    case "id":
      return "a1";
    case "enum":
      return spec.values[0];
    case "timestamp":
      return NOW - 1000;
    case "number":
      return spec.min;
    case "boolean":
      return true;
    case "string":
      return "x";
    case "attributes":
      return { a: 1 };
    case "array":
      return [validValue(spec.of)];
    case "map":
      return { k1: validValue(spec.values) };
    case "object":
      return Object.fromEntries(Object.entries(spec.fields).map(([k, f]) => [k, validValue(f)]));
  }
}

/** Values outside a field's bounds and the reason each must be rejected with. */
function outOfRange(spec: FieldSpec): [unknown, ReasonCode][] {
  switch (spec.kind) {
    case "id":
      return [
        ["", "invalid_id"],
        ["x".repeat(MAX_ID_LENGTH + 1), "invalid_id"],
        ["a b", "invalid_id"],
        ["a:b*", "invalid_id"],
        [7, "wrong_type"],
      ];
    case "enum":
      return [["not-a-value", "unknown_enum_value"]];
    case "timestamp":
      return [
        [DEFAULT_LIMITS.minTimestampMs - 1, "timestamp_out_of_range"],
        [NOW + DEFAULT_LIMITS.maxFutureSkewMs + 60_000, "timestamp_in_future"],
        ["2026-11-30T12:00:00", "timestamp_without_timezone"],
        ["yesterday", "wrong_type"],
      ];
    case "number":
      return [
        [spec.min - 1, "value_out_of_range"],
        [spec.max + 1, "value_out_of_range"],
        ["1", "wrong_type"],
        ...(spec.integer ? ([[spec.min + 0.5, "wrong_type"]] as [unknown, ReasonCode][]) : []),
      ];
    case "boolean":
      return [["true", "wrong_type"]];
    case "string":
      return [["x".repeat(spec.maxLength + 1), "string_too_long"]];
    case "attributes":
      return [
        [Object.fromEntries(Array.from({ length: spec.maxKeys + 1 }, (_, i) => [`k${i}`, 1])), "too_many_items"],
        [{ a: "x".repeat(spec.maxValueLength + 1) }, "string_too_long"],
        [{ a: { nested: true } }, "wrong_type"],
      ];
    case "array":
      return [
        [Array.from({ length: spec.maxItems + 1 }, () => validValue(spec.of)), "too_many_items"],
        ["not-an-array", "wrong_type"],
      ];
    case "map":
      return [
        [
          Object.fromEntries(Array.from({ length: spec.maxKeys + 1 }, (_, i) => [`k${i}`, validValue(spec.values)])),
          "too_many_items",
        ],
        [{ "bad key": validValue(spec.values) }, "invalid_id"],
      ];
    case "object":
      return [["not-an-object", "wrong_type"]];
  }
}

/** Every field path of a message (nested objects, array elements and map values included). */
function fieldPaths(
  fields: Record<string, FieldSpec>,
  prefix: (string | number)[] = [],
): [(string | number)[], FieldSpec][] {
  const out: [(string | number)[], FieldSpec][] = [];
  for (const [name, spec] of Object.entries(fields)) {
    const path = [...prefix, name];
    out.push([path, spec]);
    if (spec.kind === "object") out.push(...fieldPaths(spec.fields, path));
    if (spec.kind === "array" && spec.of.kind === "object") out.push(...fieldPaths(spec.of.fields, [...path, 0]));
    if (spec.kind === "map" && spec.values.kind === "object")
      out.push(...fieldPaths(spec.values.fields, [...path, "k1"]));
  }
  return out;
}

function withValue(message: Record<string, unknown>, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(message) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) at = at[step] as Record<string | number, unknown>;
  at[path.at(-1)!] = value;
  return copy;
}

const specs: MessageSpec[] = TOPIC_KEYS.flatMap((key) => TOPIC_CATALOG[key].message ?? []);

test("every field of every message rejects each out-of-range value with its reason code", () => {
  let checked = 0;
  for (const spec of specs) {
    const valid = validValue({ kind: "object", fields: spec.fields, description: "" }) as Record<string, unknown>;
    const base = validateValue(spec, valid, DEFAULT_LIMITS, NOW);
    assert.ok(base.ok, `${spec.name}: the generated message should be valid: ${base.ok ? "" : base.detail}`);
    for (const [path, field] of fieldPaths(spec.fields)) {
      for (const [value, reason] of outOfRange(field)) {
        const r = validateValue(spec, withValue(valid, path, value), DEFAULT_LIMITS, NOW);
        const where = `${spec.name}.${path.join(".")} = ${JSON.stringify(value)?.slice(0, 60)}`;
        assert.equal(r.ok, false, `${where} was accepted`);
        if (!r.ok) assert.equal(r.reason, reason, `${where}: ${r.detail}`);
        checked++;
      }
      if (!field.optional) {
        const r = validateValue(spec, withValue(valid, path, undefined), DEFAULT_LIMITS, NOW);
        assert.ok(!r.ok && r.reason === "missing_field", `${spec.name}.${path.join(".")} is required`);
      }
    }
    const unknown = validateValue(spec, { ...valid, notAField: 1 }, DEFAULT_LIMITS, NOW);
    assert.ok(!unknown.ok && unknown.reason === "unknown_field", `${spec.name}: unknown field`);
    const huge = JSON.stringify({ ...valid, pad: "x".repeat(spec.maxBytes) });
    const tooLarge = decodeMessage(spec, huge, DEFAULT_LIMITS, NOW);
    assert.ok(!tooLarge.ok && tooLarge.reason === "payload_too_large", `${spec.name}: ${spec.maxBytes} bytes max`);
  }
  assert.ok(checked > 100, `only ${checked} out-of-range values checked`);
});

const CONFIG_SCHEMAS: Record<string, Record<string, Field<unknown>>> = {
  common: commonConfigSchema,
  ingest: ingestConfigSchema,
  features: featuresConfigSchema,
  trainer: trainerConfigSchema,
  scorer: scorerConfigSchema,
};

/** Values a field's own description rules out (from the runtime's field helpers). */
function badConfigValues(field: Field<unknown>): string[] {
  const range = /^an? (integer|number) in \[(-?[\d.e+]+|-Infinity), (-?[\d.e+]+|Infinity)\]$/.exec(field.describe);
  if (range) {
    const [min, max] = [Number(range[2]), Number(range[3])];
    return [
      "twelve",
      ...(Number.isFinite(min) ? [String(min - 1)] : []),
      ...(Number.isFinite(max) ? [String(max + 1)] : []),
    ];
  }
  if (field.describe.startsWith("one of true, false")) return ["maybe"];
  if (field.describe.startsWith("one of ")) return ["not-an-option"];
  if (field.describe.startsWith("a duration")) return ["soon", "-5s"];
  if (field.describe.startsWith("a comma-separated list of ")) return ["nonsense"];
  return [];
}

test("every bounded config variable of every worker refuses out-of-range values naming the variable", () => {
  let checked = 0;
  for (const [worker, schema] of Object.entries(CONFIG_SCHEMAS)) {
    for (const field of Object.values(schema)) {
      for (const raw of badConfigValues(field)) {
        assert.throws(
          () => loadConfig({ field }, { [field.env]: raw }),
          (err: unknown) => err instanceof ConfigError && err.variable === field.env,
          `${worker}: ${field.env}=${raw} should stop the worker naming ${field.env}`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked > 60, `only ${checked} bad config values checked`);
});

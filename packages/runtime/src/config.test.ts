import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bool,
  ConfigError,
  describeConfig,
  duration,
  int,
  list,
  listOf,
  loadConfig,
  num,
  oneOf,
  optionalStr,
  parseDuration,
  str,
  type Field,
} from "./config";
import { shouldRetry } from "./errors";

/** Parses one field from an env holding only `raw`, or returns the ConfigError it throws. */
function parse<T>(field: Field<T>, raw: string | undefined): T {
  return loadConfig({ value: field }, raw === undefined ? {} : { [field.env]: raw }).value;
}

function rejects(field: Field<unknown>, raw: string, expected: RegExp): void {
  assert.throws(
    () => parse(field, raw),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.variable, field.env);
      // The message names the variable, what it expected, what it got, and what to do.
      assert.match(err.message, new RegExp(`^${field.env}: expected `));
      assert.match(err.message, expected);
      assert.ok(err.message.includes(JSON.stringify(raw)), err.message);
      assert.match(err.message, new RegExp(`Set ${field.env} or unset it`));
      assert.equal(shouldRetry(err), false);
      return true;
    },
  );
}

test("parseDuration: units, bare milliseconds, fractions; junk is undefined", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.equal(parseDuration("1500"), 1500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration(" 10s "), 10_000);
  assert.equal(parseDuration("0"), 0);
  for (const bad of ["", "s", "-5s", "5 s", "5sec", "1e3", "ten", "5M"])
    assert.equal(parseDuration(bad), undefined, bad);
});

test("duration field: default when unset or empty, ms inside, bad values name the variable", () => {
  const f = duration("TRAIN_INTERVAL", 300_000);
  assert.equal(parse(f, undefined), 300_000);
  assert.equal(parse(f, ""), 300_000);
  assert.equal(parse(f, "2m"), 120_000);
  rejects(f, "soon", /a duration such as "250ms"/);
  rejects(f, "-1s", /a duration/);
});

test("int and num fields (sizes, counts): bounds inclusive, non-integers and out-of-range values rejected", () => {
  const size = int("EMBED_SHARD_SIZE", 1000, { min: 1, max: 1_000_000 });
  assert.equal(parse(size, undefined), 1000);
  assert.equal(parse(size, "1"), 1);
  assert.equal(parse(size, "1000000"), 1_000_000);
  rejects(size, "0", /an integer in \[1, 1000000\]/);
  rejects(size, "1000001", /an integer in \[1, 1000000\]/);
  rejects(size, "2.5", /an integer/);
  rejects(size, "1k", /an integer/);
  const margin = num("PROMOTE_MARGIN", 0.01, { min: 0, max: 1 });
  assert.equal(parse(margin, "0.25"), 0.25);
  rejects(margin, "1.5", /a number in \[0, 1\]/);
  rejects(margin, "NaN", /a number/);
  rejects(margin, "Infinity", /a number/);
});

test("list fields: trimmed, empty entries dropped; listOf keeps order and rejects unknown or empty lists", () => {
  const brokers = list("KAFKA_BROKERS", ["127.0.0.1:9092"]);
  assert.deepEqual(parse(brokers, undefined), ["127.0.0.1:9092"]);
  assert.deepEqual(parse(brokers, " a:1 , b:2,,"), ["a:1", "b:2"]);
  // The default is copied, so a caller mutating its config cannot change the next load.
  parse(brokers, undefined).push("x");
  assert.deepEqual(parse(brokers, undefined), ["127.0.0.1:9092"]);
  const providers = listOf("EXECUTION_PROVIDERS", ["cuda", "cpu"] as const, ["cuda", "cpu"]);
  assert.deepEqual(parse(providers, "cpu, cuda"), ["cpu", "cuda"]);
  rejects(providers, "cpu,tpu", /a comma-separated list of cuda, cpu/);
  rejects(providers, " , ", /a comma-separated list/);
});

test("bool and oneOf fields", () => {
  const b = bool("FLAG", false);
  for (const yes of ["true", "1", "yes", "TRUE", "Yes"]) assert.equal(parse(b, yes), true, yes);
  for (const no of ["false", "0", "no", "NO"]) assert.equal(parse(b, no), false, no);
  rejects(b, "maybe", /one of true, false/);
  const role = oneOf("TRAINER_ROLE", ["all", "embed-only"] as const, "all");
  assert.equal(parse(role, undefined), "all");
  assert.equal(parse(role, "embed-only"), "embed-only");
  rejects(role, "All", /one of all, embed-only/);
});

test("loadConfig reads each field's variable; describeConfig masks secrets", () => {
  const schema = {
    url: str("REDIS_URL", "redis://localhost"),
    secret: optionalStr("PSEUDONYM_SECRET", "a secret", { secret: true }),
    n: int("N", 1),
  };
  const config = loadConfig(schema, { REDIS_URL: "redis://r:6379", PSEUDONYM_SECRET: "hunter2hunter2", N: "3" });
  assert.deepEqual(config, { url: "redis://r:6379", secret: "hunter2hunter2", n: 3 });
  assert.deepEqual(describeConfig(schema, config), { url: "redis://r:6379", secret: "***", n: 3 });
  assert.equal(loadConfig(schema, {}).secret, undefined);
});

test("a ConfigError for an unset required value says it got nothing", () => {
  const err = new ConfigError("KAFKA_BROKERS", "a comma-separated list", undefined);
  assert.match(err.message, /^KAFKA_BROKERS: expected a comma-separated list, got nothing\./);
});

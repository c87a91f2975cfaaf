/**
 * Configuration from the environment. A schema is plain data built from the field helpers
 * below; `loadConfig(schema, env)` parses it so tests pass their own env, no module mocks.
 * Durations accept "30s", "5m", "250ms" or a bare number of ms at the edge and are ms inside.
 */
import { NonRetriableError } from "./errors";

export class ConfigError extends NonRetriableError {
  /** `advice` replaces the closing "Set X or unset it" where the default cannot help (a refused password). */
  constructor(
    readonly variable: string,
    expected: string,
    got: string | undefined,
    advice = `Set ${variable} or unset it to use the default.`,
  ) {
    super(`${variable}: expected ${expected}, got ${got === undefined ? "nothing" : JSON.stringify(got)}. ${advice}`, {
      context: { variable },
    });
  }
}

export interface Field<T> {
  readonly env: string;
  readonly describe: string;
  readonly secret?: boolean;
  parse(raw: string | undefined): T;
}

type Schema = Record<string, Field<unknown>>;
export type ConfigOf<S extends Schema> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function loadConfig<S extends Schema>(schema: S, env: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const raw = env[field.env];
    out[key] = field.parse(raw === "" ? undefined : raw);
  }
  return out as ConfigOf<S>;
}

/** A URL with its password (user:password@) replaced by ***; other strings as they are. */
export function redactUrlPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, "$1:***@");
}

/** Config with secrets masked (and passwords inside URLs such as REDIS_URL), for logging at start-up. */
export function describeConfig<S extends Schema>(schema: S, config: ConfigOf<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema)) {
    const value = (config as Record<string, unknown>)[key];
    out[key] = field.secret ? "***" : typeof value === "string" ? redactUrlPassword(value) : value;
  }
  return out;
}

export function str(env: string, fallback: string, describe = "a string"): Field<string> {
  return { env, describe, parse: (raw) => raw ?? fallback };
}

export function optionalStr(
  env: string,
  describe = "a string",
  opts: { secret?: boolean } = {},
): Field<string | undefined> {
  return { env, describe, secret: opts.secret ?? false, parse: (raw) => raw };
}

export function int(env: string, fallback: number, opts: { min?: number; max?: number } = {}): Field<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const describe = `an integer in [${min}, ${max}]`;
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(env, describe, raw);
      return value;
    },
  };
}

export function num(env: string, fallback: number, opts: { min?: number; max?: number } = {}): Field<number> {
  const min = opts.min ?? -Infinity;
  const max = opts.max ?? Infinity;
  const describe = `a number in [${min}, ${max}]`;
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value) || value < min || value > max) throw new ConfigError(env, describe, raw);
      return value;
    },
  };
}

export function bool(env: string, fallback: boolean): Field<boolean> {
  const describe = "one of true, false, 1, 0, yes, no";
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return fallback;
      const v = raw.toLowerCase();
      if (["true", "1", "yes"].includes(v)) return true;
      if (["false", "0", "no"].includes(v)) return false;
      throw new ConfigError(env, describe, raw);
    },
  };
}

export function oneOf<T extends string>(env: string, values: readonly T[], fallback: T): Field<T> {
  const describe = `one of ${values.join(", ")}`;
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return fallback;
      if (!(values as readonly string[]).includes(raw)) throw new ConfigError(env, describe, raw);
      return raw as T;
    },
  };
}

export function list(env: string, fallback: readonly string[]): Field<string[]> {
  return {
    env,
    describe: "a comma-separated list",
    parse: (raw) =>
      raw === undefined
        ? [...fallback]
        : raw
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
  };
}

/** A non-empty comma-separated list whose every entry is one of `values` (order kept). */
export function listOf<T extends string>(env: string, values: readonly T[], fallback: readonly T[]): Field<T[]> {
  const describe = `a comma-separated list of ${values.join(", ")}, in order of preference`;
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return [...fallback];
      const entries = raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      if (entries.length === 0 || entries.some((e) => !(values as readonly string[]).includes(e)))
        throw new ConfigError(env, describe, raw);
      return entries as T[];
    },
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match || match[1] === undefined) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!);
}

export function duration(env: string, fallbackMs: number): Field<number> {
  const describe = 'a duration such as "250ms", "30s", "5m", "1h" or a number of ms';
  return {
    env,
    describe,
    parse(raw) {
      if (raw === undefined) return fallbackMs;
      const ms = parseDuration(raw);
      if (ms === undefined) throw new ConfigError(env, describe, raw);
      return ms;
    },
  };
}

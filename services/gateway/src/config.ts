import { bool, ConfigError, duration, errorMessage, int, list, num, optionalStr, str } from "@recfleet/runtime";
import type { CommonConfig, ConfigOf, Field } from "@recfleet/runtime";
import { DEFAULT_PARTITIONS } from "@recfleet/contracts";
import { allowPolicies, parseTrafficSplit, type AllowedPolicies } from "@recfleet/policy";
import { storeConfigSchema } from "@recfleet/store";

/**
 * The policies a request may name: the scorer's own settings (POLICY_SPLIT and
 * SCORER_ALLOWED_POLICIES, read from the same variables), so the gateway answers 400 with the
 * scorer's reason code at once instead of waiting out the deadline for a dead-lettered request.
 */
export function gatewayPolicies(config: Pick<GatewayConfig, "policySplit" | "allowedPolicies">): AllowedPolicies {
  const parts: [string, () => string[]][] = [
    ["POLICY_SPLIT", () => parseTrafficSplit(config.policySplit).map((s) => s.policy)],
    [
      "SCORER_ALLOWED_POLICIES",
      () =>
        config.allowedPolicies
          .split(";")
          .map((s) => s.trim())
          .filter(Boolean),
    ],
  ];
  const specs: string[] = [];
  for (const [variable, parse] of parts) {
    try {
      specs.push(...parse());
      allowPolicies(specs);
    } catch (err) {
      const raw = variable === "POLICY_SPLIT" ? config.policySplit : config.allowedPolicies;
      throw new ConfigError(variable, `policy specs the scorer accepts (${errorMessage(err)})`, raw);
    }
  }
  return allowPolicies(specs);
}

/** GATEWAY_CONSOLE_TARGETS: "name=http://host:port,…" — the workers' metrics endpoints the console shows. */
function consoleTargets(): Field<{ name: string; url: string }[]> {
  const describe = 'worker metrics endpoints "name=http://host:port,…"';
  return {
    env: "GATEWAY_CONSOLE_TARGETS",
    describe,
    parse(raw) {
      if (!raw) return [];
      return raw.split(",").map((entry) => {
        const [name, url] = entry.split("=", 2).map((s) => s.trim());
        if (!name || !url || !/^https?:\/\/[^\s/]+$/.test(url))
          throw new ConfigError("GATEWAY_CONSOLE_TARGETS", describe, raw);
        return { name, url };
      });
    },
  };
}

export const gatewayConfigSchema = {
  port: int("GATEWAY_PORT", 8080, { min: 0, max: 65535 }),
  host: str("GATEWAY_HOST", "0.0.0.0", "interface the API listens on"),
  /** With GATEWAY_PORT=0 the kernel picks the port; a supervisor reads it from this file. */
  portFile: optionalStr("GATEWAY_PORT_FILE", "file to write the bound API port to"),
  partitions: int("RECFLEET_TOPIC_PARTITIONS", DEFAULT_PARTITIONS, { min: 1, max: 1024 }),
  /** How long a recommendation request waits for the fleet's answer. */
  deadlineMs: duration("GATEWAY_DEADLINE", 2000),
  /** Past the deadline: answer popular items marked `reason: "deadline_popular"` instead of 504. */
  popularFallback: bool("GATEWAY_POPULAR_FALLBACK", false),
  defaultK: int("SCORER_DEFAULT_K", 10, { min: 1, max: 200 }),
  maxBodyBytes: int("GATEWAY_MAX_BODY_BYTES", 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
  maxEventsPerBatch: int("GATEWAY_MAX_EVENTS", 500, { min: 1, max: 10_000 }),
  /** Token bucket of a key created without --rate/--burst. */
  defaultRate: num("GATEWAY_DEFAULT_RATE", 100, { min: 0.001, max: 1e6 }),
  defaultBurst: int("GATEWAY_DEFAULT_BURST", 200, { min: 1, max: 1e7 }),
  /** Origins browser apps may call from ("*" for any); empty: no CORS headers. */
  corsOrigins: list("GATEWAY_CORS_ORIGINS", []),
  /** A lease of a reply partition expires this long after its holder stopped renewing it. */
  replyLeaseTtlMs: duration("GATEWAY_REPLY_LEASE_TTL", 15_000),
  consoleTargets: consoleTargets(),
  /** How often the console samples the workers (and how long its charts look back: 300 samples). */
  consoleSampleMs: duration("GATEWAY_CONSOLE_SAMPLE", 2000),
  popularityHalfLifeMs: storeConfigSchema.popularityHalfLifeMs,
  policySplit: str("POLICY_SPLIT", "greedy:1", "the scorer's traffic split"),
  allowedPolicies: str("SCORER_ALLOWED_POLICIES", "", 'policy specs separated by ";"'),
};
export type GatewayConfig = CommonConfig & ConfigOf<typeof gatewayConfigSchema>;

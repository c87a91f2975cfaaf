/**
 * `recfleet ope --logged <policy> --target <policy>`: off-policy evaluation from the fleet's own
 * logs. Reads the scorer's decision log (<ns>.rec.log: candidates, item stats and propensities
 * per recommendation) and the attributed clicks on <ns>.events, or an export of both
 * (--from FILE, one JSON object per line: {"kind":"decision",…} or {"kind":"click",…}), and
 * prints IPS, SNIPS and doubly-robust estimates of the target's CTR with confidence intervals.
 * When the target also served traffic (a side-by-side run), its on-policy CTR is printed too.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createKafka, kafkaSecurity, readTopic, type KafkaSecurity } from "@recfleet/bus";
import { canonicalEventSpec, decisionLogSpec, validateValue, topicNames } from "@recfleet/contracts";
import type { CanonicalEvent, Validation } from "@recfleet/contracts";
import { commonConfigSchema, createLogger, loadConfig, parseDuration } from "@recfleet/runtime";
import {
  createKeyringFromConfig,
  connectRedis,
  decodeSealedOr,
  openSealed,
  shredConfigSchema,
  type UserKeyring,
} from "@recfleet/store";
import { readStackState } from "@recfleet/stack";
import { runShadowReportCli } from "./shadow";
import {
  attributeRewards,
  buildLoggedRecords,
  createPolicy,
  estimateOffPolicy,
  fromDecisionLog,
  type ClickEvent,
  type DecisionLogRecord,
  type LoggedRecord,
  type OffPolicyResult,
  type OffPolicyEstimate,
} from "@recfleet/policy";

export interface Logs {
  decisions: DecisionLogRecord[];
  clicks: ClickEvent[];
}

/**
 * Decision records and clicks from Kafka. Sealed records (crypto-shredding) are opened with
 * `keyring`; those of erased users are left out — their rewards and decisions are gone with them.
 */
export async function readFleetLogs(
  brokers: string[],
  namespace: string,
  rewardTypes: string[],
  keyring?: UserKeyring,
  security?: KafkaSecurity,
): Promise<Logs> {
  const logger = createLogger("ope", { level: "error" });
  const kafka = createKafka({ brokers, clientId: "recfleet-ope", logger, ...(security ? { security } : {}) });
  const topics = topicNames(namespace);
  const [decisionRecords, eventRecords] = await Promise.all([
    readTopic(kafka, topics.recLog, { idleMs: 3000 }),
    readTopic(kafka, topics.events, { idleMs: 3000 }),
  ]);
  const open = async <T>(spec: typeof canonicalEventSpec, values: (Buffer | null)[]): Promise<Validation<T>[]> => {
    const decoded = values.map((v) => decodeSealedOr<T>(spec, v, Number.MAX_SAFE_INTEGER / 2));
    const opened = await openSealed<T>(
      keyring,
      decoded.flatMap((d) => (d.ok ? [d.value] : [])),
      spec,
      { now: Number.MAX_SAFE_INTEGER / 2 },
    );
    let next = 0;
    return decoded.flatMap((d): Validation<T>[] => {
      if (!d.ok) return [d];
      const o = opened[next++]!;
      if (o.ok) return [o];
      return o.shredded ? [] : [{ ok: false, reason: "malformed_json", detail: `${o.reason}: ${o.detail}` }];
    });
  };
  const logged = await open<DecisionLogRecord>(
    decisionLogSpec,
    decisionRecords.map((r) => r.value),
  );
  const decisions = keepValid(topics.recLog, logged);
  const clicks: ClickEvent[] = [];
  for (const decoded of await open<CanonicalEvent>(
    canonicalEventSpec,
    eventRecords.map((r) => r.value),
  )) {
    if (decoded.ok && decoded.value.recId && rewardTypes.includes(decoded.value.type)) {
      clicks.push({
        eventId: decoded.value.eventId,
        recId: decoded.value.recId,
        itemId: decoded.value.itemId,
        ts: decoded.value.ts,
      });
    }
  }
  return { decisions, clicks };
}

/**
 * Fleet logs as an operator's command reads them: sealed records (RECFLEET_MASTER_KEY set) are
 * opened with the data keys in the fleet's Redis (REDIS_URL, or the local stack's).
 */
export async function readFleetLogsWithKeys(
  brokers: string[],
  namespace: string,
  rewardTypes: string[],
  env: NodeJS.ProcessEnv,
): Promise<Logs> {
  const shred = loadConfig(shredConfigSchema, env);
  // TLS, SASL, the Redis CA and password file as the workers take them (a secured fleet's logs).
  const connection = loadConfig(commonConfigSchema, env);
  const redisUrl = env.REDIS_URL ?? readStackState()?.redisUrl;
  const redis = redisUrl
    ? await connectRedis({ ...connection, redisUrl }, createLogger("ope", { level: "error" }))
    : undefined;
  try {
    const keyring = redis ? createKeyringFromConfig(redis, namespace, shred) : undefined;
    return await readFleetLogs(brokers, namespace, rewardTypes, keyring, kafkaSecurity(connection));
  } finally {
    await redis?.quit();
  }
}

/**
 * The valid records; the invalid ones are skipped with one warning (the estimate is then over
 * fewer recommendations: a scorer writing records that fail the decision-log spec needs fixing).
 */
function keepValid(source: string, results: Validation<DecisionLogRecord>[]): DecisionLogRecord[] {
  const valid = results.flatMap((r) => (r.ok ? [r.value] : []));
  const firstBad = results.find((r) => !r.ok);
  if (firstBad && !firstBad.ok) {
    const skipped = `skipped ${results.length - valid.length} of ${results.length} decision records in ${source}`;
    console.error(`${skipped} that fail the decision-log spec (first: ${firstBad.reason}: ${firstBad.detail})`);
  }
  return valid;
}

function readExport(path: string): Logs {
  const logs: Logs = { decisions: [], clicks: [] };
  const decisions: Validation<DecisionLogRecord>[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const { kind, ...row } = JSON.parse(line) as { kind: string } & Record<string, unknown>;
    if (kind === "decision") decisions.push(validateValue<DecisionLogRecord>(decisionLogSpec, row));
    else if (kind === "click") logs.clicks.push(row as unknown as ClickEvent);
  }
  logs.decisions = keepValid(path, decisions);
  return logs;
}

/** Mean per-slot CTR of records and its standard error (records are the independent units). */
export function onPolicyCtr(records: readonly LoggedRecord[]): { ctr: number; stdError: number; n: number } {
  const rates = records
    .filter((r) => r.slate.length > 0)
    .map((r) => r.slate.filter((s) => s.clicked).length / r.slate.length);
  const n = rates.length;
  const mean = rates.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n > 1 ? rates.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { ctr: mean, stdError: Math.sqrt(variance / Math.max(1, n)), n };
}

export interface OffPolicyReport {
  logged: string;
  target: string;
  result: OffPolicyResult;
  loggedCtr: { ctr: number; stdError: number; n: number };
  targetOnPolicy?: { ctr: number; stdError: number; n: number };
}

/** The decision log joined with the clicks attributed within the window: what every estimator reads. */
export function attributedRecords(logs: Logs, windowMs: number): LoggedRecord[] {
  const recs = logs.decisions.map(fromDecisionLog);
  const attribution = attributeRewards(
    recs.map((r) => ({ recId: r.recId, ts: r.ts, items: r.items })),
    logs.clicks,
    { windowMs },
  );
  return buildLoggedRecords(recs, attribution);
}

/**
 * Estimates the target's CTR from the logged policy's records; undefined when it logged nothing.
 * Both policies are compared by canonical id (createPolicy(spec).id, what the scorer logs), so
 * "thompson:16,lift=1,prior=3" finds the records of "thompson:16,prior=3,lift=1".
 */
export function offPolicyReport(
  logs: Logs,
  loggedSpec: string,
  targetSpec: string,
  windowMs: number,
  options: { interval?: "normal" | "bootstrap"; maxWeight?: number } = {},
): OffPolicyReport | undefined {
  const target = createPolicy(targetSpec);
  const loggedId = createPolicy(loggedSpec).id;
  const records = attributedRecords(logs, windowMs);
  const logged = records.filter((r) => r.policyId === loggedId);
  if (logged.length === 0) return undefined;
  const result = estimateOffPolicy(logged, target, {
    interval: options.interval ?? "normal",
    ...(options.maxWeight ? { maxWeight: options.maxWeight } : {}),
  });
  const targetRecords = records.filter((r) => r.policyId === target.id);
  return {
    logged: loggedId,
    target: target.id,
    result,
    loggedCtr: onPolicyCtr(logged),
    ...(targetRecords.length > 0 ? { targetOnPolicy: onPolicyCtr(targetRecords) } : {}),
  };
}

export async function runOpeCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      logged: { type: "string" },
      target: { type: "string" },
      namespace: { type: "string", default: env.RECFLEET_NAMESPACE ?? "recfleet" },
      window: { type: "string", default: env.RECFLEET_ATTRIBUTION_WINDOW ?? "30m" },
      from: { type: "string" },
      export: { type: "string" },
      interval: { type: "string", default: "normal" },
      "reward-types": { type: "string", default: "click" },
      "max-weight": { type: "string" },
      json: { type: "boolean", default: false },
      shadow: { type: "boolean", default: false },
    },
  });
  if (values.shadow) {
    const shadowWindow = parseDuration(values.window!);
    if (shadowWindow === undefined) {
      console.error(`--window: expected a duration such as 30m, got ${values.window}`);
      return 2;
    }
    return runShadowReportCli(values.namespace!, shadowWindow, env);
  }
  if (!values.logged || !values.target) {
    console.error(
      "usage: recfleet ope --shadow [--namespace NS] | recfleet ope --logged <policy> --target <policy> [--namespace NS] [--window 30m] [--from export.jsonl | --export export.jsonl] [--interval normal|bootstrap] [--max-weight W] [--json]",
    );
    return 2;
  }
  const windowMs = parseDuration(values.window!);
  if (windowMs === undefined) {
    console.error(`--window: expected a duration such as 30m, got ${values.window}`);
    return 2;
  }
  let logs: Logs;
  if (values.from) logs = readExport(values.from);
  else {
    const brokers = (env.KAFKA_BROKERS ?? readStackState()?.brokers)?.split(",");
    if (!brokers) {
      console.error(
        "no Kafka to read from: set KAFKA_BROKERS, start `recfleet stack up`, or pass --from <export.jsonl>",
      );
      return 2;
    }
    logs = await readFleetLogsWithKeys(brokers, values.namespace!, values["reward-types"]!.split(","), env);
  }
  if (values.export) {
    writeFileSync(
      values.export,
      [
        ...logs.decisions.map((d) => JSON.stringify({ kind: "decision", ...d })),
        ...logs.clicks.map((c) => JSON.stringify({ kind: "click", ...c })),
      ].join("\n") + "\n",
    );
    console.log(`exported ${logs.decisions.length} decisions and ${logs.clicks.length} clicks to ${values.export}`);
  }
  const report = offPolicyReport(logs, values.logged, values.target, windowMs, {
    interval: values.interval === "bootstrap" ? "bootstrap" : "normal",
    ...(values["max-weight"] ? { maxWeight: Number(values["max-weight"]) } : {}),
  });
  if (!report) {
    const seen = [...new Set(logs.decisions.map((d) => d.policyId))];
    console.error(
      `no decisions logged by policy ${JSON.stringify(values.logged)}; the log holds: ${seen.join(", ") || "nothing"}`,
    );
    return 1;
  }
  const { result, loggedCtr, targetOnPolicy } = report;
  const fmt = (e: OffPolicyEstimate) => `${e.estimate.toFixed(4)}  [${e.ciLow.toFixed(4)}, ${e.ciHigh.toFixed(4)}]`;
  if (!values.json) {
    console.log(
      `off-policy evaluation: target ${report.target} from ${result.n} recommendations logged by ${report.logged} (${logs.clicks.length} reward events, window ${values.window})`,
    );
    console.log(
      `  logged policy's own CTR   ${loggedCtr.ctr.toFixed(4)}  (±${(1.96 * loggedCtr.stdError).toFixed(4)})`,
    );
    console.log(`  IPS                       ${fmt(result.ips)}`);
    console.log(`  SNIPS                     ${fmt(result.snips)}`);
    console.log(`  doubly robust             ${fmt(result.dr)}`);
    console.log(`  effective sample size     ${result.effectiveSampleSize.toFixed(1)} of ${result.n}`);
    if (targetOnPolicy)
      console.log(
        `  target's on-policy CTR    ${targetOnPolicy.ctr.toFixed(4)}  (±${(1.96 * targetOnPolicy.stdError).toFixed(4)}, ${targetOnPolicy.n} recommendations)`,
      );
  }
  console.log(
    JSON.stringify({
      bench: "OPE",
      logged: report.logged,
      target: report.target,
      n: result.n,
      ips: result.ips,
      snips: result.snips,
      dr: result.dr,
      ess: result.effectiveSampleSize,
      logged_ctr: loggedCtr.ctr,
      ...(targetOnPolicy
        ? { target_on_policy_ctr: targetOnPolicy.ctr, target_on_policy_se: targetOnPolicy.stdError }
        : {}),
    }),
  );
  return 0;
}

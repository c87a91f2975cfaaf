/**
 * Shadow policies from the operator's side: `recfleet ope --shadow` prints every shadow policy's
 * estimates beside the serving policy's own CTR — IPS from the probabilities the scorer logged,
 * and doubly robust (DR) with a score/rank reward model, which also covers slates the serving
 * policy never shows (greedy serving, an exploring shadow) — each with an anytime-valid confidence
 * sequence, so it may be re-run as often as wanted. `recfleet policy promote --candidate SPEC`
 * switches the traffic of requests that name no policy to the candidate — only when the lower end
 * of its support bound (ShadowDrEstimate.bound: IPS's lower end, which holds without a reward
 * model even where the serving policy never shows the candidate's slates) beats the serving
 * policy's CTR.
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { parseDuration } from "@recfleet/runtime";
import { readStackState } from "@recfleet/stack";
import { createStore } from "@recfleet/store";
import {
  createPolicy,
  estimateShadow,
  estimateShadowDr,
  promotionDecision,
  type PromotionDecision,
  type ShadowDrEstimate,
  type ShadowEstimate,
} from "@recfleet/policy";
import { attributedRecords, onPolicyCtr, readFleetLogsWithKeys, type Logs } from "./ope";

export interface ShadowRow {
  serving: string;
  servingCtr: { ctr: number; stdError: number; n: number };
  shadow: ShadowEstimate;
  /** DR with the reward model, and the support bound the promotion gate uses (dr.bound). */
  dr: ShadowDrEstimate;
}

/** Every (serving policy, shadow policy) pair in the logs, with the shadow's estimate. */
export function shadowReport(logs: Logs, windowMs: number): ShadowRow[] {
  const records = attributedRecords(logs, windowMs);
  const rows: ShadowRow[] = [];
  for (const serving of new Set(records.map((r) => r.policyId))) {
    const served = records.filter((r) => r.policyId === serving);
    const shadowIds = new Set(served.flatMap((r) => Object.keys(r.shadow ?? {})));
    for (const shadowId of shadowIds)
      rows.push({
        serving,
        servingCtr: onPolicyCtr(served),
        shadow: estimateShadow(served, shadowId),
        dr: estimateShadowDr(served, createPolicy(shadowId)),
      });
  }
  return rows;
}

function printRows(rows: readonly ShadowRow[]): void {
  for (const { serving, servingCtr, shadow, dr } of rows) {
    const seq = shadow.sequence;
    const drSeq = dr.sequence;
    console.log(
      `shadow ${shadow.shadowId} beside ${serving}: IPS ${shadow.ips.estimate.toFixed(4)} [${shadow.ips.ciLow.toFixed(4)}, ${shadow.ips.ciHigh.toFixed(4)}]` +
        (seq ? `, anytime-valid [${seq.low.toFixed(4)}, ${seq.high.toFixed(4)}]` : "") +
        ` from ${shadow.n} slates (ESS ${shadow.effectiveSampleSize.toFixed(0)}, max weight ${shadow.maxWeight.toFixed(2)}, mean slate weight ${shadow.meanSlateWeight.toFixed(3)});` +
        ` serving CTR ${servingCtr.ctr.toFixed(4)} (±${(1.96 * servingCtr.stdError).toFixed(4)})`,
    );
    console.log(
      `shadow ${shadow.shadowId} beside ${serving}: DR ${dr.dr.estimate.toFixed(4)} [${dr.dr.ciLow.toFixed(4)}, ${dr.dr.ciHigh.toFixed(4)}]` +
        (drSeq ? `, anytime-valid [${drSeq.low.toFixed(4)}, ${drSeq.high.toFixed(4)}]` : "") +
        ` (direct method ${dr.direct.toFixed(4)}; ${(dr.unsupportedMass * 100).toFixed(1)}% of the shadow's slot mass is on slates ${serving} never shows and rests on the reward model)`,
    );
    if (dr.bound)
      console.log(
        `shadow ${shadow.shadowId} beside ${serving}: support bound [${dr.bound.low.toFixed(4)}, ${dr.bound.high.toFixed(4)}]` +
          ` (IPS's lower end; DR's upper end with unshown items rated like ${serving}'s at the same rank) — what promote uses`,
      );
  }
}

async function logsFrom(env: NodeJS.ProcessEnv, namespace: string): Promise<Logs | undefined> {
  const brokers = (env.KAFKA_BROKERS ?? readStackState()?.brokers)?.split(",");
  if (!brokers) {
    console.error("no Kafka to read from: set KAFKA_BROKERS or start `recfleet stack up`");
    return undefined;
  }
  return readFleetLogsWithKeys(brokers, namespace, ["click"], env);
}

/** `recfleet ope --shadow`: exit 0 with the estimates, 1 when no decision carries shadow probabilities. */
export async function runShadowReportCli(
  namespace: string,
  windowMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const logs = await logsFrom(env, namespace);
  if (!logs) return 2;
  const rows = shadowReport(logs, windowMs);
  if (rows.length === 0) {
    console.error(
      `no decision in ${namespace}.rec.log carries shadow probabilities: start the scorer with SHADOW_POLICIES`,
    );
    return 1;
  }
  printRows(rows);
  console.log(
    JSON.stringify({
      bench: "OPE-SHADOW",
      rows: rows.map((r) => ({
        serving: r.serving,
        serving_ctr: r.servingCtr.ctr,
        shadow: r.shadow.shadowId,
        n: r.shadow.n,
        ips: r.shadow.ips,
        sequence: r.shadow.sequence,
        ess: r.shadow.effectiveSampleSize,
        mean_slate_weight: r.shadow.meanSlateWeight,
        dr: r.dr.dr,
        dr_sequence: r.dr.sequence,
        direct: r.dr.direct,
        unsupported_mass: r.dr.unsupportedMass,
        support_bound: r.dr.bound,
      })),
    }),
  );
  return 0;
}

/** The gate alone (for tests and the CLI): the row of the candidate beside the current serving policy. */
export function promotionFor(rows: readonly ShadowRow[], candidateId: string, minRecords: number): PromotionDecision {
  const row = rows.find((r) => r.shadow.shadowId === candidateId);
  if (!row) return { promote: false, reason: `no served slate carries ${candidateId}'s probabilities` };
  return promotionDecision(
    { shadowId: row.dr.shadowId, n: row.dr.n, sequence: row.dr.bound },
    row.servingCtr,
    minRecords,
  );
}

const POLICY_USAGE =
  "usage: recfleet policy promote --candidate SPEC [--namespace NS] [--window 30m] [--min-records 200]\n" +
  "       recfleet policy serving [--namespace NS]          (which policy serves; --reset: back to POLICY_SPLIT)";

/** `recfleet policy promote|serving`. */
export async function runPolicyCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      candidate: { type: "string" },
      namespace: { type: "string", default: env.RECFLEET_NAMESPACE ?? "recfleet" },
      window: { type: "string", default: env.RECFLEET_ATTRIBUTION_WINDOW ?? "30m" },
      "min-records": { type: "string", default: "200" },
      reset: { type: "boolean", default: false },
    },
  });
  const redisUrl = env.REDIS_URL ?? readStackState()?.redisUrl;
  if ((action !== "promote" && action !== "serving") || !redisUrl) {
    if (!redisUrl) console.error("no Redis: set REDIS_URL or start `recfleet stack up`");
    console.error(POLICY_USAGE);
    return 2;
  }
  const redis = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  redis.on("error", () => {});
  try {
    const store = createStore(redis, values.namespace!);
    if (action === "serving") {
      if (values.reset) await store.writeServingPolicy(undefined);
      const current = await store.readServingPolicy();
      console.log(`serving policy: ${current ?? "POLICY_SPLIT (nothing promoted)"}`);
      return 0;
    }
    if (!values.candidate) {
      console.error(POLICY_USAGE);
      return 2;
    }
    const windowMs = parseDuration(values.window!);
    const minRecords = Number(values["min-records"]);
    if (windowMs === undefined || !(Number.isInteger(minRecords) && minRecords >= 1)) {
      console.error(`--window takes a duration such as 30m and --min-records a positive integer`);
      return 2;
    }
    const candidateId = createPolicy(values.candidate).id;
    const logs = await logsFrom(env, values.namespace!);
    if (!logs) return 2;
    const rows = shadowReport(logs, windowMs);
    printRows(rows.filter((r) => r.shadow.shadowId === candidateId));
    const decision = promotionFor(rows, candidateId, minRecords);
    if (!decision.promote) {
      console.log(`refused: ${decision.reason}`);
      return 1;
    }
    await store.writeServingPolicy(candidateId);
    console.log(`promoted: ${decision.reason}; requests that name no policy are now served by ${candidateId}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}

/**
 * The closed-loop simulator against the running fleet. A seeded synthetic world (latent user
 * and item factors, popularity skew, new items arriving, drifting tastes — @recfleet/policy's
 * sim world) plays the app: its users send rec.requests over Kafka, read the recommendations,
 * and click according to the world's true click probabilities, producing clickstream events
 * that carry the recId. Ingest, features, trainer, scorer and the policies are all in the loop.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { lineChart, writeChart, type Series } from "@recfleet/charts";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createKafka, createProducer, ensureFleetTopics, type OutgoingMessage } from "@recfleet/bus";
import {
  topicNames,
  type CatalogItem,
  type ClickstreamEvent,
  type RecRequest,
  type Recommendation,
} from "@recfleet/contracts";
import { percentile } from "@recfleet/numeric";
import { providerOf, ProviderTally, type ProviderFairness } from "./providers";
import { listenForAnswers } from "./answers";
import { type Logger } from "@recfleet/runtime";
import {
  advanceWorld,
  assignPolicy,
  catalogCoverage,
  clickProbability,
  createRng,
  createWorld,
  exposureGini,
  nextUser,
  oracleSlate,
  toCsv,
  trueLogit,
  type World,
  type WorldConfig,
  type WorldItem,
} from "@recfleet/policy";

export interface FleetSimulationOptions {
  brokers: string[];
  namespace: string;
  logger: Logger;
  seed: number;
  steps: number;
  requestsPerStep: number;
  k: number;
  /** Traffic split by user hash, e.g. greedy vs thompson side by side. */
  split: { policy: string; weight: number }[];
  /**
   * How requests are split: "user-hash" (a user always gets the same arm; arm sizes vary with who
   * shows up) or "balanced" (arms take turns request by request, ignoring weights: equal arms every
   * step, each arm's users drawn from the same stream — what a side-by-side comparison needs).
   * Default "user-hash".
   */
  assignment?: "user-hash" | "balanced";
  world?: Partial<WorldConfig>;
  /** Organic (not recommended) events per user before the first model. */
  warmupEventsPerUser: number;
  /** Organic events each new item gets when it arrives (how apps learn of new items). */
  organicEventsPerNewItem: number;
  answerTimeoutMs: number;
  /** Minimum wall time per step, so the fleet's retraining keeps pace with simulated time. */
  minStepMs?: number;
  /** Retrain every this many steps (with `retrain`), instead of on the trainer's wall-clock schedule. */
  retrainEvery?: number;
  retrain?: () => Promise<unknown>;
  /** Resolves when the fleet serves a model (the caller may trigger training). */
  waitForModel: () => Promise<string>;
  outDir: string;
  onProgress?: (line: string) => void;
  progressEvery?: number;
  /** Providers the items are spread over (published on the items topic); exposure fairness is reported per provider. Default 5. */
  providers?: number;
}

export interface PolicyReport {
  policy: string;
  requests: number;
  answered: number;
  impressions: number;
  clicks: number;
  ctr: number;
  expectedClicks: number;
  oracleExpectedClicks: number;
  regret: number;
  coverage: number;
  exposureGini: number;
  newItemImpressionShare: number;
  /** Exposure share vs relevance share per provider. */
  providerFairness: ProviderFairness;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Standard deviation over answered requests of clicks per request. */
  clicksPerRequestSd: number;
  /** Expected clicks (true click probabilities of the shown slate) per answered request: mean and sd. */
  expectedPerRequest: number;
  expectedPerRequestSd: number;
}

export interface FleetSimulationReport {
  steps: number;
  requests: number;
  unanswered: number;
  eventsProduced: number;
  modelVersions: string[];
  policies: PolicyReport[];
  latencyP50Ms: number;
  latencyP99Ms: number;
  csvPath: string;
  plotPath: string;
}

export interface PolicyTally {
  requests: number;
  answered: number;
  impressions: number;
  clicks: number;
  expected: number;
  oracle: number;
  exposure: Record<string, number>;
  newItemImpressions: number;
  providers: ProviderTally;
  latencies: number[];
  perStep: { clicks: number; impressions: number; regret: number; answered: number }[];
  /** Σ over answered requests of (clicks in it)² and (expected clicks in it)², for per-request spreads. */
  clicksSquared: number;
  expectedSquared: number;
}

/**
 * simulation.csv and the plots (SVG + PNG each): CTR to date with a 95% interval, clicks per
 * answered request and regret per answered request — normalised, so arms that received
 * different numbers of requests compare fairly.
 */
export function writeSimulationOutputs(
  outDir: string,
  seed: number,
  tallies: ReadonlyMap<string, Pick<PolicyTally, "answered" | "perStep">>,
): { csvPath: string; plotPath: string } {
  const rows: (string | number)[][] = [];
  // Plots normalised per impression or per answered request, so arms that received different
  // numbers of requests compare fairly; CTR carries a 95% normal-approximation interval.
  const ctrSeries: Series[] = [];
  const perRequestSeries: Series[] = [];
  const regretSeries: Series[] = [];
  for (const [policy, t] of tallies) {
    let clicks = 0;
    let impressions = 0;
    let answered = 0;
    let regret = 0;
    const ctr: [number, number][] = [];
    const band: [number, number, number][] = [];
    const perRequest: [number, number][] = [];
    const regretPerRequest: [number, number][] = [];
    t.perStep.forEach((step, s) => {
      clicks += step.clicks;
      impressions += step.impressions;
      answered += step.answered;
      regret += step.regret;
      rows.push([s + 1, policy, step.impressions, step.clicks, clicks, regret.toFixed(4)]);
      if (impressions === 0 || answered === 0) return;
      const p = clicks / impressions;
      const half = 1.96 * Math.sqrt((p * (1 - p)) / impressions);
      ctr.push([s + 1, p]);
      band.push([s + 1, Math.max(0, p - half), p + half]);
      perRequest.push([s + 1, clicks / answered]);
      regretPerRequest.push([s + 1, regret / answered]);
    });
    const label = `${policy} (${t.answered.toLocaleString("en-US")} answered requests)`;
    ctrSeries.push({ name: label, points: ctr, band });
    perRequestSeries.push({ name: label, points: perRequest });
    regretSeries.push({ name: label, points: regretPerRequest });
  }
  mkdirSync(outDir, { recursive: true });
  const csvPath = join(outDir, "simulation.csv");
  writeFileSync(
    csvPath,
    toCsv(["step", "policy", "impressions", "clicks", "cumulative_clicks", "cumulative_regret"], rows),
  );
  const plotPath = writeChart(
    outDir,
    "ctr",
    lineChart({
      title: `CTR to date with 95% interval, seed ${seed}`,
      xLabel: "step",
      yLabel: "clicks / impressions",
      yInclude: 0,
      series: ctrSeries,
    }),
  ).svg;
  writeChart(
    outDir,
    "clicks-per-request",
    lineChart({
      title: "Clicks per answered request, to date",
      xLabel: "step",
      yLabel: "clicks / request",
      yInclude: 0,
      series: perRequestSeries,
    }),
  );
  writeChart(
    outDir,
    "regret",
    lineChart({
      title: "Regret per answered request vs the oracle, to date",
      xLabel: "step",
      yLabel: "expected clicks lost / request",
      yInclude: 0,
      series: regretSeries,
    }),
  );
  return { csvPath, plotPath };
}

const userIdOf = (u: number) => `sim-user-${u}`;

/** Organic consumption: the user picks an item with probability ∝ exp(true logit). */
function organicItem(
  world: World,
  user: number,
  rng: () => number,
  among: readonly WorldItem[] = world.active,
): WorldItem {
  const weights = among.map((item) => Math.exp(trueLogit(world, user, item)));
  const total = weights.reduce((a, b) => a + b, 0);
  let point = rng() * total;
  for (let i = 0; i < among.length; i++) {
    point -= weights[i]!;
    if (point <= 0) return among[i]!;
  }
  return among[among.length - 1]!;
}

export async function runFleetSimulation(options: FleetSimulationOptions): Promise<FleetSimulationReport> {
  const { logger } = options;
  const topics = topicNames(options.namespace);
  const world = createWorld({ seed: options.seed, ...options.world });
  const itemById = new Map(world.items.map((i) => [i.itemId, i]));
  const rng = createRng(options.seed * 7919 + 17);
  const runId = randomBytes(3).toString("hex");
  let eventSeq = 0;
  const eventId = () => `sim-${runId}-${(eventSeq++).toString(36)}`;
  const kafka = createKafka({ brokers: options.brokers, clientId: "recfleet-simulator", logger });
  await ensureFleetTopics(kafka, options.namespace);
  const producer = await createProducer(kafka);
  const progress = options.onProgress ?? (() => {});
  let eventsProduced = 0;
  const produceEvents = async (events: ClickstreamEvent[]) => {
    const messages: OutgoingMessage[] = events.map((e) => ({ key: e.userId, value: e }));
    for (let i = 0; i < messages.length; i += 2000)
      await producer.send(topics.clickstream, messages.slice(i, i + 2000));
    eventsProduced += events.length;
  };

  // The catalog: every item with its provider, on the items topic (the scorer's per-provider cap reads it).
  const providers = options.providers ?? 5;
  const publishItems = async (items: readonly WorldItem[]) => {
    const messages = items.map((item) => {
      const value: CatalogItem = {
        itemId: item.itemId,
        op: "upsert",
        ts: Date.now(),
        provider: providerOf(item.itemId, providers),
      };
      return { key: item.itemId, value };
    });
    for (let i = 0; i < messages.length; i += 2000) await producer.send(topics.items, messages.slice(i, i + 2000));
  };
  await publishItems(world.items);

  // 1. Organic history, so the trainer has something to learn before any recommendation.
  const start = Date.now();
  const warmup: ClickstreamEvent[] = [];
  for (let u = 0; u < world.config.users; u++) {
    for (let j = 0; j < options.warmupEventsPerUser; j++) {
      const item = organicItem(world, u, rng);
      warmup.push({
        eventId: eventId(),
        userId: userIdOf(u),
        itemId: item.itemId,
        type: "click",
        ts: start - (options.warmupEventsPerUser - j) * 1000,
      });
    }
  }
  await produceEvents(warmup);
  progress(
    `warm-up: ${warmup.length} organic events from ${world.config.users} users over ${world.active.length} items; waiting for the first model …`,
  );
  const firstVersion = await options.waitForModel();
  progress(`model ${firstVersion} is serving; running ${options.steps} steps × ${options.requestsPerStep} requests`);

  // 2. Answers arrive on the recommendations topic; match them by requestId.
  const answers = await listenForAnswers({ kafka, namespace: options.namespace, run: runId, producer, logger });

  const tallies = new Map<string, PolicyTally>();
  const tally = (policy: string): PolicyTally => {
    let t = tallies.get(policy);
    if (!t)
      tallies.set(
        policy,
        (t = {
          requests: 0,
          answered: 0,
          impressions: 0,
          clicks: 0,
          expected: 0,
          oracle: 0,
          exposure: {},
          newItemImpressions: 0,
          providers: new ProviderTally(),
          latencies: [],
          perStep: [],
          clicksSquared: 0,
          expectedSquared: 0,
        }),
      );
    return t;
  };
  for (const s of options.split) tally(s.policy);
  const versions = new Set<string>([firstVersion]);
  let unanswered = 0;
  let requests = 0;

  for (let step = 0; step < options.steps; step++) {
    const stepStarted = Date.now();
    const before = world.items.length;
    advanceWorld(world);
    const arrivals = world.items.slice(before);
    for (const item of arrivals) itemById.set(item.itemId, item);
    if (arrivals.length > 0) await publishItems(arrivals);
    // New items reach the catalog through organic activity (search, browsing, promotion).
    const organic: ClickstreamEvent[] = [];
    for (const item of arrivals) {
      for (let j = 0; j < options.organicEventsPerNewItem; j++)
        organic.push({
          eventId: eventId(),
          userId: userIdOf(nextUser(world)),
          itemId: item.itemId,
          type: "view",
          ts: Date.now(),
        });
    }
    for (const t of tallies.values()) t.perStep.push({ clicks: 0, impressions: 0, regret: 0, answered: 0 });

    const batch: {
      request: RecRequest;
      user: number;
      policy: string;
      sentAt: number;
      answer: Promise<Recommendation | undefined>;
    }[] = [];
    for (let r = 0; r < options.requestsPerStep; r++) {
      const user = nextUser(world);
      const userId = userIdOf(user);
      const policy =
        options.assignment === "balanced"
          ? options.split[(step * options.requestsPerStep + r) % options.split.length]!.policy
          : assignPolicy(userId, options.split);
      const requestId = `sim-${runId}-${step}-${r}`;
      const answer = answers.answerOf(requestId, options.answerTimeoutMs);
      batch.push({
        request: { requestId, userId, ts: Date.now(), k: options.k, policy },
        user,
        policy,
        sentAt: Date.now(),
        answer,
      });
    }
    await producer.send(
      topics.recRequests,
      batch.map((b) => ({ key: b.request.userId!, value: b.request })),
    );
    requests += batch.length;

    const clicks: ClickstreamEvent[] = [...organic];
    for (const b of batch) {
      const t = tally(b.policy);
      t.requests++;
      const rec = await b.answer;
      if (!rec) {
        unanswered++;
        continue;
      }
      t.answered++;
      versions.add(rec.modelVersion);
      t.latencies.push(Date.now() - b.sentAt);
      const oracle = oracleSlate(world, b.user, options.k).expectedClicks;
      // Relevance per provider: the user's true click probability (top slot) of each active item.
      for (const item of world.active)
        t.providers.addRelevance(providerOf(item.itemId, providers), clickProbability(world, b.user, item, 1));
      let expected = 0;
      let requestClicks = 0;
      const stepTally = t.perStep[t.perStep.length - 1]!;
      stepTally.answered++;
      for (const slot of rec.items) {
        const item = itemById.get(slot.itemId);
        if (!item) continue;
        const p = clickProbability(world, b.user, item, slot.rank);
        expected += p;
        t.impressions++;
        stepTally.impressions++;
        t.exposure[item.itemId] = (t.exposure[item.itemId] ?? 0) + 1;
        t.providers.addExposure(providerOf(item.itemId, providers));
        if (!item.initial) t.newItemImpressions++;
        if (rng() < p) {
          t.clicks++;
          requestClicks++;
          stepTally.clicks++;
          clicks.push({
            eventId: eventId(),
            userId: b.request.userId!,
            itemId: item.itemId,
            type: "click",
            ts: Date.now(),
            recId: rec.recId,
          });
        }
      }
      t.expected += expected;
      t.clicksSquared += requestClicks * requestClicks;
      t.expectedSquared += expected * expected;
      t.oracle += oracle;
      stepTally.regret += oracle - expected;
    }
    await produceEvents(clicks);
    if (options.retrain && options.retrainEvery && (step + 1) % options.retrainEvery === 0 && step + 1 < options.steps)
      await options.retrain();
    const rest = (options.minStepMs ?? 0) - (Date.now() - stepStarted);
    if (rest > 0) await sleep(rest);
    if ((step + 1) % (options.progressEvery ?? 10) === 0 || step + 1 === options.steps) {
      const parts = [...tallies.entries()].map(
        ([p, t]) => `${p} ctr ${(t.clicks / Math.max(1, t.impressions)).toFixed(3)} clicks ${t.clicks}`,
      );
      progress(
        `step ${step + 1}/${options.steps}  ${parts.join("  |  ")}  models ${versions.size}  unanswered ${unanswered}`,
      );
    }
  }
  await answers.stop();
  await producer.close();

  // 3. Report, CSV and plot.
  const catalogSize = world.items.length;
  const policies: PolicyReport[] = [...tallies.entries()].map(([policy, t]) => {
    const sorted = [...t.latencies].sort((a, b) => a - b);
    return {
      policy,
      requests: t.requests,
      answered: t.answered,
      impressions: t.impressions,
      clicks: t.clicks,
      ctr: t.clicks / Math.max(1, t.impressions),
      expectedClicks: t.expected,
      oracleExpectedClicks: t.oracle,
      regret: t.oracle - t.expected,
      coverage: catalogCoverage(t.exposure, catalogSize),
      exposureGini: exposureGini(t.exposure, catalogSize),
      newItemImpressionShare: t.newItemImpressions / Math.max(1, t.impressions),
      providerFairness: t.providers.report(),
      clicksPerRequestSd: sampleSd(t.clicks, t.clicksSquared, t.answered),
      expectedPerRequest: t.expected / Math.max(1, t.answered),
      expectedPerRequestSd: sampleSd(t.expected, t.expectedSquared, t.answered),
      latencyP50Ms: percentile(sorted, 0.5),
      latencyP99Ms: percentile(sorted, 0.99),
    };
  });
  const { csvPath, plotPath } = writeSimulationOutputs(options.outDir, options.seed, tallies);
  const all = [...tallies.values()].flatMap((t) => t.latencies).sort((a, b) => a - b);
  return {
    steps: options.steps,
    requests,
    unanswered,
    eventsProduced,
    modelVersions: [...versions],
    policies,
    latencyP50Ms: percentile(all, 0.5),
    latencyP99Ms: percentile(all, 0.99),
    csvPath,
    plotPath,
  };
}

/** Sample standard deviation from a sum, a sum of squares and a count. */
function sampleSd(sum: number, squares: number, n: number): number {
  if (n < 2) return 0;
  return Math.sqrt(Math.max(0, (squares - (sum * sum) / n) / (n - 1)));
}

/**
 * Relative lift of arm b over arm a in a per-request mean, with a (confidence)-level interval by
 * the delta method on the ratio of two independent means:
 *   lift = m_b/m_a − 1,  se ≈ (m_b/m_a)·sqrt(sd_a²/(n_a m_a²) + sd_b²/(n_b m_b²)).
 */
export function liftWithInterval(
  a: { mean: number; sd: number; n: number },
  b: { mean: number; sd: number; n: number },
  z = 1.959964,
): { lift: number; low: number; high: number } {
  const ratio = b.mean / a.mean;
  const relative = Math.sqrt(a.sd ** 2 / (a.n * a.mean ** 2) + b.sd ** 2 / (b.n * b.mean ** 2));
  const se = ratio * relative;
  return { lift: ratio - 1, low: ratio - 1 - z * se, high: ratio - 1 + z * se };
}

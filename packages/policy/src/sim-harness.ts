// In-process closed loop: the world sends requests, a simple simulated model scores candidates,
// the policy picks a slate, the world clicks, and the bandit state (item stats, linear state) is
// updated — the same loop the fleet runs over Kafka, minus the fleet, for fast multi-seed
// experiments and propensity tests.
//
// The simulated model ("scorer") knows an item once it was trained on it: items of the initial
// catalog, and later items once they are older than learnAfterSteps AND have at least
// learnAfterImpressions impressions (a trainer can only learn an item from its interactions).
// For a known item it returns the world's item factors plus fixed noise; for an unknown item it
// returns only a prior score (baseLogit) and a content vector (far noisier factors), flagged
// isNew. So greedy ranks new items below every decent known item and never shows them: exactly
// the feedback loop exploration has to break.
import { createRng, hashString, mixSeeds } from "@recfleet/numeric";
import { linearContext, linearTarget, updateLinear, createLinearState } from "./linear.js";
import type { LoggedRecord } from "./ope.js";
import { sigmoid } from "./random.js";
import {
  advanceWorld,
  clickProbability,
  createWorld,
  itemAgeSteps,
  nextUser,
  oracleSlate,
  type World,
  type WorldConfig,
  type WorldItem,
} from "./sim-world.js";
import type { Candidate, ItemStats, LinearBanditState, Policy, PolicyContext } from "./types.js";
import { PolicyConfigError } from "./errors.js";

export interface ModelScorerOptions {
  /** Noise on known items' factors and bias, relative to their scale. Default 0.3. */
  itemNoise?: number;
  /** Noise on the user vector. Default 0.3. */
  userNoise?: number;
  /** Noise on new items' content vectors. Default 1.0. */
  contentNoise?: number;
  /** Default 20. */
  learnAfterSteps?: number;
  /** Default 20. */
  learnAfterImpressions?: number;
}

export interface ScorerView {
  world: World;
  user: number;
  userVector: Float32Array;
  stats: (itemId: string) => ItemStats;
}

export type Scorer = (view: ScorerView) => Candidate[];

export function modelScorer(options: ModelScorerOptions = {}): Scorer {
  const itemNoise = options.itemNoise ?? 0.3;
  const contentNoise = options.contentNoise ?? 1.0;
  const learnAfterSteps = options.learnAfterSteps ?? 20;
  const learnAfterImpressions = options.learnAfterImpressions ?? 20;
  return ({ world, userVector, stats }) => {
    const { affinityScale, baseLogit, stepMs } = world.config;
    return world.active.map((item) => {
      const age = itemAgeSteps(world, item);
      const known = item.initial || (age >= learnAfterSteps && stats(item.itemId).impressions >= learnAfterImpressions);
      const noise = known ? itemNoise : contentNoise;
      const noiseVector = known ? item.modelNoise : item.contentNoise;
      const vector = new Float32Array(item.factors.length);
      let affinity = 0;
      for (let j = 0; j < vector.length; j++) {
        const value = (item.factors[j] ?? 0) + noise * (noiseVector[j] ?? 0);
        vector[j] = value;
        affinity += (userVector[j] ?? 0) * value;
      }
      const score = known ? affinityScale * affinity + item.bias + itemNoise * item.biasNoise + baseLogit : baseLogit;
      const candidate: Candidate = { itemId: item.itemId, score, vector, ageMs: age * stepMs };
      if (!known) candidate.isNew = true;
      return candidate;
    });
  };
}

export interface SimulationOptions {
  steps: number;
  k: number;
  seed: number;
  /** Default 20. */
  requestsPerStep?: number;
  /** The simulated model; options for modelScorer, or any Scorer. */
  scorer?: ModelScorerOptions | Scorer;
  /** Update item stats and the linear state from clicks (the bandit learns). Default true. */
  learn?: boolean;
  /** Keep a LoggedRecord per request (for off-policy evaluation). Default false. */
  recordLogs?: boolean;
  /** Ridge λ of the neural-linear state. Default 1. */
  linearLambda?: number;
}

export interface PolicyRun {
  policyId: string;
  clicksPerStep: number[];
  impressionsPerStep: number[];
  /** Σ true click probabilities of the shown slates: the policy's CTR without click noise. */
  expectedClicksPerStep: number[];
  oracleExpectedClicksPerStep: number[];
  /** Impressions per item. */
  exposure: Record<string, number>;
  /** Items that were in the catalog at some step (the coverage denominator). */
  catalogSize: number;
  /** Impressions of items that were not yet known to the model when shown. */
  newItemImpressions: number;
  totalClicks: number;
  logs?: LoggedRecord[];
}

/** A click uniform shared by all policies for the same (seed, step, request, item): common random numbers. */
function clickUniform(seed: number, step: number, request: number, itemId: string): number {
  return mixSeeds(seed, step, request, hashString(itemId)) / 4294967296;
}

function userVectorOf(world: World, user: number, noise: number): Float32Array {
  const factors = world.users[user] as Float64Array;
  const userNoise = world.userNoise[user] as Float64Array;
  return Float32Array.from(factors, (f, j) => f + noise * (userNoise[j] ?? 0));
}

/**
 * Run each policy on its own copy of the same seeded world (same users, arrivals and click
 * uniforms), so differences between runs come from the policies. The same worldConfig with
 * different simulation seeds is the same ground truth with different request/click draws.
 */
export function simulateInProcess(
  worldConfig: WorldConfig,
  policies: readonly Policy[],
  options: SimulationOptions,
): PolicyRun[] {
  const { steps, k, seed } = options;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new PolicyConfigError("steps", steps, "an integer ≥ 1");
  if (!(Number.isInteger(k) && k >= 1)) throw new PolicyConfigError("k", k, "an integer ≥ 1");
  const requestsPerStep = options.requestsPerStep ?? 20;
  const scorerOption = options.scorer ?? {};
  const scorer = typeof scorerOption === "function" ? scorerOption : modelScorer(scorerOption);
  const userNoise = typeof scorerOption === "function" ? 0.3 : (scorerOption.userNoise ?? 0.3);
  const learn = options.learn ?? true;

  return policies.map((policy, policyIndex) => {
    // The world (factors, arrivals, drift) depends only on worldConfig.seed; the simulation seed
    // picks which users arrive, the clicks and the policy's randomness.
    const world = createWorld(worldConfig);
    world.userRng = createRng(mixSeeds(worldConfig.seed, seed, 2));
    const rng = createRng(mixSeeds(seed, policyIndex, 0x5eed));
    const stats = new Map<string, ItemStats>();
    const statsOf = (itemId: string): ItemStats => stats.get(itemId) ?? { impressions: 0, clicks: 0 };
    let linear: LinearBanditState = createLinearState(world.config.dim, options.linearLambda ?? 1);
    let totalImpressions = 0;
    const run: PolicyRun = {
      policyId: policy.id,
      clicksPerStep: [],
      impressionsPerStep: [],
      expectedClicksPerStep: [],
      oracleExpectedClicksPerStep: [],
      exposure: {},
      catalogSize: 0,
      newItemImpressions: 0,
      totalClicks: 0,
    };
    const logs: LoggedRecord[] = [];
    const byId = new Map<string, WorldItem>();

    for (let step = 0; step < steps; step++) {
      for (const item of world.active) byId.set(item.itemId, item);
      let clicks = 0;
      let impressions = 0;
      let expected = 0;
      let oracle = 0;
      for (let request = 0; request < requestsPerStep; request++) {
        const user = nextUser(world);
        const userVector = userVectorOf(world, user, userNoise);
        const candidates = scorer({ world, user, userVector, stats: statsOf });
        const ctx: PolicyContext = { rng, userVector, itemStats: statsOf, linear, totalImpressions };
        const decision = policy.select(candidates, k, ctx);
        oracle += oracleSlate(world, user, k).expectedClicks;
        const candidateById = new Map(candidates.map((c) => [c.itemId, c]));
        const clickedFlags: boolean[] = [];
        for (const slot of decision.items) {
          const item = byId.get(slot.itemId) as WorldItem;
          const p = clickProbability(world, user, item, slot.rank);
          const clicked = clickUniform(seed, step, request, slot.itemId) < p;
          clickedFlags.push(clicked);
          expected += p;
          impressions++;
          clicks += clicked ? 1 : 0;
          run.exposure[slot.itemId] = (run.exposure[slot.itemId] ?? 0) + 1;
          if (candidateById.get(slot.itemId)?.isNew === true) run.newItemImpressions++;
        }
        if (options.recordLogs === true) {
          const snapshot: Record<string, ItemStats> = {};
          if (learn) for (const c of candidates) snapshot[c.itemId] = { ...statsOf(c.itemId) };
          logs.push({
            recId: `s${seed}-p${policyIndex}-t${step}-r${request}`,
            policyId: decision.policyId,
            candidates,
            context: learn ? { userVector, itemStats: snapshot, linear, totalImpressions } : { userVector },
            slate: decision.items.map((slot, i) => ({
              itemId: slot.itemId,
              propensity: slot.propensity,
              clicked: clickedFlags[i] ?? false,
            })),
          });
        }
        if (learn) {
          decision.items.forEach((slot, i) => {
            const clicked = clickedFlags[i] ?? false;
            const previous = statsOf(slot.itemId);
            stats.set(slot.itemId, {
              impressions: previous.impressions + 1,
              clicks: previous.clicks + (clicked ? 1 : 0),
              expectedClicks: (previous.expectedClicks ?? 0) + sigmoid(slot.score),
            });
            const candidate = candidateById.get(slot.itemId);
            const x = linearContext(userVector, candidate?.vector, linear.d);
            linear = updateLinear(linear, x, linearTarget(clicked, slot.score));
          });
          totalImpressions += decision.items.length;
        }
      }
      run.clicksPerStep.push(clicks);
      run.impressionsPerStep.push(impressions);
      run.expectedClicksPerStep.push(expected);
      run.oracleExpectedClicksPerStep.push(oracle);
      run.totalClicks += clicks;
      advanceWorld(world);
    }
    for (const item of world.items) if (item.bornStep < steps) run.catalogSize++;
    if (options.recordLogs === true) run.logs = logs;
    return run;
  });
}

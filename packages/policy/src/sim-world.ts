// The simulator's ground truth: a seeded world of users and items with latent factors, where the
// true click probability is known, so policies can be scored by clicks, CTR and regret.
//
//   p(user u clicks item i in slot r) = examination(r) · σ(affinity·⟨u, v_i⟩ + b_i + base + novelty_i(t))
//   examination(r) = 1 / (1 + positionDecay·(r−1))            (position bias, r is 1-based)
//   novelty_i(t)   = noveltyBoost · exp(−age_i / noveltyDecaySteps)  (fresh items are more appealing)
//
// Popularity skew: b_i ~ N(0, popularitySkew²), a long tail in CTR. New items arrive every step
// (arrivalsPerStep, fractional rates accumulate) and retire after itemLifetimeSteps. Tastes drift:
// each step every user's factors take a small mean-reverting random step (driftRate).
//
// Deterministic: everything is drawn from generators seeded by config.seed. Functions mutate only
// the World passed in. Separate streams for arrivals/drift and for which user arrives, so two
// policies run on two copies of the same world see the same users and items in the same order.
import { createRng, mixSeeds, type Rng } from "@recfleet/numeric";
import { sampleNormal, sigmoid } from "./random.js";
import { PolicyConfigError } from "./errors.js";

export interface WorldConfig {
  seed: number;
  /** Latent dimension. Default 8. */
  dim?: number;
  /** Default 300. */
  users?: number;
  /** Items at step 0. Default 100. */
  initialItems?: number;
  /** New items per step (fractional rates accumulate). Default 1. */
  arrivalsPerStep?: number;
  /** Items retire after this many steps (Infinity: never). Default 150. */
  itemLifetimeSteps?: number;
  /** Multiplier on ⟨u, v⟩. Default 1.5. */
  affinityScale?: number;
  /** sd of the item bias b_i. Default 0.8. */
  popularitySkew?: number;
  /** Logit of an average item. Default −3. */
  baseLogit?: number;
  /** Extra logit of a brand-new item. Default 0.7. */
  noveltyBoost?: number;
  /** Default 40. */
  noveltyDecaySteps?: number;
  /** Per-step drift of user factors. Default 0.02. */
  driftRate?: number;
  /** examination(r) = 1/(1 + positionDecay·(r−1)). Default 0.3. */
  positionDecay?: number;
  /** Simulated time per step, for ages in ms. Default 60 000. */
  stepMs?: number;
}

export interface WorldItem {
  itemId: string;
  factors: Float64Array;
  bias: number;
  bornStep: number;
  /** Part of the catalog at step 0 (the model was trained on it). */
  initial: boolean;
  /** Fixed per-item noise the simulated model sees (see sim-harness.ts). */
  modelNoise: Float64Array;
  contentNoise: Float64Array;
  biasNoise: number;
}

export interface World {
  readonly config: Required<WorldConfig>;
  step: number;
  /** Current (drifting) user factors. */
  users: Float64Array[];
  /** Fixed per-user noise of the simulated user tower. */
  userNoise: Float64Array[];
  /** Every item that ever existed, in arrival order. */
  items: WorldItem[];
  /** Items in the catalog now. */
  active: WorldItem[];
  arrivalCarry: number;
  rng: Rng;
  userRng: Rng;
}

export function resolveWorldConfig(config: WorldConfig): Required<WorldConfig> {
  const resolved: Required<WorldConfig> = {
    seed: config.seed,
    dim: config.dim ?? 8,
    users: config.users ?? 300,
    initialItems: config.initialItems ?? 100,
    arrivalsPerStep: config.arrivalsPerStep ?? 1,
    itemLifetimeSteps: config.itemLifetimeSteps ?? 150,
    affinityScale: config.affinityScale ?? 1.5,
    popularitySkew: config.popularitySkew ?? 0.8,
    baseLogit: config.baseLogit ?? -3,
    noveltyBoost: config.noveltyBoost ?? 0.7,
    noveltyDecaySteps: config.noveltyDecaySteps ?? 40,
    driftRate: config.driftRate ?? 0.02,
    positionDecay: config.positionDecay ?? 0.3,
    stepMs: config.stepMs ?? 60_000,
  };
  if (!(Number.isInteger(resolved.dim) && resolved.dim >= 1))
    throw new PolicyConfigError("dim", resolved.dim, "an integer ≥ 1");
  if (!(Number.isInteger(resolved.users) && resolved.users >= 1))
    throw new PolicyConfigError("users", resolved.users, "an integer ≥ 1");
  if (!(Number.isInteger(resolved.initialItems) && resolved.initialItems >= 1))
    throw new PolicyConfigError("initialItems", resolved.initialItems, "an integer ≥ 1");
  if (!(resolved.arrivalsPerStep >= 0))
    throw new PolicyConfigError("arrivalsPerStep", resolved.arrivalsPerStep, "a number ≥ 0");
  if (!(resolved.itemLifetimeSteps > 0))
    throw new PolicyConfigError("itemLifetimeSteps", resolved.itemLifetimeSteps, "a number > 0");
  return resolved;
}

function randomVector(rng: Rng, dim: number, scale: number): Float64Array {
  const v = new Float64Array(dim);
  for (let j = 0; j < dim; j++) v[j] = sampleNormal(rng) * scale;
  return v;
}

function newItem(world: World, initial: boolean): WorldItem {
  const { dim, popularitySkew } = world.config;
  const rng = world.rng;
  // Factors ~ N(0, 1/d) per coordinate, so ⟨u, v⟩ has unit-order variance whatever d is.
  const scale = 1 / Math.sqrt(dim);
  const item: WorldItem = {
    itemId: `i${world.items.length}`,
    factors: randomVector(rng, dim, Math.sqrt(scale)),
    bias: sampleNormal(rng) * popularitySkew,
    bornStep: world.step,
    initial,
    modelNoise: randomVector(rng, dim, Math.sqrt(scale)),
    contentNoise: randomVector(rng, dim, Math.sqrt(scale)),
    biasNoise: sampleNormal(rng),
  };
  world.items.push(item);
  world.active.push(item);
  return item;
}

export function createWorld(config: WorldConfig): World {
  const resolved = resolveWorldConfig(config);
  const world: World = {
    config: resolved,
    step: 0,
    users: [],
    userNoise: [],
    items: [],
    active: [],
    arrivalCarry: 0,
    rng: createRng(mixSeeds(resolved.seed, 1)),
    userRng: createRng(mixSeeds(resolved.seed, 2)),
  };
  const userScale = Math.sqrt(1 / Math.sqrt(resolved.dim));
  for (let u = 0; u < resolved.users; u++) {
    world.users.push(randomVector(world.rng, resolved.dim, userScale));
    world.userNoise.push(randomVector(world.rng, resolved.dim, userScale));
  }
  for (let i = 0; i < resolved.initialItems; i++) newItem(world, true);
  return world;
}

/** Which user sends the next request (uniform over users). */
export function nextUser(world: World): number {
  return Math.floor(world.userRng() * world.config.users);
}

export function itemAgeSteps(world: World, item: WorldItem): number {
  return world.step - item.bornStep;
}

/** The true logit of a click before position bias. */
export function trueLogit(world: World, user: number, item: WorldItem): number {
  const { affinityScale, baseLogit, noveltyBoost, noveltyDecaySteps } = world.config;
  const factors = world.users[user] as Float64Array;
  let affinity = 0;
  for (let j = 0; j < factors.length; j++) affinity += (factors[j] ?? 0) * (item.factors[j] ?? 0);
  const novelty = noveltyBoost * Math.exp(-itemAgeSteps(world, item) / noveltyDecaySteps);
  return affinityScale * affinity + item.bias + baseLogit + novelty;
}

export function examination(world: World, rank: number): number {
  return 1 / (1 + world.config.positionDecay * (rank - 1));
}

/** True probability that `user` clicks `item` shown at 1-based `rank`. */
export function clickProbability(world: World, user: number, item: WorldItem, rank: number): number {
  return examination(world, rank) * sigmoid(trueLogit(world, user, item));
}

/**
 * The oracle slate: active items by true click probability, best first. Examination decreases
 * with rank, so this maximises expected clicks. Returns the items and the expected clicks.
 */
export function oracleSlate(world: World, user: number, k: number): { items: WorldItem[]; expectedClicks: number } {
  const ranked = world.active
    .map((item) => ({ item, p: sigmoid(trueLogit(world, user, item)) }))
    .sort((a, b) => b.p - a.p);
  const items = ranked.slice(0, k).map((entry) => entry.item);
  const expectedClicks = ranked.slice(0, k).reduce((sum, entry, r) => sum + examination(world, r + 1) * entry.p, 0);
  return { items, expectedClicks };
}

/** One step of time: retire old items, add new ones, drift tastes. */
export function advanceWorld(world: World): void {
  const { itemLifetimeSteps, arrivalsPerStep, driftRate, dim } = world.config;
  world.step++;
  world.active = world.active.filter((item) => itemAgeSteps(world, item) < itemLifetimeSteps);
  world.arrivalCarry += arrivalsPerStep;
  while (world.arrivalCarry >= 1) {
    newItem(world, false);
    world.arrivalCarry -= 1;
  }
  if (driftRate > 0) {
    // Mean-reverting (Ornstein–Uhlenbeck) step keeps the factors' scale stationary.
    const scale = Math.sqrt(1 / Math.sqrt(dim));
    const keep = Math.sqrt(1 - driftRate * driftRate);
    for (const factors of world.users) {
      for (let j = 0; j < dim; j++) factors[j] = keep * (factors[j] ?? 0) + driftRate * scale * sampleNormal(world.rng);
    }
  }
}

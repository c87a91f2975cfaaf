// A synthetic clickstream at catalog scale (MovieLens-20M-like: ~150k users, ~100k items, millions
// of events) for the training benchmark (TRAIN-SPEED-SCALE) and the demo's scale mode.
//
// The fleet simulator's organic clicks sample ∝ exp(true logit) over the whole catalog, which is
// O(items) per event — fine for hundreds of items, hopeless for 10M events over 100k. This keeps
// the same kind of world (items with a taste position and a long-tailed popularity, users with
// tastes, drawn from seeded generators) but samples in O(log items) per event:
//
//   popularity  item of rank r has weight (r+1)^−popularityExponent (a power law; item 0 the top)
//   tastes      items fall into tasteClusters clusters; each user likes three clusters (60/30/10%)
//   sessions    a user (chosen ∝ a power law of activity) opens a session of 1 + Geometric events;
//               each session stays in one of the user's clusters (or, with exploreRate, in the whole
//               catalog) and picks items there by popularity; sessions are minutes apart, events
//               within a session ~30 s apart.
//   content     each cluster has 1–3 of 19 genres (the ML-100K feature width), its items carry them.
//
// Deterministic for a seed. Events come out in time order as flat arrays (10M events ≈ 160 MB).
import { createRng, mixSeeds, type Rng } from "@recfleet/numeric";

export interface SyntheticClickstreamConfig {
  seed: number;
  /** Default 150 000. */
  users?: number;
  /** Default 100 000. */
  items?: number;
  events: number;
  /** Zipf exponent of item popularity. Default 0.9. */
  popularityExponent?: number;
  /** Zipf exponent of user activity. Default 0.7. */
  activityExponent?: number;
  /** Default 500. */
  tasteClusters?: number;
  /** Mean events per session. Default 8. */
  meanSessionLength?: number;
  /** Share of sessions outside the user's tastes (by global popularity). Default 0.15. */
  exploreRate?: number;
  /** Time of the first event (epoch ms). Default 2026-01-01T00:00:00Z. */
  startTs?: number;
}

export const GENRES = 19;

export interface SyntheticClickstream {
  users: number;
  items: number;
  /** Per event, in time order: user row, item row, epoch ms. */
  eventUser: Int32Array;
  eventItem: Int32Array;
  eventTs: Float64Array;
  /** items × GENRES multi-hot genres. */
  itemGenres: Float32Array;
}

export class ClickstreamConfigError extends Error {
  constructor(field: string, value: unknown, expected: string) {
    super(`synthetic clickstream: ${field} is ${String(value)}, expected ${expected}`);
    this.name = "ClickstreamConfigError";
  }
}

/** Cumulative weights of a power law over n ranks, for sampling by binary search. */
function powerLawCdf(n: number, exponent: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) {
    total += Math.pow(r + 1, -exponent);
    cdf[r] = total;
  }
  return cdf;
}

/** Index i in [from, to) with cdf[i−1] ≤ point < cdf[i] (cdf ascending). */
function searchCdf(cdf: Float64Array, from: number, to: number, point: number): number {
  let lo = from;
  let hi = to - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid]! <= point) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function positiveInt(field: string, value: number): number {
  if (!(Number.isInteger(value) && value >= 1)) throw new ClickstreamConfigError(field, value, "an integer ≥ 1");
  return value;
}

export function generateClickstream(config: SyntheticClickstreamConfig): SyntheticClickstream {
  const users = positiveInt("users", config.users ?? 150_000);
  const items = positiveInt("items", config.items ?? 100_000);
  const events = positiveInt("events", config.events);
  const clusters = positiveInt("tasteClusters", Math.min(config.tasteClusters ?? 500, items));
  const meanSession = config.meanSessionLength ?? 8;
  if (!(meanSession >= 1)) throw new ClickstreamConfigError("meanSessionLength", meanSession, "a number ≥ 1");
  const explore = config.exploreRate ?? 0.15;
  if (!(explore >= 0 && explore <= 1)) throw new ClickstreamConfigError("exploreRate", explore, "in [0, 1]");
  const rng: Rng = createRng(mixSeeds(config.seed, 0x5ca1e));

  // Items: popularity rank = row; cluster by a seeded shuffle, so every cluster has head and tail.
  const itemCluster = new Int32Array(items);
  for (let i = 0; i < items; i++) itemCluster[i] = Math.floor(rng() * clusters);
  // Items of each cluster in rank order, and the cumulative popularity within each cluster.
  const clusterStart = new Int32Array(clusters + 1);
  for (let i = 0; i < items; i++) clusterStart[itemCluster[i]! + 1]! += 1;
  for (let c = 0; c < clusters; c++) clusterStart[c + 1]! += clusterStart[c]!;
  const clusterItems = new Int32Array(items);
  const clusterCdf = new Float64Array(items);
  const fill = clusterStart.slice(0, clusters);
  const exponent = config.popularityExponent ?? 0.9;
  for (let i = 0; i < items; i++) clusterItems[fill[itemCluster[i]!]!++] = i;
  for (let c = 0; c < clusters; c++) {
    let total = 0;
    for (let k = clusterStart[c]!; k < clusterStart[c + 1]!; k++) {
      total += Math.pow(clusterItems[k]! + 1, -exponent);
      clusterCdf[k] = total;
    }
  }
  const globalCdf = powerLawCdf(items, exponent);
  const itemGenres = new Float32Array(items * GENRES);
  const clusterGenres = Array.from({ length: clusters }, () => {
    const count = 1 + Math.floor(rng() * 3);
    return Array.from({ length: count }, () => Math.floor(rng() * GENRES));
  });
  for (let i = 0; i < items; i++) for (const g of clusterGenres[itemCluster[i]!]!) itemGenres[i * GENRES + g] = 1;

  // Users: activity by a power law over a seeded order; three taste clusters each.
  const activityCdf = powerLawCdf(users, config.activityExponent ?? 0.7);
  const userOrder = new Int32Array(users);
  for (let u = 0; u < users; u++) userOrder[u] = u;
  for (let u = users - 1; u > 0; u--) {
    const j = Math.floor(rng() * (u + 1));
    const t = userOrder[u]!;
    userOrder[u] = userOrder[j]!;
    userOrder[j] = t;
  }
  const tastes = new Int32Array(users * 3);
  for (let k = 0; k < tastes.length; k++) tastes[k] = Math.floor(rng() * clusters);

  const eventUser = new Int32Array(events);
  const eventItem = new Int32Array(events);
  const eventTs = new Float64Array(events);
  let ts = config.startTs ?? Date.UTC(2026, 0, 1);
  const stopProbability = 1 / meanSession;
  let e = 0;
  while (e < events) {
    const user = userOrder[searchCdf(activityCdf, 0, users, rng() * activityCdf[users - 1]!)]!;
    const pick = rng();
    const q = (pick - explore) / (1 - explore); // where in the user's 60/30/10 taste split
    const cluster = pick < explore ? -1 : tastes[user * 3 + (q < 0.6 ? 0 : q < 0.9 ? 1 : 2)]!;
    ts += Math.round(1000 + rng() * 120_000);
    do {
      let item: number;
      if (cluster < 0 || clusterStart[cluster + 1] === clusterStart[cluster]) {
        item = searchCdf(globalCdf, 0, items, rng() * globalCdf[items - 1]!);
      } else {
        // clusterCdf restarts at each cluster: search [from, to) on that cluster's running total.
        const from = clusterStart[cluster]!;
        const to = clusterStart[cluster + 1]!;
        item = clusterItems[searchCdf(clusterCdf, from, to, rng() * clusterCdf[to - 1]!)]!;
      }
      eventUser[e] = user;
      eventItem[e] = item;
      eventTs[e] = ts;
      ts += Math.round(5000 + rng() * 50_000);
      e++;
    } while (e < events && rng() >= stopProbability);
  }
  return { users, items, eventUser, eventItem, eventTs, itemGenres };
}

/**
 * Each user's item rows in time order, back to back (the trainer's sequence input): user u's
 * events are items[offsets[u] .. offsets[u+1]). A counting sort, stable in time.
 */
export function userSequences(stream: SyntheticClickstream): { items: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(stream.users + 1);
  for (const u of stream.eventUser) offsets[u + 1]! += 1;
  for (let u = 0; u < stream.users; u++) offsets[u + 1]! += offsets[u]!;
  const next = offsets.slice(0, stream.users);
  const items = new Int32Array(stream.eventItem.length);
  for (let e = 0; e < stream.eventItem.length; e++) items[next[stream.eventUser[e]!]!++] = stream.eventItem[e]!;
  return { items, offsets };
}

// @recfleet/numeric — the seeded generator, seed hashing and percentiles every package shares.
// A leaf: no dependencies, no I/O.
export { createRng, SeededRandom, hashString, mixSeeds, type Rng } from "./random.js";
export { percentile } from "./percentile.js";

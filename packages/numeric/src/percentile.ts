/**
 * The q-quantile (q in [0,1]) of samples sorted ascending, by linear interpolation between the
 * two nearest ranks: position q·(n−1), so q=0 is the minimum, q=1 the maximum and q=0.5 of an
 * even count the mean of the middle two (numpy's default, Hyndman–Fan type 7). NaN when empty.
 *
 * The only definition in the repo, so that a p99 means the same in a bench, the simulator's
 * report and an OPE bootstrap interval.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: q must be in [0,1], got ${q}`);
  if (sorted.length === 0) return NaN;
  const position = q * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low]!;
  const b = sorted[high]!;
  return a + (b - a) * (position - low);
}

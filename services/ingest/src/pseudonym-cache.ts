/**
 * A bounded LRU in front of the pseudonymiser. HMAC-SHA256 costs a few µs per event, and a
 * stream repeats the same users over and over; the cache holds at most `capacity` raw id →
 * pseudonym pairs in this process's memory (nothing leaves it). The pseudonym is a pure
 * function of the raw id, so a cached answer is always the answer HMAC would give.
 */
export function cachePseudonyms(
  pseudonymise: (rawUserId: string) => string,
  capacity: number,
): (rawUserId: string) => string {
  if (!Number.isInteger(capacity) || capacity < 0)
    throw new RangeError(`pseudonym cache capacity must be an integer ≥ 0, got ${capacity}`);
  if (capacity === 0) return pseudonymise;
  // A Map iterates in insertion order: re-inserting on a hit keeps the least recently used first.
  const cache = new Map<string, string>();
  return (raw) => {
    const hit = cache.get(raw);
    if (hit !== undefined) {
      cache.delete(raw);
      cache.set(raw, hit);
      return hit;
    }
    const pseudonym = pseudonymise(raw);
    if (cache.size >= capacity) cache.delete(cache.keys().next().value as string);
    cache.set(raw, pseudonym);
    return pseudonym;
  };
}

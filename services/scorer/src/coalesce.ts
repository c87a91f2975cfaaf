/**
 * Joins work handed in concurrently into shared runs. The scorer consumes several partitions at
 * once (SCORER_CONCURRENCY); each partition's batch alone would pay its own retrieval run, Redis
 * round trips and produce request. Here the first caller runs at once, and whatever arrives while
 * a run is in flight goes together in the next one (up to `maxItems`): the busier the scorer, the
 * bigger its batches, with no timer adding latency when it is idle.
 */
export function coalescing<T>(run: (items: T[]) => Promise<void>, maxItems: number): (items: T[]) => Promise<void> {
  const waiting: { items: T[]; done: () => void; failed: (err: unknown) => void }[] = [];
  let running = false;
  const drain = async () => {
    running = true;
    while (waiting.length > 0) {
      // Whole entries only, so each caller's items are answered by one run; at least one entry.
      const taken = [waiting.shift()!];
      let size = taken[0]!.items.length;
      while (waiting.length > 0 && size + waiting[0]!.items.length <= maxItems) {
        size += waiting[0]!.items.length;
        taken.push(waiting.shift()!);
      }
      try {
        await run(taken.flatMap((entry) => entry.items));
        for (const entry of taken) entry.done();
      } catch (err) {
        for (const entry of taken) entry.failed(err);
      }
    }
    running = false;
  };
  return (items) =>
    new Promise<void>((done, failed) => {
      waiting.push({ items, done, failed });
      if (!running) void drain();
    });
}

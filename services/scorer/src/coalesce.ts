/**
 * Joins work handed in concurrently into shared runs. The scorer consumes several partitions at
 * once (SCORER_CONCURRENCY); each partition's batch alone would pay its own retrieval run, Redis
 * round trips and produce request. Here a run starts on the next turn of the event loop, so the
 * partitions of one fetch — handed in one after the other within a turn — go in one run (starting
 * at once, the first partition went alone and the others waited a whole run for the second; the
 * fetch after them waits for both: E2E-LATENCY at 500/s measured a request's wait at twice the
 * run time). Whatever arrives while runs are in flight goes together in the next one (up to
 * `maxItems`): the busier the scorer, the bigger its batches, with no timer adding latency when it
 * is idle.
 *
 * `maxRuns` runs may be in flight at once. A run spends most of its time waiting (Redis, the
 * broker's acknowledgement of its sends); with 2 the next run's reads and scoring overlap the
 * previous run's waits instead of queueing behind them.
 */
export function coalescing<T>(
  run: (items: T[]) => Promise<void>,
  maxItems: number,
  maxRuns = 1,
): (items: T[]) => Promise<void> {
  const waiting: { items: T[]; done: () => void; failed: (err: unknown) => void }[] = [];
  let running = 0;
  let scheduled = false;
  const startRuns = () => {
    scheduled = false;
    while (running < maxRuns && waiting.length > 0) {
      // Whole entries only, so each caller's items are answered by one run; at least one entry.
      const taken = [waiting.shift()!];
      let size = taken[0]!.items.length;
      while (waiting.length > 0 && size + waiting[0]!.items.length <= maxItems) {
        size += waiting[0]!.items.length;
        taken.push(waiting.shift()!);
      }
      running++;
      run(taken.flatMap((entry) => entry.items))
        .then(
          () => taken.forEach((entry) => entry.done()),
          (err: unknown) => taken.forEach((entry) => entry.failed(err)),
        )
        .finally(() => {
          running--;
          startRuns();
        });
    }
  };
  return (items) =>
    new Promise<void>((done, failed) => {
      waiting.push({ items, done, failed });
      if (running < maxRuns && !scheduled) {
        scheduled = true;
        setImmediate(startRuns);
      }
    });
}

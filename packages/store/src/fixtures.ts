/** Generators shared by the store's property tests (unit and integration). */
import fc from "fast-check";
import { EVENT_TYPES } from "@recfleet/contracts";
import { pseudonymise } from "./pseudonym";
import type { FeatureEvent } from "./store";

export interface Scenario {
  now: number;
  recs: { recId: string; policy: string; servedAt: number; items: { itemId: string }[] }[];
  /** Distinct events (one content per event id). */
  pool: FeatureEvent[];
  /** Indexes into pool: the delivered stream, with redeliveries. */
  stream: number[];
}

const MIN = 60_000;

/**
 * Small domains so collisions happen: few users and items, redelivered events, clicks on and
 * off a slate, in and out of the attribution window. Times avoid the edges where a record would
 * expire during the test.
 */
export function scenarioArb(now: number, windowMs: number): fc.Arbitrary<Scenario> {
  const users = [0, 1, 2, 3].map((i) => pseudonymise("fixture-secret-0123456789", `user-${i}`));
  const items = ["i0", "i1", "i2", "i3", "i4", "i5"];
  const recIds = ["r0", "r1", "r2"];
  const ts = fc.oneof(
    fc.integer({ min: now - 30 * MIN, max: now }),
    fc.integer({ min: now - 3 * 60 * MIN, max: now - 2 * 60 * MIN }),
  );
  const rec = fc.record({
    policy: fc.constantFrom("greedy", "epsilon:0.1"),
    // A record expires at servedAt + window + grace (5 min by default): either gone before the
    // test starts or alive minutes after it ends, however slow the run (the clock is real).
    servedAt: fc.oneof(
      fc.integer({ min: now - windowMs - 2 * MIN, max: now - 5 * MIN }),
      fc.integer({ min: now - windowMs - 10 * MIN, max: now - windowMs - 7 * MIN }),
    ),
    items: fc.uniqueArray(fc.constantFrom(...items), { minLength: 1, maxLength: 4 }),
  });
  const event = fc.record({
    user: fc.constantFrom(...users),
    itemId: fc.constantFrom(...items),
    type: fc.constantFrom(...EVENT_TYPES),
    ts,
    recId: fc.option(fc.constantFrom(...recIds), { nil: undefined }),
    refresh: fc.boolean(),
  });
  return fc
    .record({
      recs: fc.array(rec, { minLength: 0, maxLength: 3 }),
      events: fc.array(event, { minLength: 1, maxLength: 40 }),
      redeliveries: fc.array(fc.nat(), { maxLength: 20 }),
      // Clicks that answer a recommendation at a chosen offset from servedAt (inside or outside the window).
      clickOffsets: fc.array(fc.integer({ min: -2 * MIN, max: windowMs + 2 * MIN }), { maxLength: 8 }),
    })
    .map(({ recs, events, redeliveries, clickOffsets }) => {
      const recList = recs.map((r, i) => ({
        recId: recIds[i]!,
        policy: r.policy,
        servedAt: r.servedAt,
        items: r.items.map((itemId) => ({ itemId })),
      }));
      const pool: FeatureEvent[] = events.map((e, i) => ({
        eventId: `e${i}`,
        user: e.user,
        itemId: e.itemId,
        type: e.type,
        ts: e.ts,
        weight: e.type === "purchase" ? 5 : e.type === "view" ? 1 : 2,
        markSeen: e.type !== "view",
        reward: e.type === "click" && e.recId !== undefined,
        refresh: e.refresh && e.type === "purchase",
        ...(e.recId !== undefined ? { recId: e.recId } : {}),
      }));
      clickOffsets.forEach((off, j) => {
        const r = recList[j % Math.max(1, recList.length)];
        if (!r) return;
        const item = r.items[j % r.items.length]!.itemId;
        pool.push({
          eventId: `c${j}`,
          user: users[j % users.length]!,
          itemId: item,
          type: "click",
          ts: Math.min(now, r.servedAt + off),
          weight: 2,
          markSeen: true,
          reward: true,
          refresh: false,
          recId: r.recId,
        });
      });
      const stream = pool.map((_, i) => i);
      for (const r of redeliveries) stream.splice(r % (stream.length + 1), 0, r % pool.length);
      return { now, recs: recList, pool, stream };
    });
}

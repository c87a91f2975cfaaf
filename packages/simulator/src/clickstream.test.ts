import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClickstreamConfigError, generateClickstream, GENRES, userSequences } from "./clickstream";

describe("generateClickstream", () => {
  const config = { seed: 4, users: 2000, items: 3000, events: 60_000 };

  it("is deterministic for a seed, in time order, with ids in range", () => {
    const a = generateClickstream(config);
    const b = generateClickstream(config);
    assert.deepEqual(a.eventItem, b.eventItem);
    assert.deepEqual(a.eventUser, b.eventUser);
    assert.notDeepEqual(generateClickstream({ ...config, seed: 5 }).eventItem, a.eventItem);
    for (let e = 0; e < config.events; e++) {
      assert.ok(a.eventItem[e]! >= 0 && a.eventItem[e]! < config.items);
      assert.ok(a.eventUser[e]! >= 0 && a.eventUser[e]! < config.users);
      if (e > 0) assert.ok(a.eventTs[e]! > a.eventTs[e - 1]!, `event ${e} goes back in time`);
    }
    assert.equal(a.itemGenres.length, config.items * GENRES);
  });

  it("has a long-tailed popularity and sessions", () => {
    const s = generateClickstream(config);
    const counts = new Array<number>(config.items).fill(0);
    for (const i of s.eventItem) counts[i]! += 1;
    counts.sort((x, y) => y - x);
    const top1pct = counts.slice(0, config.items / 100).reduce((x, y) => x + y, 0);
    assert.ok(top1pct > 0.1 * config.events, `top 1% of items have ${top1pct} of ${config.events} events`);
    let sameUser = 0;
    for (let e = 1; e < config.events; e++) if (s.eventUser[e] === s.eventUser[e - 1]) sameUser++;
    // Mean session length 8: about 7 of 8 consecutive pairs belong to one session.
    assert.ok(sameUser > 0.8 * config.events, `${sameUser} consecutive same-user pairs`);
  });

  it("userSequences keeps each user's events in time order", () => {
    const s = generateClickstream(config);
    const { items, offsets } = userSequences(s);
    assert.equal(offsets[config.users], config.events);
    const expected = new Map<number, number[]>();
    for (let e = 0; e < config.events; e++) {
      const u = s.eventUser[e]!;
      if (!expected.has(u)) expected.set(u, []);
      expected.get(u)!.push(s.eventItem[e]!);
    }
    for (const [u, seq] of expected) assert.deepEqual(Array.from(items.subarray(offsets[u]!, offsets[u + 1]!)), seq);
  });

  it("rejects a bad config with the field's name", () => {
    assert.throws(() => generateClickstream({ seed: 1, events: 0 }), ClickstreamConfigError);
    assert.throws(() => generateClickstream({ seed: 1, events: 10, exploreRate: 2 }), /exploreRate/);
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ReferenceStore, diffSnapshots } from "./testing";
import { scenarioArb, type Scenario } from "./fixtures";
import { pseudonymise, createPseudonymiser, resolvePseudonymSecret, DEV_PSEUDONYM_SECRET } from "./pseudonym";
import { createLogger, ConfigError } from "@recfleet/runtime";
import { storeKeys } from "./keys";
import { decodeLegacyUserHash, decodeUserState, encodeUserState, seenItems } from "./user-state";

const NOW = Date.UTC(2026, 10, 27, 12);
const OPTIONS = { historyCap: 3, attributionWindowMs: 10 * 60_000, refreshIntervalMs: 3_600_000 };

function run(s: Scenario, order: number[], ns = "ref"): ReferenceStore {
  const ref = new ReferenceStore(ns, OPTIONS, () => s.now);
  for (const r of s.recs) ref.recordRecommendation(r);
  ref.applyEvents(order.map((i) => s.pool[i]!));
  return ref;
}

test("reference update: applying the stream again (a full replay) changes nothing", () => {
  fc.assert(
    fc.property(scenarioArb(NOW, OPTIONS.attributionWindowMs), (s) => {
      const ref = run(s, s.stream);
      const once = ref.snapshot();
      const again = ref.applyEvents(s.stream.map((i) => s.pool[i]!));
      assert.equal(again.applied, 0);
      assert.deepEqual(diffSnapshots(once, ref.snapshot()), []);
    }),
    { numRuns: 200 },
  );
});

test("reference update: any delivery order with redeliveries gives the state of each event applied once", () => {
  fc.assert(
    fc.property(scenarioArb(NOW, OPTIONS.attributionWindowMs), fc.infiniteStream(fc.nat()), (s, rnd) => {
      const shuffled = [...s.stream];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rnd.next().value % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const onceEach = s.pool.map((_, i) => i);
      assert.deepEqual(diffSnapshots(run(s, onceEach).snapshot(), run(s, shuffled).snapshot()), []);
    }),
    { numRuns: 200 },
  );
});

test("history is capped to the most recent events by (second, type, item), whatever the order; seen items leave it for the older list", () => {
  const ref = new ReferenceStore("cap", { historyCap: 2 }, () => NOW);
  const sec = Math.floor(NOW / 1000) * 1000;
  const ev = (i: number, ts: number, markSeen = false) => ({
    eventId: `e${i}`,
    user: "u".repeat(64),
    itemId: `i${i}`,
    type: "view" as const,
    ts,
    weight: 1,
    markSeen,
    reward: false,
    refresh: false,
  });
  ref.applyEvents([ev(1, sec - 10_000, true), ev(2, sec - 30_000, true), ev(3, sec - 5_000), ev(4, sec - 20_000)]);
  const user = ref.snapshot().get(storeKeys("cap").userState("u".repeat(64)));
  assert.equal(user?.type, "string");
  const packed = (user as { value: string }).value;
  const t3 = (sec - 5_000) / 1000;
  // The newest's time and the count up front; each entry counts its seconds from the one before.
  assert.equal(packed, `|i2|${t3.toString(16)},2|0V*i1;5Vi3`);
  const state = decodeUserState(packed);
  assert.deepEqual(state.history, [
    { itemId: "i1", type: "view", ts: sec - 10_000, seen: true },
    { itemId: "i3", type: "view", ts: sec - 5_000, seen: false },
  ]);
  assert.deepEqual(seenItems(state).sort(), ["i1", "i2"]);
  assert.equal(encodeUserState(state), packed);
});

test("user state: a legacy hash (h/s/w:<p>) decodes to the same history and seen items", () => {
  const ms = 1_700_000_000_123;
  const legacy = decodeLegacyUserHash({
    h: [`${ms.toString(36)},v,i1`, `${(ms + 2000).toString(36)},p,i2`].join(";"),
    s: "i0,i2",
    "w:3": "41",
  });
  assert.deepEqual(legacy.watermarks, new Map([["3", 41]]));
  assert.deepEqual(legacy.history, [
    { itemId: "i1", type: "view", ts: 1_700_000_000_000, seen: false },
    { itemId: "i2", type: "purchase", ts: 1_700_000_002_000, seen: true },
  ]);
  assert.deepEqual(legacy.olderSeen, ["i0"]);
});

test("pseudonym: HMAC-SHA256 hex, keyed, deterministic; the secret is required outside dev", () => {
  // RFC 4231 test case 2.
  assert.equal(
    pseudonymise("Jefe", "what do ya want for nothing?"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  assert.equal(createPseudonymiser("s".repeat(16))("alice"), pseudonymise("s".repeat(16), "alice"));
  assert.notEqual(pseudonymise("s".repeat(16), "alice"), pseudonymise("t".repeat(16), "alice"));
  const logs: string[] = [];
  const logger = createLogger("t", { write: (l) => logs.push(l) });
  assert.throws(() => resolvePseudonymSecret({ pseudonymSecret: undefined, profile: "prod" }, logger), ConfigError);
  assert.throws(() => resolvePseudonymSecret({ pseudonymSecret: "short", profile: "prod" }, logger), ConfigError);
  assert.equal(resolvePseudonymSecret({ pseudonymSecret: undefined, profile: "dev" }, logger), DEV_PSEUDONYM_SECRET);
  assert.match(logs.join("\n"), /fixed dev secret/);
  assert.equal(resolvePseudonymSecret({ pseudonymSecret: "x".repeat(32), profile: "prod" }, logger), "x".repeat(32));
  assert.ok(!logs.join("\n").includes("x".repeat(32)));
});

test("keys: every key of a namespace starts with its prefix; bad namespaces are refused", () => {
  const k = storeKeys("ns-1");
  const u = "a".repeat(64);
  for (const key of [
    ...k.userKeys(u),
    k.claims("0"),
    k.applied("0"),
    k.appliedWatermark("0"),
    k.popularity("0"),
    k.popularityPartitions,
    k.itemStats(0),
    k.rec("r"),
    k.recMarker("r"),
    k.erasures,
  ]) {
    assert.ok(key.startsWith(k.prefix), key);
  }
  for (const key of k.userKeys(u)) assert.ok(key.includes(u));
  assert.throws(() => storeKeys("a:*"), RangeError);
  assert.throws(() => storeKeys(""), RangeError);
});

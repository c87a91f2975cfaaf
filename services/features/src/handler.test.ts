import { test } from "node:test";
import assert from "node:assert/strict";
import type { CanonicalEvent } from "@recfleet/contracts";
import type { ConsumedMessage, OutgoingMessage } from "@recfleet/bus";
import { loadConfig, ConfigError } from "@recfleet/runtime";
import type { FeatureEvent } from "@recfleet/store";
import {
  createFeaturesHandler,
  toFeatureEvent,
  featuresConfigSchema,
  DEFAULT_EVENT_WEIGHTS,
  type FeaturePolicy,
} from "./index";

const policy: FeaturePolicy = {
  weights: DEFAULT_EVENT_WEIGHTS,
  seenTypes: ["click", "purchase"],
  rewardTypes: ["click"],
  refreshTypes: ["purchase"],
};
const U = "f".repeat(64);
const ev = (eventId: string, type: CanonicalEvent["type"], recId?: string): CanonicalEvent => ({
  eventId,
  user: U,
  itemId: "i1",
  type,
  ts: 1,
  ingestedAt: 2,
  late: false,
  ...(recId ? { recId } : {}),
});

test("toFeatureEvent: weights, seen, reward only with a recId and a reward type, refresh types", () => {
  assert.deepEqual(toFeatureEvent(ev("a", "view"), policy), {
    eventId: "a",
    user: U,
    itemId: "i1",
    type: "view",
    ts: 1,
    weight: 1,
    markSeen: false,
    reward: false,
    refresh: false,
  });
  const click = toFeatureEvent(ev("b", "click", "r1"), policy);
  assert.equal(click.reward, true);
  assert.equal(click.recId, "r1");
  assert.equal(toFeatureEvent(ev("c", "click"), policy).reward, false);
  assert.equal(toFeatureEvent(ev("d", "purchase", "r1"), policy).reward, false);
  assert.equal(toFeatureEvent(ev("d", "purchase"), policy).refresh, true);
});

test("handler: one store call and one send per batch; refresh requests carry the pseudonym and a stable id", async () => {
  const applied: FeatureEvent[][] = [];
  const sends: OutgoingMessage[][] = [];
  const handler = createFeaturesHandler({
    policy,
    apply: async (events) => (
      applied.push(events),
      { applied: events.length, replayed: 0, attributed: 0, refresh: events.filter((e) => e.refresh), stateMissing: [] }
    ),
    send: async (_t, m) => void sends.push(m),
    recRequestsTopic: "rr",
    now: () => 42,
  });
  const m = (e: CanonicalEvent, o: number): ConsumedMessage<CanonicalEvent> => ({
    value: e,
    key: U,
    topic: "ev",
    partition: 0,
    offset: String(o),
    timestamp: 0,
    raw: null,
  });
  await handler([m(ev("a", "view"), 1), m(ev("b", "purchase"), 2)], {
    topic: "ev",
    partition: 0,
    heartbeat: async () => {},
  });
  await handler([m(ev("b", "purchase"), 2)], { topic: "ev", partition: 0, heartbeat: async () => {} });
  assert.equal(applied.length, 2);
  assert.equal(sends.length, 2);
  const [r1] = sends[0]!;
  const [r2] = sends[1]!;
  assert.equal(r1!.key, U);
  assert.deepEqual(r1!.value, r2!.value);
  assert.match(JSON.stringify(r1!.value), /"reason":"refresh_on_event"/);
  assert.equal((r1!.value as { user: string }).user, U);
});

test("handler: a partition without state rewinds to the log start once, then its replay applies without asking again", async () => {
  let stateExists = false;
  const calls: boolean[] = [];
  const handler = createFeaturesHandler({
    policy,
    // A store whose partition lost its state: it refuses while state is required and missing.
    apply: async (events, options) => {
      calls.push(options.requireState === true);
      if (options.requireState && !stateExists)
        return { applied: 0, replayed: 0, attributed: 0, refresh: [], stateMissing: [0] };
      stateExists = true;
      return { applied: events.length, replayed: 0, attributed: 0, refresh: [], stateMissing: [] };
    },
    rewindWhenStateMissing: true,
    send: async () => {},
    recRequestsTopic: "rr",
  });
  const batch = (o: number): ConsumedMessage<CanonicalEvent>[] => [
    { value: ev(`e${o}`, "view"), key: U, topic: "ev", partition: 0, offset: String(o), timestamp: 0, raw: null },
  ];
  const ctx = { topic: "ev", partition: 0, heartbeat: async () => {} };
  assert.deepEqual(await handler(batch(500), ctx), { rewindTo: "0" });
  // The replay from the log start builds the state from nothing: no requirement on it.
  assert.equal(await handler(batch(3), ctx), undefined);
  assert.equal(await handler(batch(4), ctx), undefined);
  assert.deepEqual(calls, [true, false, true]);
  // A batch from offset 0 is the log start: applied without a rewind (a fresh deployment).
  stateExists = false;
  assert.equal(await handler(batch(0), ctx), undefined);
  // Lost again later (Redis emptied a second time): rewinds again.
  stateExists = false;
  assert.deepEqual(await handler(batch(900), ctx), { rewindTo: "0" });
});

test("config: event type lists and weights are checked", () => {
  const c = loadConfig(featuresConfigSchema, {
    FEATURES_EVENT_WEIGHTS: "view:0.5",
    FEATURES_REFRESH_TYPES: "purchase,click",
    FEATURES_REWARD_TYPES: "",
  });
  assert.equal(c.eventWeights.view, 0.5);
  assert.equal(c.eventWeights.purchase, 5);
  assert.deepEqual(c.refreshTypes, ["purchase", "click"]);
  assert.deepEqual(c.rewardTypes, ["click"], "empty means default");
  assert.throws(() => loadConfig(featuresConfigSchema, { FEATURES_REFRESH_TYPES: "hover" }), ConfigError);
  assert.throws(() => loadConfig(featuresConfigSchema, { FEATURES_EVENT_WEIGHTS: "view:0" }), ConfigError);
});

/**
 * MEMORY-FOOTPRINT (issue 16): Redis `used_memory` growth after N events from U users through
 * ingest's and features' handlers and their store calls, for today's layout on main (the
 * baseline: per-event dd:/ap: markers, a zset history per user) and this checkout's, in the
 * same run, each on a fresh redis-server. Both get the same seeded stream: UUID event ids,
 * 2 % of them sent twice by the "app", users' events on a partition chosen by their key.
 *
 * Kafka is left out on purpose: what lands in Redis is what the handlers' store calls write,
 * and 1M events through a broker on two shared cores would take most of an hour. Each handler
 * gets what its consumer loop would give it: per-partition batches with partition and offset.
 *
 * The baseline's code is main's own: a git worktree of `BENCH_BASE_REF` (default main) inside
 * this checkout (.scratch-membench-base, removed at the end), whose handlers and store are
 * imported as they are there.
 *
 *   node --import tsx bench/memory-footprint.ts
 *   BENCH_EVENTS=1000000 BENCH_USERS=100000 BENCH_HISTORY_CAP=50 BENCH_PARTITIONS=8 BENCH_BATCH=500
 *   BENCH_BASE_REF=main BENCH_LAYOUTS=both|ours|base
 *
 * "beyond history" = growth minus the users' own state (MEMORY USAGE of every user key,
 * summed), per event: what the layout keeps for idempotency and duplicates.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { REPO_ROOT, startRedis } from "@recfleet/stack";
import { EVENT_TYPES, type CanonicalEvent, type ClickstreamEvent } from "@recfleet/contracts";
import { createPseudonymiser } from "@recfleet/store";
import { log, round } from "./lib";

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const HISTORY_CAP = Number(process.env.BENCH_HISTORY_CAP ?? 50);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const ITEMS = 5000;
const DUP_RATE = 0.02;
const BASE_REF = process.env.BENCH_BASE_REF ?? "main";
const LAYOUTS = process.env.BENCH_LAYOUTS ?? "both";
const SECRET = "bench-pseudonym-secret-0123456789";
const NAMESPACE = "mem";

/** A small seeded generator (mulberry32) so both layouts see the same stream. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The "app's" stream: N events (duplicates included), in order. */
function* clickstream(): Generator<ClickstreamEvent> {
  const rand = rng(16);
  const start = Date.now() - 86_400_000;
  const weights: [(typeof EVENT_TYPES)[number], number][] = [
    ["view", 0.7],
    ["click", 0.2],
    ["add_to_cart", 0.05],
    ["purchase", 0.05],
  ];
  let previous: ClickstreamEvent | undefined;
  for (let i = 0; i < N; i++) {
    if (previous && rand() < DUP_RATE) {
      yield previous; // the app sent it again
      continue;
    }
    let r = rand();
    const type = weights.find(([, w]) => (r -= w) < 0)?.[0] ?? "view";
    previous = {
      eventId: randomUUID(),
      userId: `user-${Math.floor(rand() * USERS)}`,
      itemId: `item${Math.floor(rand() ** 2 * ITEMS)}`,
      type,
      ts: start + Math.floor((i / N) * 86_400_000),
    };
    yield previous;
  }
}

const partitionOf = (key: string): number => createHash("sha1").update(key).digest().readUInt32BE(0) % PARTITIONS;

interface Layout {
  name: string;
  root: string;
}

interface Outcome {
  growth: number;
  userBytes: number;
  users: number;
  produced: number;
  seconds: number;
}

async function runLayout(layout: Layout): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), `recfleet-membench-${layout.name}-`));
  const server = await startRedis({ dir });
  const redis = new Redis(server.url);
  try {
    const imp = (rel: string) => import(pathToFileURL(join(layout.root, rel)).href);
    const storeMod = await imp("packages/store/src/store.ts");
    const ingestMod = await imp("services/ingest/src/handler.ts");
    const featuresMod = await imp("services/features/src/handler.ts");
    const { DEFAULT_EVENT_WEIGHTS } = await imp("services/features/src/config.ts");
    const store = storeMod.createStore(redis, NAMESPACE, { historyCap: HISTORY_CAP });
    const pseudonymise = createPseudonymiser(SECRET);
    const canonical: { partition: number; value: CanonicalEvent }[] = [];
    const ingest = ingestMod.createIngestHandler({
      latenessMs: 7 * 86_400_000,
      pseudonymise,
      claim: (claims: unknown[]) => store.claimEvents(claims),
      send: async (_topic: string, messages: { key: string; value: CanonicalEvent }[]) => {
        for (const m of messages) canonical.push({ partition: partitionOf(m.key), value: m.value });
      },
      eventsTopic: "events",
    });
    const features = featuresMod.createFeaturesHandler({
      policy: {
        weights: DEFAULT_EVENT_WEIGHTS,
        seenTypes: ["click", "add_to_cart", "purchase"],
        rewardTypes: ["click"],
        refreshTypes: [],
      },
      apply: (events: unknown[]) => store.applyEvents(events),
      send: async () => {},
      recRequestsTopic: "rec.requests",
    });
    await redis.call("MEMORY", "PURGE");
    const before = Number((await redis.info("memory")).match(/used_memory:(\d+)/)![1]);
    const started = performance.now();
    // Clickstream is keyed by the raw user id: one partition per user, as apps send it.
    const pending = new Map<number, unknown[]>();
    const eventsPending = new Map<number, unknown[]>();
    const csOffsets = new Array<number>(PARTITIONS).fill(0);
    const evOffsets = new Array<number>(PARTITIONS).fill(0);
    let produced = 0;
    const ctx = (topic: string, partition: number) => ({ topic, partition, heartbeat: async () => {} });
    const flushFeatures = async (p: number) => {
      const batch = eventsPending.get(p) ?? [];
      eventsPending.set(p, []);
      if (batch.length > 0) await features(batch, ctx("events", p));
    };
    const flushIngest = async (p: number) => {
      const batch = pending.get(p) ?? [];
      pending.set(p, []);
      if (batch.length === 0) return;
      canonical.length = 0;
      await ingest(batch, ctx("clickstream", p));
      produced += canonical.length;
      for (const c of canonical) {
        const list = eventsPending.get(c.partition) ?? [];
        list.push({
          value: c.value,
          key: c.value.user,
          topic: "events",
          partition: c.partition,
          offset: String(evOffsets[c.partition]!++),
          timestamp: Date.now(),
          raw: null,
        });
        eventsPending.set(c.partition, list);
        if (list.length >= BATCH) await flushFeatures(c.partition);
      }
    };
    let i = 0;
    for (const e of clickstream()) {
      const p = partitionOf(e.userId);
      const list = pending.get(p) ?? [];
      list.push({
        value: e,
        key: e.userId,
        topic: "clickstream",
        partition: p,
        offset: String(csOffsets[p]!++),
        timestamp: Date.now(),
        raw: null,
      });
      pending.set(p, list);
      if (list.length >= BATCH) await flushIngest(p);
      if (++i % 200_000 === 0)
        log(`${layout.name}: ${i} events in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
    for (let p = 0; p < PARTITIONS; p++) await flushIngest(p);
    for (let p = 0; p < PARTITIONS; p++) await flushFeatures(p);
    const seconds = (performance.now() - started) / 1000;
    await redis.call("MEMORY", "PURGE");
    const after = Number((await redis.info("memory")).match(/used_memory:(\d+)/)![1]);
    // The users' own state: every key that names a pseudonym (history, seen, watermarks).
    let userBytes = 0;
    const userKeys = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${NAMESPACE}:u:*`, "COUNT", 5000);
      cursor = next;
      for (const k of keys) userKeys.add(k);
    } while (cursor !== "0");
    const list = [...userKeys];
    for (let s = 0; s < list.length; s += 1000) {
      const sizes = await Promise.all(
        list.slice(s, s + 1000).map((k) => redis.call("MEMORY", "USAGE", k, "SAMPLES", "0") as Promise<number | null>),
      );
      for (const b of sizes) userBytes += Number(b ?? 0);
    }
    const users = new Set(list.map((k) => k.replace(/^mem:u:\{?([0-9a-f]+)\}?.*$/, "$1"))).size;
    // Where a user's bytes go: the packed sections' lengths (this layout's string; main's hash fields).
    const stateKeys = list.filter((k) => /^mem:u:\{[0-9a-f]+\}$/.test(k)).slice(0, 500);
    const sectionBytes: Record<string, number> = {};
    for (const k of stateKeys) {
      const parts: [string, number][] =
        (await redis.type(k)) === "hash"
          ? Object.entries(await redis.hgetall(k)).map(([f, v]) => [f.startsWith("w:") ? "w:*" : f, v.length])
          : ((await redis.get(k)) ?? "")
              .split("|")
              .map((v, i) => [["watermarks", "older_seen", "history"][i]!, v.length]);
      for (const [name, bytes] of parts) sectionBytes[name] = (sectionBytes[name] ?? 0) + bytes / stateKeys.length;
    }
    log(
      `${layout.name}: mean bytes per user state section ${JSON.stringify(sectionBytes, (_, v) => (typeof v === "number" ? Math.round(v) : v))}`,
    );
    log(
      `${layout.name}: ${N} events (${produced} after ingest's duplicate filter), ${users} users, ${seconds.toFixed(1)} s; ` +
        `used_memory ${before} → ${after} (+${after - before} bytes), users' keys ${userBytes} bytes`,
    );
    return { growth: after - before, userBytes, users, produced, seconds };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

const baseRoot = join(REPO_ROOT, ".scratch-membench-base");
const outcomes: Partial<Record<"base" | "ours", Outcome>> = {};
try {
  log(`${N} events from ${USERS} users, ${PARTITIONS} partitions, batches of ${BATCH}, history cap ${HISTORY_CAP}`);
  if (LAYOUTS !== "ours") {
    if (!existsSync(baseRoot))
      execFileSync("git", ["-C", REPO_ROOT, "worktree", "add", "--detach", baseRoot, BASE_REF], { stdio: "ignore" });
    log(
      `baseline: ${BASE_REF} at ${execFileSync("git", ["-C", baseRoot, "rev-parse", "--short", "HEAD"]).toString().trim()}`,
    );
    outcomes.base = await runLayout({ name: "base", root: baseRoot });
  }
  if (LAYOUTS !== "base") outcomes.ours = await runLayout({ name: "ours", root: REPO_ROOT });
} finally {
  if (existsSync(baseRoot)) execFileSync("git", ["-C", REPO_ROOT, "worktree", "remove", "--force", baseRoot]);
}

const perEvent = (o?: Outcome) => (o ? round(o.growth / N, 1) : null);
const perUser = (o?: Outcome) => (o ? round(o.growth / o.users, 1) : null);
const beyond = (o?: Outcome) => (o ? round((o.growth - o.userBytes) / N, 1) : null);
const userState = (o?: Outcome) => (o ? round(o.userBytes / o.users, 1) : null);
log(
  `bytes per event: ours ${perEvent(outcomes.ours)}, base ${perEvent(outcomes.base)}; per user: ours ${perUser(outcomes.ours)}, base ${perUser(outcomes.base)}`,
);
log(
  `users' own keys per user: ours ${userState(outcomes.ours)}, base ${userState(outcomes.base)}; beyond the users' keys per event: ours ${beyond(outcomes.ours)}, base ${beyond(outcomes.base)}`,
);
console.log(
  JSON.stringify({
    bench: "MEMORY-FOOTPRINT",
    events: N,
    users: USERS,
    history_cap: HISTORY_CAP,
    partitions: PARTITIONS,
    bytes_per_event: perEvent(outcomes.ours),
    bytes_per_user: perUser(outcomes.ours),
    user_state_bytes_per_user: userState(outcomes.ours),
    bytes_per_event_beyond_user_state: beyond(outcomes.ours),
    baseline_bytes_per_event: perEvent(outcomes.base),
    baseline_bytes_per_user: perUser(outcomes.base),
    baseline_bytes_per_event_beyond_user_state: beyond(outcomes.base),
    ratio_bytes_per_event:
      outcomes.ours && outcomes.base ? round(outcomes.base.growth / outcomes.ours.growth, 2) : null,
  }),
);

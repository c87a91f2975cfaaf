// TRAIN-WINDOW-MEMORY (MEMORY-FOOTPRINT style): Redis used_memory held by the trainer's training
// window after N events (default 1M) of the synthetic clickstream — the Redis stream `<ns>:tw`
// plus one `tw:ap:<eventId>` marker per event, written through the store's createTrainingWindow
// exactly as the trainer appends (batches of 500, plain or sealed with a per-user keyring).
// Starts its own redis-server (no persistence) on a free port and stops it at the end.
//
// usage: node --import tsx bench/train-window-memory.ts [--events 1000000] [--sealed]
// Ends with {"bench":"TRAIN-WINDOW-MEMORY","design":"redis-stream",…,"redis_mb":…,"bytes_per_event":…}.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { Redis } from "ioredis";
import { generateClickstream } from "@recfleet/simulator";
import { createTrainingWindow, createUserKeyring } from "@recfleet/store";

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const events = Number(argValue("--events", "1000000"));
const sealed = process.argv.includes("--sealed");

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const server = spawn(
  "redis-server",
  ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
  {
    stdio: "ignore",
  },
);
// redis-server needs a moment to listen: try fresh clients until one connects.
let redis: Redis | undefined;
try {
  for (let i = 0; redis === undefined; i++) {
    const client = new Redis({ port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 3 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      redis = client;
    } catch (e) {
      client.disconnect();
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const db: Redis = redis!;
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await db.info("memory"))![1]);
  const stream = generateClickstream({ seed: 1, events });
  const keyring = sealed
    ? createUserKeyring(db, "bench", Buffer.alloc(32, 7), { cacheSize: 200_000, cacheTtlMs: 600_000 })
    : undefined;
  // The trainer's defaults: markers live as long as the replay horizon (7 days).
  const window = createTrainingWindow(db, "bench", { maxEvents: events, markerTtlMs: 7 * 86_400_000, keyring });
  const before = await usedMemory();
  const t0 = performance.now();
  for (let from = 0; from < events; from += 500) {
    const batch = [];
    for (let e = from; e < Math.min(events, from + 500); e++)
      batch.push({
        user: `u${stream.eventUser[e]}`,
        itemId: `item${stream.eventItem[e]}`,
        type: "click",
        ts: stream.eventTs[e]!,
        eventId: `ev-${e.toString(36)}`,
      });
    await window.append(batch, 0);
    if (from % 200_000 === 0) console.log(`appended ${from} events`);
  }
  const after = await usedMemory();
  const size = await window.size();
  // Sealed: the users' data keys are created on the way (ingest would have created them anyway).
  const bytes = after - before;
  console.log(
    `window: ${size} entries, ${(bytes / 2 ** 20).toFixed(1)} MiB of Redis (${Math.round(bytes / events)} bytes/event), ` +
      `appended in ${((performance.now() - t0) / 1000).toFixed(1)} s; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
  );
  console.log(
    JSON.stringify({
      bench: "TRAIN-WINDOW-MEMORY",
      design: "redis-stream",
      sealed,
      events,
      window_entries: size,
      redis_mb: Math.round((bytes / 2 ** 20) * 10) / 10,
      bytes_per_event: Math.round(bytes / events),
    }),
  );
} finally {
  redis?.disconnect();
  server.kill("SIGTERM");
}

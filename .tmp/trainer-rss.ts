import { testInfra } from "@recfleet/testkit";
import { scrapeMetric } from "@recfleet/cli";
import { generateClickstream } from "@recfleet/simulator";
import { scaleItemId, scaleUserId } from "../apps/cli/src/demo-scale";
import { startFleet, trainAndPromote, waitForEvents, type Fleet } from "../test/e2e/fleet-helpers";
import { benchInfra, rssOf } from "../bench/lib";
const infra = await benchInfra("trss");
let fleet: Fleet | undefined;
try {
  fleet = await startFleet(testInfra(infra.env), "trss", { TRAIN_WINDOW_MAX_EVENTS: "15000", TRAIN_EPOCHS: "2", LOG_LEVEL: "warn", ...(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {}) }, { portTimeoutMs: 240_000 });
  const s = generateClickstream({ seed: 7, users: 2000, items: 1000, events: 15000 });
  for (let i = 0; i < 15000; i += 500) {
    const b = [];
    for (let n = i; n < i + 500; n++) b.push({ key: scaleUserId(s.eventUser[n]!), value: { eventId: `e${n}`, userId: scaleUserId(s.eventUser[n]!), itemId: scaleItemId(s.eventItem[n]!), type: "click", ts: Date.now() - 600_000 + n * 10 } });
    await fleet.producer.send(fleet.topics.clickstream, b);
  }
  await waitForEvents(fleet, 15000, 300_000);
  const t = fleet.worker("trainer");
  for (let run = 1; run <= Number(process.argv[2] ?? 8); run++) {
    await trainAndPromote(fleet, "5m");
    await new Promise((r) => setTimeout(r, 3000));
    const m = async (n: string) => ((await scrapeMetric(t, n)) / 1048576).toFixed(1);
    console.log(`run ${run}: rss ${rssOf(t.process.pid).rssMb} heapUsed ${await m("recfleet_nodejs_heap_size_used_bytes")} heapTotal ${await m("recfleet_nodejs_heap_size_total_bytes")} external ${await m("recfleet_nodejs_external_memory_bytes")}`);
  }
} finally {
  await fleet?.stop();
  await infra.stop();
}
process.exit(0);

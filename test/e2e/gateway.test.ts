/**
 * The gateway in front of the real fleet (every worker a child process, the gateway too):
 *
 * - @recfleet/client over both transports makes the same calls: events in (HTTP → gateway →
 *   clickstream, and Kafka directly), recommendations out from the promoted model;
 * - the console in real Chromium (Debian's `chromium`, driven by puppeteer-core): loads with no
 *   console errors, shows the number the scorer's /metrics shows for the same moment, updates
 *   when traffic flows, and its rollback button changes the version the scorer serves. A
 *   screenshot goes to out/test/gateway-console.png.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";
import { createHttpClient, type EventInput, type RecfleetClient } from "@recfleet/client";
import { createKafkaClient } from "@recfleet/client/kafka";
import { scrapeMetric, stopWorkers } from "@recfleet/cli";
import { REPO_ROOT } from "@recfleet/stack";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import { prng, startFleet, startGateway, trainAndPromote, waitForEvents } from "./fleet-helpers";

const infra = testInfra();
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = join(REPO_ROOT, "out", "test");

function syntheticEvents(run: string, users: number, perUser: number): EventInput[] {
  const rand = prng(7);
  const now = Date.now();
  const events: EventInput[] = [];
  for (let u = 0; u < users; u++) {
    const home = u % 8;
    for (let j = 0; j < perUser; j++) {
      const item = rand() < 0.85 ? home * 12 + Math.floor(rand() * 12) : Math.floor(rand() * 96);
      events.push({
        eventId: `${run}-u${u}-e${j}`,
        userId: `${run}-user${u}`,
        itemId: `gw-item-${item}`,
        type: "click",
        ts: now - 30 * 60_000 + u * 1000 + j * 10,
      });
    }
  }
  return events;
}

test("gateway + client (HTTP and Kafka) + console in Chromium against the real fleet", async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`no Chromium at ${CHROMIUM}: sudo apt-get install -y chromium (or set CHROMIUM_PATH)`);
    return;
  }
  const fleet = await startFleet(infra, "gateway", {
    TRAIN_MIN_EVENTS: "300",
    PROMOTE_MARGIN: "1",
    SCORER_ALLOWED_POLICIES: "epsilon:0.1",
  });
  let failed = true;
  let http: RecfleetClient | undefined;
  let kafka: RecfleetClient | undefined;
  let browser: Awaited<ReturnType<typeof puppeteer.launch>> | undefined;
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    gateway = await startGateway(fleet, { GATEWAY_CONSOLE_SAMPLE: "1s", GATEWAY_DEADLINE: "10s" });
    http = createHttpClient({ baseUrl: gateway.url, apiKey: gateway.adminKey });
    kafka = await createKafkaClient({ brokers: infra.brokers, namespace: fleet.namespace, deadlineMs: 10_000 });

    // Events in over both transports: the same call, the same per-event results.
    const run = uniqueName("gw");
    const events = syntheticEvents(run, 80, 8);
    const half = events.length / 2;
    const bad = {
      eventId: `${run}-bad`,
      userId: "u",
      itemId: "i",
      type: "teleport",
      ts: Date.now(),
    } as unknown as EventInput;
    const viaHttp = await http.sendEvents([...events.slice(0, half), bad]);
    const viaKafka = await kafka.sendEvents([...events.slice(half), bad]);
    for (const r of [viaHttp, viaKafka]) {
      assert.equal(r.accepted, half);
      assert.equal(r.rejected, 1);
      assert.equal(r.results.at(-1)?.reason, "unknown_enum_value");
    }
    await waitForEvents(fleet, events.length);
    const first = await trainAndPromote(fleet);

    // Recommendations out over both transports, from the promoted model.
    for (const [name, client] of [
      ["http", http],
      ["kafka", kafka],
    ] as const) {
      for (const user of [`${run}-user1`, `${run}-user2`]) {
        const rec = await client.recommend({ user, k: 5, policy: "epsilon:0.1" });
        assert.equal(rec.modelVersion, first.version, `${name}: answered by the promoted version`);
        assert.equal(rec.items.length, 5, name);
        assert.equal(rec.policy, "epsilon:0.1", name);
      }
      await assert.rejects(
        client.recommend({ user: "has space" }),
        (err: { reason?: string }) => err.reason === "invalid_id",
        name,
      );
    }

    // A second version, so the console has something to roll back to.
    await http.sendEvents(syntheticEvents(`${run}-b`, 40, 8));
    await waitForEvents(fleet, events.length + 320);
    const second = await trainAndPromote(fleet);
    assert.notEqual(second.version, first.version);

    // The console in Chromium.
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
    page.on("pageerror", (err) => void problems.push(`page error: ${String(err)}`));
    page.on("requestfailed", (r) => void problems.push(`request failed: ${r.url()}`));
    await page.setViewport({ width: 1400, height: 1100 });
    await page.goto(`${gateway.url}/console`, { waitUntil: "load" });
    await page.type("#key", gateway.adminKey);
    await page.click("#connect");
    await page.waitForSelector("#panels:not([hidden])", { timeout: 10_000 });
    // Page expressions are strings: this file is type-checked without the DOM library.
    const byId = (id: string) => `document.getElementById(${JSON.stringify(id)})`;
    const until = (expression: string, timeout = 10_000) => page.waitForFunction(expression, { timeout });
    const number = async (expression: string) => Number(await page.evaluate(expression));
    const currentRow = (version: string) =>
      `document.querySelector('#models tr[data-version="${version}"][data-current]') !== null`;
    await until(`document.querySelectorAll("#workers tr[data-worker]").length === 4`);

    // No traffic now: the page's figure after its next poll equals the scorer's /metrics.
    const scorer = fleet.worker("scorer");
    const before = await number(`${byId("status")}.dataset.at`);
    await until(`Number(${byId("status")}.dataset.at) > ${before}`);
    const metricsNow = await scrapeMetric(scorer, "recfleet_scorer_recommendations_total");
    assert.equal(
      await number(`${byId("total-recommendations")}.dataset.value`),
      metricsNow,
      "the page shows what the scorer's /metrics shows",
    );

    // Traffic flows: the page's figure follows.
    for (let i = 0; i < 10; i++) await http.recommend({ user: `${run}-user${i}`, k: 3 });
    await until(`Number(${byId("total-recommendations")}.dataset.value) >= ${metricsNow + 10}`, 15_000);
    assert.ok((await page.$$("#chart-throughput svg polyline")).length > 0, "the throughput chart is drawn");

    // Rollback from the page: the scorer serves the first version again.
    await until(currentRow(second.version));
    await page.click("#rollback");
    await until(`/rolled back/.test(${byId("rollback-result")}.textContent)`);
    await waitFor(
      `the scorer to serve ${first.version} again`,
      async () => (await scrapeMetric(scorer, "recfleet_scorer_model_info", { version: first.version })) === 1,
      30_000,
      250,
    );
    await until(currentRow(first.version));
    const rec = await http.recommend({ user: `${run}-user3`, k: 3 });
    assert.equal(rec.modelVersion, first.version, "answers come from the rolled-back version");

    mkdirSync(OUT, { recursive: true });
    const shot = join(OUT, "gateway-console.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# console screenshot: ${shot}`);
    assert.deepEqual(problems, [], "the console logged no errors");
    failed = false;
  } catch (err) {
    console.error(`# gateway e2e failed; ${fleet.describeLogs()} (gateway: ${join(fleet.logDir, "gateway.log")})`);
    throw err;
  } finally {
    await browser?.close().catch(() => undefined);
    await http?.close();
    await kafka?.close();
    if (gateway) await stopWorkers([gateway.worker]);
    await fleet.stop({ keepLogs: failed });
  }
});

/**
 * The item catalog end to end on the real stack (Kafka + Redis, the four workers as child
 * processes, fleet-helpers): items published on `<ns>.items` reach the features worker's catalog
 * loop, the trainer's content features and every scorer.
 *
 * - a new item (never interacted with) published with content is recommended within 5 s, with no
 *   retrain, to a user whose history fits its content — and not to a user of another category;
 * - an item marked unavailable disappears from answers within 5 s;
 * - a request with a category filter gets only matching items (with the same model, same user).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { CatalogItem, ClickstreamEvent, RecRequest } from "@recfleet/contracts";
import { scrapeMetric } from "@recfleet/cli";
import { testInfra, uniqueName, waitFor } from "@recfleet/testkit";
import {
  prng,
  produceClickstream,
  requestRecommendations,
  startFleet,
  trainAndPromote,
  waitForEvents,
  type Fleet,
} from "./fleet-helpers";

const infra = testInfra();
const CATEGORIES = ["c0", "c1", "c2", "c3"];
const ITEMS_PER_CATEGORY = 15;
const USERS_PER_CATEGORY = 30;
const CLICKS_PER_USER = 8;
const categoryOf = (itemId: string) => itemId.split("-")[1]!;

async function publishItems(fleet: Fleet, items: CatalogItem[]): Promise<void> {
  await fleet.producer.send(
    fleet.topics.items,
    items.map((item) => ({ key: item.itemId, value: item })),
  );
}

/** Sends one request at a time until `accept` holds for its answer; returns ms from `since`. */
async function until(
  fleet: Fleet,
  request: Omit<RecRequest, "requestId" | "ts">,
  accept: (items: string[]) => boolean,
  since: number,
  what: string,
): Promise<number> {
  let last: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    const requestId = uniqueName("q");
    const answers = await requestRecommendations(fleet, [{ ...request, requestId, ts: Date.now() }], 20_000);
    last = answers.get(requestId)!.items.map((i) => i.itemId);
    if (accept(last)) return Date.now() - since;
  }
  throw new Error(`${what}: never happened; last answer ${last.join(",")}`);
}

test("catalog: new items by content within 5 s without retrain, unavailable items gone within 5 s, category filters", async () => {
  const fleet = await startFleet(infra, "catalog", {
    TRAIN_EPOCHS: "12",
    TRAIN_ID_DROPOUT: "0.5",
    TRAIN_MIN_EVENTS: "200",
  });
  let failed = true;
  try {
    const rand = prng(20);
    const t0 = Date.now() - 3_600_000;
    const items = CATEGORIES.flatMap((c) => Array.from({ length: ITEMS_PER_CATEGORY }, (_, j) => `i-${c}-${j}`));
    await publishItems(
      fleet,
      items.map((itemId, j) => ({
        itemId,
        op: "upsert",
        ts: t0,
        categories: [categoryOf(itemId)],
        provider: `p${j % 5}`,
      })),
    );
    const events: ClickstreamEvent[] = [];
    for (const c of CATEGORIES)
      for (let u = 0; u < USERS_PER_CATEGORY; u++)
        for (let e = 0; e < CLICKS_PER_USER; e++) {
          const itemId = `i-${c}-${Math.floor(rand() * ITEMS_PER_CATEGORY)}`;
          events.push({
            eventId: uniqueName("e"),
            userId: `u-${c}-${u}`,
            itemId,
            type: "click",
            ts: t0 + e * 60_000 + u,
          });
        }
    await waitFor(
      "the catalog loop to store every item",
      async () =>
        (await scrapeMetric(fleet.worker("features"), "recfleet_features_catalog_changes_total", {
          outcome: "applied",
        })) >= items.length,
      60_000,
      250,
    );
    await produceClickstream(fleet, events);
    await waitForEvents(fleet, events.length);
    const { version } = await trainAndPromote(fleet);
    const k = 5;

    // 1. A new item of category c2: recommended to a c2 user, within 5 s, with the same model version.
    const published = Date.now();
    await publishItems(fleet, [{ itemId: "new-c2", op: "upsert", ts: Date.now(), categories: ["c2"], provider: "p9" }]);
    const fitUser = { userId: "u-c2-0", k };
    const newItemMs = await until(fleet, fitUser, (ids) => ids.includes("new-c2"), published, "new item recommended");
    console.log(`# new item recommended ${newItemMs} ms after it was published (model ${version}, no retrain)`);
    assert.ok(newItemMs < 5000, `new item took ${newItemMs} ms`);
    const answer = await requestRecommendations(fleet, [{ ...fitUser, requestId: "fit", ts: Date.now() }]);
    const fit = answer.get("fit")!;
    assert.equal(fit.modelVersion, version, "no retrain happened");
    assert.match(fit.items.find((i) => i.itemId === "new-c2")?.rule ?? "", /new item/);
    const other = await requestRecommendations(fleet, [{ userId: "u-c0-0", k, requestId: "other", ts: Date.now() }]);
    assert.ok(
      !other.get("other")!.items.some((i) => i.itemId === "new-c2"),
      "the new c2 item is not pushed to a c0 user: its content decides who sees it",
    );

    // 2. Marked unavailable: gone within 5 s.
    const marked = Date.now();
    await publishItems(fleet, [
      { itemId: "new-c2", op: "upsert", ts: Date.now(), available: false, categories: ["c2"] },
    ]);
    const goneMs = await until(fleet, fitUser, (ids) => !ids.includes("new-c2"), marked, "unavailable item gone");
    console.log(`# unavailable item gone ${goneMs} ms after the change was published`);
    assert.ok(goneMs < 5000, `unavailable item took ${goneMs} ms to disappear`);

    // A trained item the user gets, deleted: gone too.
    const top = fit.items.find((i) => i.itemId !== "new-c2")!.itemId;
    const deleted = Date.now();
    await publishItems(fleet, [{ itemId: top, op: "delete", ts: Date.now() }]);
    const deletedMs = await until(fleet, fitUser, (ids) => !ids.includes(top), deleted, "deleted item gone");
    console.log(`# deleted item ${top} gone ${deletedMs} ms after the deletion was published`);
    assert.ok(deletedMs < 5000);

    // 3. Category filter: a c2 user asking for c0 only gets c0 items.
    const filtered = await requestRecommendations(fleet, [
      { userId: "u-c2-1", k, requestId: "filtered", ts: Date.now(), filters: { includeCategories: ["c0"] } },
    ]);
    const got = filtered.get("filtered")!;
    assert.equal(got.items.length, k);
    assert.ok(
      got.items.every((i) => categoryOf(i.itemId) === "c0"),
      `filter broken: ${got.items.map((i) => i.itemId)}`,
    );
    assert.ok(got.items.every((i) => i.propensity > 0 && i.propensity <= 1));
    failed = false;
  } catch (err) {
    console.error(`# catalog e2e failed; ${fleet.describeLogs()}`);
    throw err;
  } finally {
    await fleet.stop({ keepLogs: failed });
  }
});

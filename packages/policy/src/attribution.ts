// Reward attribution: which recommended items were clicked, from the recommendations and the
// click events (each click carries the recId it came from). Pure and order-independent, so the
// same inputs replayed after a crash give the same rewards (at-least-once delivery upstream).
import { PolicyConfigError } from "./errors.js";

export interface RecommendationRef {
  recId: string;
  /** When the recommendation was served (ms). */
  ts: number;
  /** The slate, top first. SlateItem[] fits. */
  items: readonly { itemId: string }[];
}

export interface ClickEvent {
  eventId: string;
  recId: string;
  itemId: string;
  ts: number;
}

export interface AttributionOptions {
  /** A click counts if 0 ≤ click.ts − rec.ts ≤ windowMs. */
  windowMs: number;
}

export interface AttributedSlot {
  recId: string;
  itemId: string;
  /** 1-based position in the slate. */
  rank: number;
  clicked: boolean;
  /** Time of the first counted click. */
  clickTs?: number;
}

export interface AttributionCounts {
  /** Clicks that became a reward. */
  attributed: number;
  /** Same eventId seen again (a redelivered event). */
  duplicateEvents: number;
  /** Another click on an already-rewarded (recId, itemId): the reward is binary. */
  repeatClicks: number;
  /** Before the recommendation or after the window. */
  outsideWindow: number;
  unknownRecommendation: number;
  itemNotInSlate: number;
}

export interface AttributionResult {
  /** One entry per recommended item, in the order of the recommendations and their slates. */
  slots: AttributedSlot[];
  counts: AttributionCounts;
}

export function attributeRewards(
  recommendations: readonly RecommendationRef[],
  clicks: readonly ClickEvent[],
  options: AttributionOptions,
): AttributionResult {
  if (!(options.windowMs >= 0)) throw new PolicyConfigError("windowMs", options.windowMs, "a number of ms ≥ 0");
  const counts: AttributionCounts = {
    attributed: 0,
    duplicateEvents: 0,
    repeatClicks: 0,
    outsideWindow: 0,
    unknownRecommendation: 0,
    itemNotInSlate: 0,
  };
  const byRec = new Map<string, { rec: RecommendationRef; items: Set<string> }>();
  for (const rec of recommendations)
    byRec.set(rec.recId, { rec, items: new Set(rec.items.map((item) => item.itemId)) });

  // Earliest click first, so that which duplicate is kept does not depend on arrival order.
  const ordered = [...clicks].sort(
    (a, b) => a.ts - b.ts || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0),
  );
  const seenEvents = new Set<string>();
  const firstClick = new Map<string, number>(); // recId \u0000 itemId → ts
  for (const click of ordered) {
    if (seenEvents.has(click.eventId)) {
      counts.duplicateEvents++;
      continue;
    }
    seenEvents.add(click.eventId);
    const entry = byRec.get(click.recId);
    if (entry === undefined) {
      counts.unknownRecommendation++;
      continue;
    }
    if (!entry.items.has(click.itemId)) {
      counts.itemNotInSlate++;
      continue;
    }
    const delay = click.ts - entry.rec.ts;
    if (delay < 0 || delay > options.windowMs) {
      counts.outsideWindow++;
      continue;
    }
    const key = `${click.recId}\u0000${click.itemId}`;
    if (firstClick.has(key)) {
      counts.repeatClicks++;
      continue;
    }
    firstClick.set(key, click.ts);
    counts.attributed++;
  }

  const slots: AttributedSlot[] = [];
  for (const rec of recommendations) {
    rec.items.forEach((item, i) => {
      const clickTs = firstClick.get(`${rec.recId}\u0000${item.itemId}`);
      const slot: AttributedSlot = {
        recId: rec.recId,
        itemId: item.itemId,
        rank: i + 1,
        clicked: clickTs !== undefined,
      };
      if (clickTs !== undefined) slot.clickTs = clickTs;
      slots.push(slot);
    });
  }
  return { slots, counts };
}

/**
 * Catalog rules, pure: which items may be served at all (operator rules from config), which match
 * a request's filters (the popular fallback; item-space.ts builds the retrieval mask by category
 * rows), and the per-provider cap. The scorer
 * applies them to the candidate set BEFORE the policy runs — inside retrieval as the item_bias
 * mask where it can — so the policy's propensities are exact over the filtered set.
 */
import type { RecFilters, RecRequest } from "@recfleet/contracts";
import type { StoredCatalogItem } from "@recfleet/store";

/** Operator-level rules (scorer config). */
export interface OperatorRules {
  /** Never recommend an item the catalog marks unavailable (deleted items are never served). */
  excludeUnavailable: boolean;
  /** At most this many items of one provider among a request's candidates (so in any slate); 0 = no cap. */
  maxPerProvider: number;
}

export function servable(item: StoredCatalogItem | undefined, rules: OperatorRules): boolean {
  if (!item) return true; // not in the catalog: an item known only from interactions
  if (item.deleted) return false;
  return !(rules.excludeUnavailable && item.available === false);
}

/** True when the item passes the request's filters (an item without catalog data fails any positive condition). */
export function matchesFilters(
  itemId: string,
  item: StoredCatalogItem | undefined,
  filters: RecFilters | undefined,
): boolean {
  if (!filters) return true;
  if (filters.excludeItems?.includes(itemId)) return false;
  const categories = item?.categories ?? [];
  if (filters.includeCategories && !filters.includeCategories.some((c) => categories.includes(c))) return false;
  if (filters.excludeCategories?.some((c) => categories.includes(c))) return false;
  for (const [name, range] of Object.entries(filters.ranges ?? {})) {
    const v = item?.numbers?.[name];
    if (v === undefined) return false;
    if (range.min !== undefined && v < range.min) return false;
    if (range.max !== undefined && v > range.max) return false;
  }
  return true;
}

/** Whether a request needs a mask or bias of its own (beyond the operator rules). */
export function hasRequestRules(request: RecRequest): boolean {
  const f = request.filters;
  const filtered =
    f !== undefined &&
    (f.includeCategories !== undefined ||
      f.excludeCategories !== undefined ||
      (f.excludeItems?.length ?? 0) > 0 ||
      Object.keys(f.ranges ?? {}).length > 0);
  return filtered || (request.boosts?.length ?? 0) > 0;
}

/**
 * The per-provider cap on a candidate list (best first): keeps at most `max` per provider and
 * returns the providers that lost items (their slate items are explained by the rule).
 */
export function capPerProvider<T extends { itemId: string }>(
  candidates: readonly T[],
  providerOf: (itemId: string) => string | undefined,
  max: number,
): { kept: T[]; capped: Set<string> } {
  if (max <= 0) return { kept: [...candidates], capped: new Set() };
  const count = new Map<string, number>();
  const capped = new Set<string>();
  const kept = candidates.filter((c) => {
    const p = providerOf(c.itemId);
    if (p === undefined) return true;
    const n = count.get(p) ?? 0;
    if (n >= max) {
      capped.add(p);
      return false;
    }
    count.set(p, n + 1);
    return true;
  });
  return { kept, capped };
}

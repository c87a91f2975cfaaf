/**
 * The items a scorer serves with one model version and one catalog state: the model's vocabulary
 * plus catalog items it has no row for yet, which get content-only vectors from the model's
 * content tower (no retrain); and the base item_bias row: −∞ for items the operator rules or
 * the catalog take out (unavailable, deleted). Rebuilt when the model or the catalog changes;
 * content vectors are cached per model version, item and change ts.
 */
import { encodeItemContent, hasContent } from "@recfleet/towers";
import type { RecRequest } from "@recfleet/contracts";
import type { StoredCatalogItem } from "@recfleet/store";
import type { CatalogView } from "./catalog-view";
import type { ItemBias, ServingModel } from "./serving-model";
import { servable, type OperatorRules } from "./catalog-rules";

export interface ServedItems {
  model: ServingModel;
  /** Catalog state per row (undefined: not in the catalog). */
  rowItems: (StoredCatalogItem | undefined)[];
  /** 0 or −∞ per row: the operator rules and catalog availability. */
  baseBias: Float32Array;
  /** Rows ≥ model.vocabularySize whose vector came from content alone. */
  contentRows: number;
  /** Rows of each category: filters and boosts touch only the rows they name, not every item. */
  categoryRows: ReadonlyMap<string, Int32Array>;
}

export class ItemSpace {
  private built: { version: string; catalogVersion: number; served: ServedItems } | undefined;
  private building: Promise<ServedItems> | undefined;
  private contentCache = new Map<string, { ts: number; vector: Float32Array }>();
  private contentCacheVersion = "";

  constructor(
    private readonly catalog: CatalogView,
    private readonly rules: OperatorRules,
    /** Added (cosine units) to new items' scores: a content vector is a prior; without a lift new items are rarely retrieved. */
    private readonly newItemBias = 0,
  ) {}

  /** The served items for this model (built at most once per model version and catalog version). */
  async serve(model: ServingModel): Promise<ServedItems> {
    const b = this.built;
    if (b && b.version === model.version && b.catalogVersion === this.catalog.version) return b.served;
    // One build at a time; callers that raced wait for it and re-check.
    while (this.building) await this.building.catch(() => undefined);
    const again = this.built;
    if (again && again.version === model.version && again.catalogVersion === this.catalog.version) return again.served;
    const catalogVersion = this.catalog.version;
    this.building = this.build(model);
    try {
      const served = await this.building;
      this.built = { version: model.version, catalogVersion, served };
      return served;
    } finally {
      this.building = undefined;
    }
  }

  private async build(model: ServingModel): Promise<ServedItems> {
    if (this.contentCacheVersion !== model.version) {
      this.contentCache = new Map();
      this.contentCacheVersion = model.version;
    }
    const d = model.dim;
    const F = model.featureWidth;
    const extra: { id: string; item: StoredCatalogItem }[] = [];
    if (F > 0) {
      for (const [id, item] of this.catalog.entries()) {
        if (model.rowOf.has(id) || !servable(item, this.rules) || !hasContent(item)) continue;
        extra.push({ id, item });
      }
    }
    const missing = extra.filter(({ id, item }) => this.contentCache.get(id)?.ts !== item.ts);
    if (missing.length > 0) {
      const features = new Float32Array(missing.length * F);
      missing.forEach(({ item }, j) => encodeItemContent(item, F, features, j * F));
      const vectors = await model.contentVectors(features);
      missing.forEach(({ id, item }, j) =>
        this.contentCache.set(id, { ts: item.ts, vector: vectors.slice(j * d, j * d + d) }),
      );
    }
    const extraMatrix = new Float32Array(extra.length * d);
    extra.forEach(({ id }, j) => extraMatrix.set(this.contentCache.get(id)!.vector, j * d));
    const served = model.withExtraItems(
      extra.map((e) => e.id),
      extraMatrix,
    );
    const rowItems = served.itemIds.map((id) => this.catalog.get(id));
    const baseBias = new Float32Array(served.itemIds.length);
    rowItems.forEach((item, row) => {
      if (!servable(item, this.rules)) baseBias[row] = -Infinity;
      else if (row >= model.vocabularySize) baseBias[row] = this.newItemBias;
    });
    const byCategory = new Map<string, number[]>();
    rowItems.forEach((item, row) => {
      for (const c of item?.categories ?? []) {
        const rows = byCategory.get(c);
        if (rows) rows.push(row);
        else byCategory.set(c, [row]);
      }
    });
    const categoryRows = new Map([...byCategory].map(([c, rows]) => [c, Int32Array.from(rows)]));
    return { model: served, rowItems, baseBias, contentRows: extra.length, categoryRows };
  }
}

/**
 * item_bias for a batch of warm requests: one shared row when no request has rules of its own,
 * else one row per request (base + −∞ for filtered-out items + boosts in cosine units).
 * `boostRule` names the boost that applied to a row, per request, for the explanations.
 */
export function batchBias(
  served: ServedItems,
  requests: readonly RecRequest[],
  needsOwnRow: (request: RecRequest) => boolean,
  logitPerCosine: number,
): { bias: ItemBias; boostRule: (request: number, row: number) => string | undefined } {
  const n = served.baseBias.length;
  if (!requests.some(needsOwnRow)) return { bias: { values: served.baseBias, rows: 1 }, boostRule: () => undefined };
  const values = new Float32Array(requests.length * n);
  const rules: Map<number, string>[] = [];
  const none = new Int32Array(0);
  const rowsOf = (category: string) => served.categoryRows.get(category) ?? none;
  const scratch = new Float32Array(n);
  requests.forEach((request, b) => {
    const row0 = b * n;
    const own = values.subarray(row0, row0 + n);
    own.set(served.baseBias);
    const rowRules = new Map<number, string>();
    rules.push(rowRules);
    if (!needsOwnRow(request)) return;
    const f = request.filters;
    if (f?.includeCategories) {
      scratch.fill(-Infinity);
      for (const c of f.includeCategories) for (const row of rowsOf(c)) scratch[row] = own[row]!;
      own.set(scratch);
    }
    for (const c of f?.excludeCategories ?? []) for (const row of rowsOf(c)) own[row] = -Infinity;
    for (const id of f?.excludeItems ?? []) {
      const row = served.model.rowOf.get(id);
      if (row !== undefined) own[row] = -Infinity;
    }
    const ranges = Object.entries(f?.ranges ?? {});
    if (ranges.length > 0) {
      for (let row = 0; row < n; row++) {
        if (own[row] === -Infinity) continue;
        const numbers = served.rowItems[row]?.numbers;
        for (const [name, range] of ranges) {
          const v = numbers?.[name];
          if (
            v === undefined ||
            (range.min !== undefined && v < range.min) ||
            (range.max !== undefined && v > range.max)
          ) {
            own[row] = -Infinity;
            break;
          }
        }
      }
    }
    // Boosts, in logit units → cosine units (the retrieval adds them to cosines).
    const boostedBy = new Map<number, { weight: number; names: string[] }>();
    for (const boost of request.boosts ?? [])
      for (const row of rowsOf(boost.category)) {
        if (own[row] === -Infinity) continue;
        const entry = boostedBy.get(row) ?? { weight: 0, names: [] };
        entry.weight += boost.weight;
        entry.names.push(boost.category);
        boostedBy.set(row, entry);
      }
    for (const [row, { weight, names }] of boostedBy) {
      if (weight === 0) continue;
      own[row] = own[row]! + weight / logitPerCosine;
      rowRules.set(row, `${weight > 0 ? "boosted" : "demoted"}: category ${names.join(", ")}`);
    }
  });
  return { bias: { values, rows: requests.length }, boostRule: (b, row) => rules[b]?.get(row) };
}

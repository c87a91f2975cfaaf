/**
 * The item catalog's messages (`<ns>.items`, a compacted topic keyed by itemId) and the rules a
 * rec request may carry (filters and boosts). Kept apart from messages.ts: the catalog is its own
 * concern, and requests only reference it.
 */
import type { FieldSpec, MessageSpec } from "./schema";

export const ITEM_OPS = ["upsert", "delete"] as const;
export type ItemOp = (typeof ITEM_OPS)[number];

/** Explicit limits of one catalog item (also the JSON Schema's). */
export const ITEM_LIMITS = {
  maxCategories: 16,
  maxTags: 32,
  maxLabelLength: 64,
  maxNumericAttributes: 32,
  maxTextAttributes: 8,
  maxTextLength: 1024,
  /** Numeric attributes (price, year, rating, …) lie in ±this. */
  maxAbsNumber: 1e12,
} as const;

/**
 * One catalog change from a producer: an upsert carries the item's whole state (a compacted topic
 * keeps only the newest value per key, so a partial update would lose fields on rebuild); a
 * delete names the item. Newer `ts` wins: an older change arriving late is ignored.
 */
export interface CatalogItem {
  itemId: string;
  op: ItemOp;
  /** When the change was made at the source (orders changes of one item). */
  ts: number;
  /** Absent → true. Unavailable items are never recommended (an operator rule). */
  available?: boolean;
  categories?: string[];
  tags?: string[];
  /** Numeric attributes, filterable by range in requests. */
  numbers?: Record<string, number>;
  /** Free text (title, description); stored, not used for filtering. */
  text?: Record<string, string>;
  /** Seller / provider, for the per-provider cap and exposure fairness. */
  provider?: string;
}

const label = (what: string): FieldSpec => ({
  kind: "string",
  maxLength: ITEM_LIMITS.maxLabelLength,
  description: what,
});

export const catalogItemSpec: MessageSpec = {
  name: "catalog-item",
  description: "An item upsert or deletion on the compacted items topic (key: itemId).",
  maxBytes: 16 * 1024,
  fields: {
    itemId: { kind: "id", description: "The item; also the message key (compaction keeps the newest per item)." },
    op: { kind: "enum", values: ITEM_OPS, description: "upsert (whole state) or delete." },
    ts: { kind: "timestamp", description: "When the change was made; an older change than the stored one is ignored." },
    available: { kind: "boolean", optional: true, description: "In stock / publishable; absent means true." },
    categories: {
      kind: "array",
      of: label("Category."),
      maxItems: ITEM_LIMITS.maxCategories,
      optional: true,
      description: "Categories (content features; request filters and boosts match them).",
    },
    tags: {
      kind: "array",
      of: label("Tag."),
      maxItems: ITEM_LIMITS.maxTags,
      optional: true,
      description: "Tags (content features).",
    },
    numbers: {
      kind: "map",
      values: {
        kind: "number",
        min: -ITEM_LIMITS.maxAbsNumber,
        max: ITEM_LIMITS.maxAbsNumber,
        description: "Attribute value.",
      },
      maxKeys: ITEM_LIMITS.maxNumericAttributes,
      optional: true,
      description: "Numeric attributes by name (price, year, …), filterable by range.",
    },
    text: {
      kind: "map",
      values: { kind: "string", maxLength: ITEM_LIMITS.maxTextLength, description: "Text." },
      maxKeys: ITEM_LIMITS.maxTextAttributes,
      optional: true,
      description: "Text attributes by name (title, description).",
    },
    provider: { kind: "id", optional: true, description: "Seller / provider id." },
  },
};

/** An inclusive range of a numeric attribute; an item without the attribute does not match. */
export interface AttributeRange {
  min?: number;
  max?: number;
}

/** What a request may restrict; every field narrows the candidate set before the policy runs. */
export interface RecFilters {
  includeCategories?: string[];
  excludeCategories?: string[];
  excludeItems?: string[];
  ranges?: Record<string, AttributeRange>;
}

/** Adds `weight` to the logit of items in `category` (before the policy, so propensities stay exact). */
export interface RecBoost {
  category: string;
  weight: number;
}

/** The largest boost a request may ask for (logit units): bounded, so a client cannot swamp the model. */
export const MAX_BOOST_WEIGHT = 5;

export const recFiltersField: FieldSpec = {
  kind: "object",
  optional: true,
  description: "Restrictions applied before the policy (and inside retrieval as a mask).",
  fields: {
    includeCategories: {
      kind: "array",
      of: label("Category."),
      maxItems: 16,
      optional: true,
      description: "Only items in one of these.",
    },
    excludeCategories: {
      kind: "array",
      of: label("Category."),
      maxItems: 16,
      optional: true,
      description: "No item in any of these.",
    },
    excludeItems: {
      kind: "array",
      of: { kind: "id", description: "Item id." },
      maxItems: 200,
      optional: true,
      description: "Never these items.",
    },
    ranges: {
      kind: "map",
      maxKeys: 8,
      optional: true,
      description: "Numeric attribute → inclusive range; items without the attribute are dropped.",
      values: {
        kind: "object",
        description: "Range.",
        fields: {
          min: {
            kind: "number",
            min: -ITEM_LIMITS.maxAbsNumber,
            max: ITEM_LIMITS.maxAbsNumber,
            optional: true,
            description: "Lowest value.",
          },
          max: {
            kind: "number",
            min: -ITEM_LIMITS.maxAbsNumber,
            max: ITEM_LIMITS.maxAbsNumber,
            optional: true,
            description: "Highest value.",
          },
        },
      },
    },
  },
};

export const recBoostsField: FieldSpec = {
  kind: "array",
  maxItems: 8,
  optional: true,
  description: "Category boosts added to the model's logit before the policy.",
  of: {
    kind: "object",
    description: "One boost.",
    fields: {
      category: label("Category."),
      weight: { kind: "number", min: -MAX_BOOST_WEIGHT, max: MAX_BOOST_WEIGHT, description: "Logit added." },
    },
  },
};

/** Semantic checks the field specs cannot express; undefined when the filters are usable. */
export function checkRecFilters(filters: RecFilters | undefined): string | undefined {
  for (const [name, range] of Object.entries(filters?.ranges ?? {})) {
    if (range.min !== undefined && range.max !== undefined && range.min > range.max)
      return `filters.ranges.${name}: min ${range.min} > max ${range.max}`;
  }
  return undefined;
}

import { hashString } from "@recfleet/numeric";

/** What an item's content features are made of (a catalog item's categories and tags). */
export interface ItemContent {
  categories?: readonly string[];
  tags?: readonly string[];
}

/**
 * Content features of an item: categories and tags hashed into `width` buckets (multi-hot, one
 * per distinct label; the hashing trick keeps the width fixed while the label vocabulary grows,
 * so a warm start and the scorer's content tower always agree on the input). Categories and tags
 * hash apart ("c:" / "t:" prefixes). Zeros for an item without labels.
 */
export function encodeItemContent(
  content: ItemContent | undefined,
  width: number,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const target = out ?? new Float32Array(width);
  if (width === 0 || content === undefined) return target;
  for (const c of content.categories ?? []) target[offset + (hashString(`c:${c}`) % width)] = 1;
  for (const t of content.tags ?? []) target[offset + (hashString(`t:${t}`) % width)] = 1;
  return target;
}

/** True when encodeItemContent gives this item any non-zero feature. */
export function hasContent(content: ItemContent | undefined): boolean {
  return (content?.categories?.length ?? 0) + (content?.tags?.length ?? 0) > 0;
}

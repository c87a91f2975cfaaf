/**
 * The scorer's copy of the item catalog: loaded whole at start, then kept current by reading the
 * catalog's change stream every CATALOG_POLL_INTERVAL (a reader that fell behind the capped
 * stream reloads everything). `version` grows with every applied change, so the served item
 * space knows when to rebuild.
 */
import type { CatalogStore, StoredCatalogItem } from "@recfleet/store";

export class CatalogView {
  private items = new Map<string, StoredCatalogItem>();
  private cursor = "0-0";
  /** Bumped on every change seen; the item space rebuilds when it differs from the one it was built at. */
  version = 0;

  constructor(private readonly store: Pick<CatalogStore, "readAll" | "readChanges">) {}

  get(itemId: string): StoredCatalogItem | undefined {
    return this.items.get(itemId);
  }

  get size(): number {
    return this.items.size;
  }

  entries(): IterableIterator<[string, StoredCatalogItem]> {
    return this.items.entries();
  }

  async reload(): Promise<void> {
    const { items, cursor } = await this.store.readAll();
    this.items = items;
    this.cursor = cursor;
    this.version++;
  }

  /** Reads changes since the last call; returns how many items changed. */
  async poll(): Promise<number> {
    const changes = await this.store.readChanges(this.cursor);
    if (changes.gap) {
      await this.reload();
      return this.items.size;
    }
    this.cursor = changes.cursor;
    for (const [id, item] of changes.items) {
      if (item) this.items.set(id, item);
      else this.items.delete(id);
    }
    if (changes.items.size > 0) this.version++;
    return changes.items.size;
  }
}

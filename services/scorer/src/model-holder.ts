/**
 * Hot swap without dropping requests: each batch acquires the current version and releases it
 * when done; a new version replaces `current` only once fully loaded, and the old one's
 * sessions are released after its last in-flight batch finishes. A version that fails to load
 * (corrupt artefact, missing shard) is refused and the previous one keeps serving.
 */
import { errorMessage, type Logger } from "@recfleet/runtime";
import type { ServingModel } from "./serving-model";

export interface ModelLease {
  model: ServingModel | undefined;
  release(): void;
}

export class ModelHolder {
  private current: ServingModel | undefined;
  private readonly inFlight = new Map<ServingModel, number>();
  private readonly retiring = new Set<ServingModel>();
  private loading: Promise<void> = Promise.resolve();
  private readonly refused = new Set<string>();

  constructor(
    private readonly load: (version: string) => Promise<ServingModel>,
    private readonly logger: Logger,
    private readonly onChange: (
      event:
        | { kind: "swapped"; version: string; provider: string; previous?: string }
        | { kind: "refused"; version: string; error: string },
    ) => void = () => {},
  ) {}

  get version(): string | undefined {
    return this.current?.version;
  }

  acquire(): ModelLease {
    const model = this.current;
    if (model) this.inFlight.set(model, (this.inFlight.get(model) ?? 0) + 1);
    let released = false;
    return {
      model,
      release: () => {
        if (!model || released) return;
        released = true;
        const left = (this.inFlight.get(model) ?? 1) - 1;
        this.inFlight.set(model, left);
        if (left === 0 && this.retiring.has(model)) void this.dispose(model);
      },
    };
  }

  /** Loads and swaps to `version` unless it is current or was refused; calls are serialised. */
  swapTo(version: string): Promise<void> {
    this.loading = this.loading.then(async () => {
      if (this.current?.version === version || this.refused.has(version)) return;
      let next: ServingModel;
      try {
        next = await this.load(version);
      } catch (err) {
        this.refused.add(version);
        this.logger.error("refused model version; still serving the previous one", {
          version,
          serving: this.current?.version ?? "none",
          error: errorMessage(err),
        });
        this.onChange({ kind: "refused", version, error: errorMessage(err) });
        return;
      }
      const previous = this.current;
      this.current = next;
      this.logger.info("serving model version", {
        version,
        previous: previous?.version ?? "none",
        provider: next.provider,
      });
      const swapped = { kind: "swapped" as const, version, provider: next.provider };
      this.onChange(previous ? { ...swapped, previous: previous.version } : swapped);
      if (previous) {
        this.retiring.add(previous);
        if ((this.inFlight.get(previous) ?? 0) === 0) await this.dispose(previous);
      }
    });
    return this.loading;
  }

  private async dispose(model: ServingModel): Promise<void> {
    this.retiring.delete(model);
    this.inFlight.delete(model);
    await model
      .release()
      .catch((err: unknown) =>
        this.logger.warn("releasing a retired model failed", { version: model.version, error: errorMessage(err) }),
      );
  }

  async close(): Promise<void> {
    await this.loading;
    const all = new Set([...this.retiring, ...(this.current ? [this.current] : [])]);
    this.current = undefined;
    for (const m of all) await this.dispose(m);
  }
}

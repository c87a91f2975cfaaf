/**
 * The events handler exactly as the features worker runs it — sealed events opened, then
 * createFeaturesHandler over the store — shared by the worker and by `rebuild-features`, so a
 * replay from Kafka applies events through the same code whatever the store's key layout is.
 */
import { canonicalEventSpec, type CanonicalEvent } from "@recfleet/contracts";
import { openingHandler, type BatchHandler, type OutgoingMessage } from "@recfleet/bus";
import {
  decodeSealedOr,
  openSealed,
  type createModelRegistry,
  type SealedEnvelope,
  type Store,
  type UserKeyring,
} from "@recfleet/store";
import { createFeaturesHandler, featurePolicy } from "./handler";
import type { FeaturesConfig } from "./config";

export type EventsOutcome = "applied" | "replayed" | "attributed" | "refresh_requests" | "shredded";

/** How the events topic's values are decoded (sealed or plain canonical events). */
export const decodeEventValue = (value: Buffer | null) => decodeSealedOr<CanonicalEvent>(canonicalEventSpec, value);

export function createEventsHandler(
  config: FeaturesConfig,
  deps: {
    store: Store;
    models: Pick<ReturnType<typeof createModelRegistry>, "currentVersion">;
    keyring: UserKeyring | undefined;
    send: (topic: string, messages: OutgoingMessage[]) => Promise<void>;
    recRequestsTopic: string;
    count: (outcome: EventsOutcome, n: number) => void;
    /** The live worker: a partition without state is replayed from the log start (handler.ts). */
    rewindWhenStateMissing?: boolean;
  },
): BatchHandler<CanonicalEvent | SealedEnvelope> {
  const { store, models } = deps;
  return openingHandler(
    (values) => openSealed<CanonicalEvent>(deps.keyring, values, canonicalEventSpec),
    createFeaturesHandler({
      policy: featurePolicy(config),
      apply: (events, options) => store.applyEvents(events, options),
      rewindWhenStateMissing: deps.rewindWhenStateMissing ?? false,
      send: deps.send,
      recRequestsTopic: deps.recRequestsTopic,
      counters: { inc: deps.count },
      foldLinearRewards: async (rewards) => {
        // The bandit state belongs to the serving version; clicks on older versions' slates are skipped.
        const version = await models.currentVersion();
        return version ? store.addLinearRewards(version, rewards) : 0;
      },
    }),
    (n) => deps.count("shredded", n),
  );
}

export { ingestConfigSchema, type IngestConfig } from "./config";
export {
  toCanonical,
  ingestOne,
  createIngestHandler,
  type CanonicalOptions,
  type IngestOutcome,
  type IngestHandlerDeps,
  type IngestCounters,
} from "./handler";
export { startIngestWorker, type IngestWorker } from "./worker";
export { main } from "./main";
export { cachePseudonyms } from "./pseudonym-cache";

import { bootWorker } from "@recfleet/runtime";
import { scorerConfigSchema } from "./config";
import { startScorer } from "./worker";

const { config, logger, registry, shutdown, readiness } = await bootWorker("scorer", scorerConfigSchema);
// Stopgap until the scorer registers its consumer loops and Redis as probes (readiness.addReadinessCheck).
let started = false;
readiness.addReadinessCheck("scorer started", () => started);
await startScorer(config, { logger, registry, shutdown, setReady: (r) => (started = r) });

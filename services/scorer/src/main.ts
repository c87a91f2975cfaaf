import { bootWorker } from "@recfleet/runtime";
import { scorerConfigSchema } from "./config";
import { startScorer } from "./worker";

const { config, logger, registry, shutdown, setReady } = await bootWorker("scorer", scorerConfigSchema);
await startScorer(config, { logger, registry, shutdown, setReady });

import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file lives in packages/stack/src). */
export const REPO_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

/** Chosen by the smoke test (docs/architecture.md says why); override with RECFLEET_KAFKA_VERSION. */
export const DEFAULT_KAFKA_VERSION = "4.4.0";

/** Jars and other downloads live outside git, shared by every clone on the machine. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RECFLEET_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "recfleet");
}

/** Where `recfleet stack up` keeps its data, logs and stack.json. */
export function stackDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RECFLEET_STACK_DIR ?? join(REPO_ROOT, ".recfleet", "stack");
}

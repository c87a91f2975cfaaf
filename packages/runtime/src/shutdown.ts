import type { Logger } from "./log";
import { errorMessage } from "./errors";

export interface Shutdown {
  /** Register a step; steps run in reverse order of registration (last opened, first closed). */
  onShutdown(name: string, step: () => Promise<void> | void): void;
  /** Runs every step once; resolves when done or when the deadline passes. */
  shutdown(reason: string): Promise<void>;
  readonly stopping: boolean;
  /** Resolves when shutdown starts (for loops that wait on it). */
  readonly started: Promise<string>;
}

/**
 * One registry for graceful shutdown with a deadline: SIGTERM/SIGINT stop fetching, drain,
 * commit and close in reverse order; past the deadline, or on a second signal, the process exits with code 1.
 */
export function createShutdown(options: {
  logger: Logger;
  deadlineMs: number;
  exit?: (code: number) => void;
  installSignals?: boolean;
  /** Where SIGTERM/SIGINT arrive (default: process); tests pass an EventEmitter. */
  signals?: Pick<NodeJS.EventEmitter, "on">;
}): Shutdown {
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  let running: Promise<void> | undefined;
  let markStarted: (reason: string) => void = () => {};
  const started = new Promise<string>((resolve) => (markStarted = resolve));

  const shutdown = (reason: string): Promise<void> => {
    if (running) return running;
    stopping = true;
    markStarted(reason);
    options.logger.info("shutting down", { reason, deadlineMs: options.deadlineMs });
    const deadline = setTimeout(() => {
      options.logger.error("shutdown deadline passed; exiting", { deadlineMs: options.deadlineMs });
      exit(1);
    }, options.deadlineMs);
    deadline.unref();
    running = (async () => {
      for (const { name, step } of [...steps].reverse()) {
        try {
          await step();
        } catch (err) {
          options.logger.error("shutdown step failed", { step: name, error: errorMessage(err) });
        }
      }
      clearTimeout(deadline);
      options.logger.info("shutdown complete");
    })();
    return running;
  };

  if (options.installSignals ?? true) {
    const signals = options.signals ?? process;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      signals.on(signal, () => {
        // A second signal (Ctrl-C twice, an impatient supervisor) means "now": skip the remaining steps.
        if (running) {
          options.logger.warn("second signal during shutdown; exiting now", { signal });
          exit(1);
          return;
        }
        void shutdown(signal).then(() => exit(0));
      });
    }
  }

  return {
    onShutdown: (name, step) => void steps.push({ name, step }),
    shutdown,
    get stopping() {
      return stopping;
    },
    started,
  };
}

/**
 * Readiness computed from what is alive now, not a flag set at start: each component registers
 * a probe (a consumer's group membership and recent fetching, a Redis ping) and /readyz passes
 * only while every probe does.
 */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface ReadinessReport {
  ready: boolean;
  /** Names of the checks that failed, threw or timed out. */
  failing: string[];
}

export interface Readiness {
  /** Registers a probe under a name that /readyz prints when it fails. */
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /** Runs every probe, each for at most `timeoutMs`. No probes means not ready: nothing was wired. */
  evaluate(): Promise<ReadinessReport>;
}

export function createReadiness(options: { timeoutMs?: number } = {}): Readiness {
  const timeoutMs = options.timeoutMs ?? 1000;
  const checks = new Map<string, ReadinessCheck>();
  const run = async (check: ReadinessCheck): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    // A ping to a dead dependency may hang (ioredis queues commands while it reconnects).
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([Promise.resolve().then(check), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    addReadinessCheck(name, check) {
      if (checks.has(name))
        throw new Error(`readiness check "${name}" is registered twice; give each probe its own name`);
      checks.set(name, check);
    },
    async evaluate() {
      if (checks.size === 0) return { ready: false, failing: ["no readiness checks registered"] };
      const results = await Promise.all([...checks].map(async ([name, check]) => [name, await run(check)] as const));
      const failing = results.filter(([, ok]) => !ok).map(([name]) => name);
      return { ready: failing.length === 0, failing };
    },
  };
}

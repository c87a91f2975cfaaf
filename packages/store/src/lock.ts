import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "@recfleet/runtime";
import { SCRIPTS, runScript } from "./scripts";

export interface HeldLock {
  readonly token: string;
  /** True until a renewal finds the lock gone (expired or taken): the holder should stop. */
  readonly held: boolean;
  release(): Promise<void>;
}

/**
 * A Redis lock with a TTL, renewed every third of it while held, so a crashed holder frees it
 * within one TTL. BullMQ's global concurrency 1 on the train queue already serialises train jobs;
 * this lock also covers runs started outside BullMQ (trainOnce from a demo or test). Gateways
 * lease their reply partition with it too.
 */
export async function tryAcquireLock(
  redis: Redis,
  key: string,
  ttlMs: number,
  logger: Logger,
  /** Logged (at error) when a renewal finds the lock gone: what it means and what to change. */
  lostMessage = "training lock lost (expired or taken); raise TRAIN_LOCK_TTL if the event loop stalls this long",
): Promise<HeldLock | undefined> {
  const token = `${process.pid}-${randomBytes(6).toString("hex")}`;
  if ((await redis.set(key, token, "PX", ttlMs, "NX")) !== "OK") return undefined;
  let held = true;
  const timer = setInterval(
    () => {
      runScript(redis, SCRIPTS.renewLock, [key], [token, ttlMs])
        .then((r) => {
          if (Number(r) !== 1 && held) {
            held = false;
            logger.error(lostMessage, { key, ttlMs });
          }
        })
        .catch((err: unknown) => logger.warn("lock renewal failed; retrying", { key, error: String(err) }));
    },
    Math.max(100, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    token,
    get held() {
      return held;
    },
    async release() {
      clearInterval(timer);
      held = false;
      await runScript(redis, SCRIPTS.releaseLock, [key], [token]);
    },
  };
}

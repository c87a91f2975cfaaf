import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { commandEach } from "./cluster";

/** A Lua file of ./lua, run by SHA with a fallback to EVAL when the server has not cached it. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function load(name: string): LuaScript {
  const source = readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), "utf8");
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}

export const SCRIPTS = {
  claimEvents: load("claim-events"),
  applyPartition: load("apply-partition"),
  applyUsers: load("apply-users"),
  attributeRewards: load("attribute-rewards"),
  recordRecommendation: load("record-recommendation"),
  eraseUser: load("erase-user"),
  dataKeys: load("data-keys"),
  linearRewards: load("linear-rewards"),
  addLinear: load("add-linear"),
  promoteModel: load("promote-model"),
  renewLock: load("renew-lock"),
  releaseLock: load("release-lock"),
  applyCatalog: load("apply-catalog"),
  tokenBucket: load("token-bucket"),
} as const;

/** Redis answers NOSCRIPT (its protocol error code, the first word of the reply) when the SHA is not cached. */
function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.split(" ", 1)[0] === "NOSCRIPT";
}

/** One script call of runScript(s). */
export interface ScriptCall {
  script: LuaScript;
  keys: readonly string[];
  args: readonly (string | number | Buffer)[];
}

const tailOf = (c: ScriptCall): (string | number | Buffer)[] => [c.keys.length, ...c.keys, ...c.args];

/** One round trip: EVALSHA, or EVAL once after a server restart flushed the script cache. */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  return (await runScripts(redis, [{ script, keys, args }]))[0];
}

/**
 * Many script calls, answers in order, in one pipeline on a single Redis (commandEach: the scorer
 * records a whole batch's slates this way); a call that met NOSCRIPT is sent again as EVAL.
 * Fails like Promise.all: with the first error.
 */
export async function runScripts(redis: Redis, calls: readonly ScriptCall[]): Promise<unknown[]> {
  const replies = await commandEach(redis, calls, (r, c) => r.call("EVALSHA", [c.script.sha, ...tailOf(c)]));
  return Promise.all(
    replies.map(([err, value], i) => {
      if (!err) return value;
      if (!isNoScript(err)) return Promise.reject(err);
      const c = calls[i]!;
      return redis.call("EVAL", [c.script.source, ...tailOf(c)]);
    }),
  );
}

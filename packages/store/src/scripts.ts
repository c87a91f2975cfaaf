import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { isCluster } from "./cluster";

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

/** One round trip: EVALSHA, or EVAL once after a server restart flushed the script cache. */
export async function runScript(
  redis: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  const tail: (string | number | Buffer)[] = [keys.length, ...keys, ...args];
  try {
    return await redis.call("EVALSHA", [script.sha, ...tail]);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return redis.call("EVAL", [script.source, ...tail]);
  }
}

/** One script call of runScripts. */
export interface ScriptCall {
  script: LuaScript;
  keys: readonly string[];
  args: readonly (string | number | Buffer)[];
}

/**
 * Many script calls, answers in order. On one Redis they go in one pipeline (one write and one
 * round trip instead of one each: the scorer records a whole batch's slates this way); a call
 * that met NOSCRIPT is run again through runScript. On a cluster each call goes on its own,
 * because a pipeline cannot span nodes. Fails like Promise.all: with the first error.
 */
export async function runScripts(redis: Redis, calls: readonly ScriptCall[]): Promise<unknown[]> {
  if (isCluster(redis) || calls.length < 2)
    return Promise.all(calls.map((c) => runScript(redis, c.script, c.keys, c.args)));
  const pipeline = redis.pipeline();
  for (const c of calls) pipeline.call("EVALSHA", [c.script.sha, c.keys.length, ...c.keys, ...c.args]);
  const results = (await pipeline.exec()) ?? [];
  if (results.length !== calls.length)
    throw new Error(`a pipeline of ${calls.length} script calls answered ${results.length}`);
  return Promise.all(
    results.map(([err, value], i) => {
      if (!err) return value;
      if (!isNoScript(err)) return Promise.reject(err);
      const c = calls[i]!;
      return runScript(redis, c.script, c.keys, c.args);
    }),
  );
}

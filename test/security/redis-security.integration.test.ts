/**
 * Redis secured as production runs it: one ACL user per worker role (store's redisAclRules, from
 * the key layout) and TLS. Checked against real redis-servers: the test run's one for ACLs, and
 * a TLS-only one started here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { ConfigError, createLogger } from "@recfleet/runtime";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { startRedis } from "@recfleet/stack";
import {
  connectRedis,
  createModelRegistry,
  createStore,
  modelKeys,
  redisAclRules,
  REDIS_ROLES,
  storeKeys,
  type RedisRole,
} from "@recfleet/store";

const infra = testInfra();
const logger = createLogger("redis-security-test", { level: "error", write: () => {} });

/** The URL of `user` on the test run's Redis. */
function urlAs(user: string, password: string): string {
  const url = new URL(infra.redisUrl);
  url.username = user;
  url.password = password;
  return url.toString();
}

test("ACL users per role: each role reaches only its keys, the scorer cannot change the registry, nobody can FLUSHALL", async () => {
  const namespace = uniqueName("acl");
  const admin = new Redis(infra.redisUrl);
  const clients = new Map<RedisRole, Redis>();
  try {
    for (const role of REDIS_ROLES) {
      const password = randomBytes(12).toString("hex");
      await admin.call("ACL", "SETUSER", `${namespace}-${role}`, ...redisAclRules(namespace, role, password));
      clients.set(role, await connectRedis({ redisUrl: urlAs(`${namespace}-${role}`, password) }, logger));
    }
    const keys = storeKeys(namespace);
    const models = modelKeys(namespace);
    const as = (role: RedisRole) => clients.get(role)!;

    // Each role does its own work.
    const claims = await createStore(as("ingest"), namespace).claimEvents([{ eventId: "e1", partition: 0, offset: 0 }]);
    assert.deepEqual(claims, ["new"]);
    await as("trainer").set(models.current, "v1");
    assert.equal(await createModelRegistry(as("scorer"), namespace).currentVersion(), "v1");

    // …and nothing else.
    await assert.rejects(
      as("scorer").set(models.current, "forged"),
      /NOPERM/,
      "the scorer must not change the registry",
    );
    await assert.rejects(as("scorer").del(models.current), /NOPERM/);
    await assert.rejects(as("ingest").get(keys.userState("u1")), /NOPERM/, "ingest reads no features");
    await assert.rejects(as("ingest").get(models.current), /NOPERM/);
    await assert.rejects(as("features").set(models.current, "forged"), /NOPERM/);
    await assert.rejects(as("scorer").get(`other:${keys.popularity("0")}`), /NOPERM/, "no key outside the namespace");
    for (const role of REDIS_ROLES) {
      await assert.rejects(as(role).flushall(), /NOPERM/, `${role} must not FLUSHALL`);
      await assert.rejects(as(role).keys("*"), /NOPERM/, `${role} must not KEYS`);
      await assert.rejects(as(role).call("CONFIG", "SET", "appendonly", "no"), /NOPERM/, `${role} must not CONFIG`);
    }
    assert.equal(await admin.get(models.current), "v1");

    // A wrong password stops a worker at start with a ConfigError naming REDIS_URL (no password shown).
    await assert.rejects(
      connectRedis({ redisUrl: urlAs(`${namespace}-scorer`, "wrong-password") }, logger),
      (err: unknown) =>
        err instanceof ConfigError && /^REDIS_URL:/.test(err.message) && !err.message.includes("wrong-password"),
    );
  } finally {
    for (const client of clients.values()) client.disconnect();
    for (const role of REDIS_ROLES) await admin.call("ACL", "DELUSER", `${namespace}-${role}`);
    const leftovers = await admin.keys(`${namespace}:*`);
    if (leftovers.length > 0) await admin.del(...leftovers);
    admin.disconnect();
  }
});

test("TLS: rediss:// with REDIS_CA_FILE connects; without the CA the worker stops naming REDIS_CA_FILE; the password can come from a file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-redis-tls-"));
  const server = await startRedis({ dir, tls: true });
  try {
    assert.match(server.url, /^rediss:\/\//);
    const redis = await connectRedis({ redisUrl: server.url, redisCaFile: server.caFile }, logger);
    assert.equal(await redis.ping(), "PONG");
    const password = randomBytes(12).toString("hex");
    await redis.call("ACL", "SETUSER", "tls-scorer", ...redisAclRules("tls", "scorer", password));
    await redis.quit();

    await assert.rejects(
      connectRedis({ redisUrl: server.url }, logger),
      (err: unknown) => err instanceof ConfigError && /^REDIS_CA_FILE:/.test(err.message),
    );
    const passwordFile = join(dir, "redis-password");
    writeFileSync(passwordFile, `${password}\n`);
    const url = server.url.replace("rediss://", "rediss://tls-scorer@");
    const scorer = await connectRedis(
      { redisUrl: url, redisCaFile: server.caFile, redisPasswordFile: passwordFile },
      logger,
    );
    assert.equal(await scorer.get("tls:m:current"), null);
    await assert.rejects(scorer.set("tls:m:current", "x"), /NOPERM/);
    scorer.disconnect();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

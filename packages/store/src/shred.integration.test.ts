import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { ConfigError, NonRetriableError } from "@recfleet/runtime";
import { canonicalEventSpec, type CanonicalEvent } from "@recfleet/contracts";
import { testInfra, uniqueName } from "@recfleet/testkit";
import { createStore } from "./index";
import {
  asSealed,
  createUserKeyring,
  decodeSealedOr,
  openSealed,
  resolveMasterKey,
  sealBytes,
  sealForUsers,
  MasterKeyMissingError,
} from "./shred";
import { scanKeys } from "./testing";

const infra = testInfra();
const redis = new Redis(infra.redisUrl);
after(() => redis.quit());

const event = (user: string, i: number): CanonicalEvent => ({
  eventId: `e-${i}`,
  user,
  itemId: `item-${i}`,
  type: "view",
  ts: 1_700_000_000_000 + i,
  ingestedAt: 1_700_000_000_000 + i,
  late: false,
});

test("master key: hex, base64 or a file; wrong length, both sources or an unreadable file name the variable", () => {
  const key = randomBytes(32);
  assert.deepEqual(resolveMasterKey({ masterKey: key.toString("hex"), masterKeyFile: undefined }), key);
  assert.deepEqual(resolveMasterKey({ masterKey: key.toString("base64"), masterKeyFile: undefined }), key);
  assert.deepEqual(
    resolveMasterKey({ masterKey: undefined, masterKeyFile: "/k" }, () => key.toString("hex") + "\n"),
    key,
  );
  assert.equal(resolveMasterKey({ masterKey: undefined, masterKeyFile: undefined }), undefined);
  const variable = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes(key.toString("hex")), "the key is never printed");
      return err.variable;
    }
    assert.fail("no error");
  };
  assert.equal(
    variable(() => resolveMasterKey({ masterKey: "abcd", masterKeyFile: undefined })),
    "RECFLEET_MASTER_KEY",
  );
  assert.equal(
    variable(() => resolveMasterKey({ masterKey: key.toString("hex"), masterKeyFile: "/k" })),
    "RECFLEET_MASTER_KEY_FILE",
  );
  assert.equal(
    variable(() =>
      resolveMasterKey({ masterKey: undefined, masterKeyFile: "/nope" }, () => {
        throw new Error("ENOENT");
      }),
    ),
    "RECFLEET_MASTER_KEY_FILE",
  );
});

test("keyring: one data key per user across processes; sealed payloads open; tampering and the wrong key id do not", async () => {
  const ns = uniqueName("dk");
  const master = randomBytes(32);
  const a = createUserKeyring(redis, ns, master, { cacheSize: 10, cacheTtlMs: 60_000 });
  const b = createUserKeyring(redis, ns, master, { cacheSize: 10, cacheTtlMs: 60_000 });
  const [ka, kb] = await Promise.all([a.forUsers(["user-1", "u2", "user-1"]), b.forUsers(["user-1"])]);
  assert.equal(ka.get("user-1")!.kid, kb.get("user-1")!.kid, "concurrent creation agrees on one key");
  assert.deepEqual(ka.get("user-1")!.key, kb.get("user-1")!.key);
  assert.notEqual(ka.get("user-1")!.kid, ka.get("u2")!.kid);
  // A cached key owns its memory: a slice of Buffer's shared 8 KiB pool would keep the whole slab alive.
  for (const keys of [ka, kb]) for (const { key } of keys.values()) assert.equal(key.buffer.byteLength, key.byteLength);
  const [kid] = [...ka.values()].map((k) => k.kid);
  const byId = await createUserKeyring(redis, ns, master, { cacheSize: 10, cacheTtlMs: 60_000 }).byId([kid!]);
  assert.equal(byId.get(kid!)!.buffer.byteLength, 32);
  // Nothing in Redis holds the key in clear.
  for (const k of await scanKeys(redis, `${ns}:*`))
    assert.ok(!(await redis.getBuffer(k))!.includes(ka.get("user-1")!.key), k);

  const [sealed] = await sealForUsers(b, [{ user: "user-1", value: event("user-1", 1) }]);
  assert.ok(asSealed(JSON.parse(JSON.stringify(sealed))));
  // "-" is in neither the hex key id nor base64, so these ids cannot turn up in the envelope by chance.
  assert.ok(!JSON.stringify(sealed).includes("user-1") && !JSON.stringify(sealed).includes("item-1"));
  const bytes = Buffer.from(JSON.stringify(sealed));
  const decoded = decodeSealedOr<CanonicalEvent>(canonicalEventSpec, bytes);
  assert.ok(decoded.ok);
  const [opened] = await openSealed<CanonicalEvent>(a, [decoded.value], canonicalEventSpec);
  assert.deepEqual(opened, { ok: true, value: event("user-1", 1) });

  const c = Buffer.from(sealed!.c, "base64");
  c[20] = c[20]! ^ 1;
  const tampered = { k: sealed!.k, c: c.toString("base64") };
  const moved = { k: ka.get("u2")!.kid, c: sealed!.c };
  const outcomes = await openSealed<CanonicalEvent>(a, [tampered, moved], canonicalEventSpec);
  assert.deepEqual(
    outcomes.map((o) => (o.ok ? "ok" : o.shredded ? "shredded" : o.reason)),
    ["undecryptable", "undecryptable"],
  );
  // A sealed payload that opens to something invalid is rejected with the contract's reason.
  const junk = sealBytes(ka.get("user-1")!, JSON.stringify({ eventId: "x" }));
  const [invalid] = await openSealed<CanonicalEvent>(a, [junk], canonicalEventSpec);
  assert.ok(!invalid!.ok && !invalid!.shredded && invalid!.reason === "missing_field");

  // Plain messages pass through; junk is rejected by the contract; no keyring → a config error.
  assert.ok(decodeSealedOr(canonicalEventSpec, Buffer.from(JSON.stringify(event("u3", 3)))).ok);
  const bad = decodeSealedOr(canonicalEventSpec, Buffer.from('{"k":"nothex","c":"x"}'));
  assert.ok(!bad.ok, "a look-alike that is not a sealed envelope is validated as a plain event");
  await assert.rejects(openSealed(undefined, [sealed!], canonicalEventSpec), MasterKeyMissingError);
  // Another master key cannot unwrap this fleet's data keys.
  const other = createUserKeyring(redis, ns, randomBytes(32), { cacheSize: 0, cacheTtlMs: 0 });
  await assert.rejects(other.byId([sealed!.k]), NonRetriableError);
});

test("erasure deletes the data key: sealed copies are shredded; a cached key lasts at most the cache TTL; erasing twice is a no-op", async () => {
  const ns = uniqueName("dk");
  const master = randomBytes(32);
  let clock = 1_000;
  const cached = createUserKeyring(redis, ns, master, { cacheSize: 10, cacheTtlMs: 5_000, now: () => clock });
  const store = createStore(redis, ns);
  const user = "a".repeat(64);
  const sealed = await sealForUsers(cached, [
    { user, value: event(user, 1) },
    { user: "b".repeat(64), value: event("b".repeat(64), 2) },
  ]);
  assert.equal((await cached.byId(sealed.map((s) => s.k))).size, 2);
  const receipt = await store.eraseUser(user);
  assert.equal(receipt.dataKeyDeleted, true);
  assert.equal(receipt.keysDeleted, 2);
  const uncached = createUserKeyring(redis, ns, master, { cacheSize: 0, cacheTtlMs: 0 });
  const after = await openSealed<CanonicalEvent>(uncached, sealed, canonicalEventSpec);
  assert.deepEqual(
    after.map((o) => (o.ok ? "ok" : o.shredded ? "shredded" : "invalid")),
    ["shredded", "ok"],
  );
  assert.equal((await cached.byId([sealed[0]!.k])).size, 1, "within the TTL the cache still holds it");
  clock += 5_001;
  assert.equal((await cached.byId([sealed[0]!.k])).size, 0, "after the TTL it is read again, and it is gone");
  assert.equal((await cached.byId([sealed[0]!.k], { fresh: true })).size, 0);
  const again = await store.eraseUser(user);
  assert.deepEqual([again.keysDeleted, again.dataKeyDeleted], [0, false]);
  assert.equal(await redis.xlen(store.keys.erasures), 2);
  // The user comes back: a new key with a new id; the old copies stay shredded.
  const fresh = await cached.forUsers([user]);
  assert.notEqual(fresh.get(user)!.kid, sealed[0]!.k);
});

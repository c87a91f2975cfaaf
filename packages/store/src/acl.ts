/**
 * Redis ACL users per worker role, derived from the key layout (keys.ts): each role reads and
 * writes only its own key families under the namespace, reads what it serves from, and gets only
 * the command categories it uses. Nobody gets @dangerous (FLUSHALL, KEYS, CONFIG, DEBUG, …).
 * `redisAclRules` gives the ACL SETUSER rules (docs/security.md); the security tests apply them to a
 * real redis-server and run the whole fleet under them.
 */
export type RedisRole = "ingest" | "features" | "scorer" | "trainer" | "gateway" | "operator";

export const REDIS_ROLES: readonly RedisRole[] = ["ingest", "features", "scorer", "trainer", "gateway", "operator"];

interface RoleAccess {
  /** Key patterns under `<ns>:` the role reads and writes. */
  readWrite: readonly string[];
  /** Key patterns under `<ns>:` the role only reads. */
  readOnly: readonly string[];
}

/**
 * Who touches which key family (docs/architecture.md, "Redis key layout"). The scorer reads the
 * registry but cannot change it; ingest sees only its dedupe claims; the trainer owns the
 * registry, its lock and its BullMQ queues (its training data is on Kafka).
 */
export const REDIS_ROLE_ACCESS: Readonly<Record<RedisRole, RoleAccess>> = {
  // dk:* are the per-user data keys of crypto-shredding (shred.ts): ingest and the scorer seal
  // with them (events, decision logs) and so may create them (a script's declared keys need write
  // access); features and the trainer (reading `events`) only open with them.
  ingest: { readWrite: ["dd:*", "dk:*"], readOnly: [] },
  // The features worker also keeps the item catalog (cat, cat:ts, cat:chg) from the items topic.
  features: {
    readWrite: ["ap:*", "u:*", "pop:*", "is:*", "rec:*", "lb:*", "cat", "cat:*"],
    readOnly: ["m:{*}:current", "m:{*}:v:*:meta", "dk:*"],
  },
  scorer: {
    readWrite: ["is:*", "rec:*", "recm:*", "lb:*", "dk:*"],
    readOnly: ["u:*", "pop:*", "m:*", "cat", "cat:*", "policy:serving"],
  },
  trainer: { readWrite: ["m:*", "trainer:*", "bull:*"], readOnly: ["pop:*", "cat", "cat:*", "dk:*"] },
  // API keys, rate-limit buckets, reply-partition leases; the console reads the fleet's state and rolls back.
  gateway: { readWrite: ["gw:*", "m:*"], readOnly: ["pop:*", "is:*", "trainer:*"] },
  // erase-user, model rollback, policy promote.
  operator: { readWrite: ["u:*", "dk:*", "erasures", "m:*", "trainer:*", "policy:serving"], readOnly: ["is:*"] },
};

/**
 * Commands every role needs besides its data: connection handshake, scripts, the ready check;
 * on a Redis Cluster, ioredis maps slots with CLUSTER SLOTS and the replica wait (WAIT, in
 * @connection) reads each master's replicas with CLUSTER NODES.
 */
const BASE_COMMANDS = [
  "+@read",
  "+@write",
  "+@scripting",
  "+@connection",
  "+@transaction",
  "-@dangerous",
  "+info",
  "+cluster|slots",
  "+cluster|nodes",
];
/** BullMQ also blocks on its queues and names its connections. */
const EXTRA_COMMANDS: Partial<Record<RedisRole, readonly string[]>> = {
  trainer: ["+@blocking", "+client|setname", "+client|getname"],
};

/** ACL SETUSER rules (after the user name) for a role in a namespace, password included. */
export function redisAclRules(namespace: string, role: RedisRole, password: string): string[] {
  const access = REDIS_ROLE_ACCESS[role];
  return [
    "reset",
    "on",
    `>${password}`,
    "-@all",
    ...BASE_COMMANDS,
    ...(EXTRA_COMMANDS[role] ?? []),
    "resetchannels",
    ...access.readWrite.map((pattern) => `~${namespace}:${pattern}`),
    ...access.readOnly.map((pattern) => `%R~${namespace}:${pattern}`),
  ];
}

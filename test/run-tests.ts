/**
 * The one test command (`npm test`): finds every *.test.ts, starts a real Kafka broker and
 * redis-server once for the run (unless KAFKA_BROKERS and REDIS_URL already point at some),
 * runs node's built-in test runner over the files, and tears the stack down. With
 * RECFLEET_TEST_CONTAINERS=1 — or when the local binaries are missing and Docker answers — Kafka
 * and Redis run in containers through testcontainers instead (@recfleet/testkit).
 *
 *   npm test                 all tests (unit, integration, e2e)
 *   npm test -- --unit       only tests that need no broker or Redis
 *   npm test -- <filter>     only files whose path contains <filter>
 *   npm test -- --redis-cluster <filter>
 *                            against a local Redis Cluster (3 masters + 3 replicas, packages/testkit)
 *                            instead of one redis-server: REDIS_URL becomes its redis+cluster:// URL
 *   npm test -- --secured <filter>
 *                            against a secured stack: a SASL_SSL broker (SCRAM-SHA-512, ACLs enforced,
 *                            one principal per fleet role) and a TLS-only redis-server whose default
 *                            user is off; the tests and workers get KAFKA_SSL/KAFKA_SASL_… and a
 *                            rediss:// URL with REDIS_CA_FILE, as a production fleet does
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Redis } from "ioredis";
import { TOPIC_WRITERS } from "@recfleet/contracts";
import {
  MissingPrerequisiteError,
  REPO_ROOT,
  startKafka,
  startRedis,
  startStack,
  type RunningKafka,
  type RunningRedis,
  type Stack,
} from "@recfleet/stack";
import {
  containersRequested,
  dockerAvailable,
  startContainerStack,
  startRedisCluster,
  type ContainerStack,
  type RunningRedisCluster,
} from "@recfleet/testkit";

function findTests(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (entry.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const needsInfra = (file: string) => file.endsWith(".integration.test.ts") || file.includes(`${join("test", "e2e")}`);

const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const onCluster = args.includes("--redis-cluster");
const secured = args.includes("--secured");
const filters = args.filter((a) => !a.startsWith("--"));
let files = ["apps", "packages", "services", "test"].flatMap((d) => findTests(join(REPO_ROOT, d))).sort();
if (unitOnly) files = files.filter((f) => !needsInfra(f));
if (filters.length > 0) files = files.filter((f) => filters.some((flt) => f.includes(flt)));
// Unit tests first: they are quick and fail fast.
files.sort((a, b) => Number(needsInfra(a)) - Number(needsInfra(b)) || a.localeCompare(b));

const started = performance.now();
let stack: Stack | ContainerStack | undefined;
const env: NodeJS.ProcessEnv = { ...process.env };
const say = (line: string) => console.log(`# ${line}`);
let securedStack: { kafka: RunningKafka; redis: RunningRedis; dir: string } | undefined;
if (secured && files.some(needsInfra)) securedStack = await startSecuredStack();
if (files.some(needsInfra) && !securedStack && !(process.env.KAFKA_BROKERS && process.env.REDIS_URL)) {
  if (containersRequested()) {
    stack = await startContainerStack(say);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "recfleet-test-stack-"));
    console.log(`# starting Kafka and Redis for this run (logs in ${dir})`);
    try {
      stack = await startStack({ dir, log: say });
    } catch (err) {
      // The doctor's line for the missing piece says how to install it; a stack trace would not.
      if (!(err instanceof MissingPrerequisiteError)) throw err;
      if (!(await dockerAvailable())) {
        console.error(`the tests need a local Kafka broker and redis-server, and this machine lacks:\n${err.message}`);
        process.exit(1);
      }
      say(`no local stack (${err.message.split("\n")[0]}); Docker answers, so Kafka and Redis run in containers`);
      stack = await startContainerStack(say);
    }
  }
  Object.assign(env, stack.env);
}
let cluster: RunningRedisCluster | undefined;
if (onCluster && files.some(needsInfra)) {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-test-cluster-"));
  console.log(`# starting a local Redis Cluster, 3 masters + 3 replicas (logs in ${dir})`);
  cluster = await startRedisCluster({ dir });
  env.REDIS_URL = cluster.url;
  console.log(`# REDIS_URL=${cluster.url}`);
}

console.log(`# ${files.length} test files`);
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    "--test-concurrency=2",
    "--test-timeout=600000",
    ...files.map((f) => relative(REPO_ROOT, f)),
  ],
  { cwd: REPO_ROOT, env, stdio: "inherit" },
);
const code: number = await new Promise((resolve) => child.once("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
if (stack) {
  if (code !== 0 && "kafkaLog" in stack) console.log(`# broker log: ${stack.kafkaLog}\n# redis log: ${stack.redisLog}`);
  await stack.stop();
}
await cluster?.stop();
if (securedStack) {
  if (code !== 0) console.log(`# secured stack logs in ${securedStack.dir}`);
  await Promise.all([securedStack.kafka.stop(), securedStack.redis.stop()]);
}
console.log(`# whole test run: ${((performance.now() - started) / 1000).toFixed(1)} s, exit ${code}`);
process.exit(code);

/**
 * The secured stack of `--secured`: SASL_SSL Kafka with a SCRAM user per fleet role (plus admin,
 * whom the tests' own clients use; test/e2e/fleet-helpers gives each worker its role's principal
 * and the namespace's ACLs) and TLS-only Redis with one ACL user; the default user is turned off.
 */
async function startSecuredStack(): Promise<{ kafka: RunningKafka; redis: RunningRedis; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "recfleet-test-secured-"));
  console.log(`# starting a secured stack: SASL_SSL Kafka and TLS Redis with ACL users (logs in ${dir})`);
  const passwords = Object.fromEntries(
    ["admin", ...TOPIC_WRITERS].map((user) => [user, randomBytes(12).toString("hex")]),
  ) as Record<string, string> & { admin: string };
  for (const part of ["kafka", "redis"]) mkdirSync(join(dir, part));
  const [kafka, redis] = await Promise.all([
    startKafka({ dir: join(dir, "kafka"), heapMb: 512, security: { users: passwords } }),
    startRedis({ dir: join(dir, "redis"), tls: true }),
  ]);
  const redisPassword = randomBytes(12).toString("hex");
  const url = new URL(redis.url);
  const admin = new Redis(redis.url, { tls: { ca: readFileSync(redis.caFile!) } });
  await admin.call("ACL", "SETUSER", "fleet", "on", `>${redisPassword}`, "~*", "&*", "+@all");
  await admin.call("ACL", "SETUSER", "default", "off");
  admin.disconnect();
  url.username = "fleet";
  url.password = redisPassword;
  Object.assign(env, {
    KAFKA_BROKERS: kafka.brokers,
    KAFKA_SSL: "true",
    KAFKA_CA_FILE: kafka.caFile!,
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: "admin",
    KAFKA_SASL_PASSWORD: passwords.admin,
    // Each fleet role's SCRAM password, for the fleet helpers to start workers as their principal.
    RECFLEET_TEST_KAFKA_PASSWORDS: JSON.stringify(passwords),
    REDIS_URL: url.toString(),
    REDIS_CA_FILE: redis.caFile!,
  });
  return { kafka, redis, dir };
}

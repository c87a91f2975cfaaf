import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createKafka, waitForBroker } from "@recfleet/bus";
import { createLogger } from "@recfleet/runtime";
import { startKafka, kafkaVersion, type RunningKafka } from "./kafka-broker";
import { startRedis, type RunningRedis } from "./redis-server";
import { stackDir } from "./paths";
import { assertStackPrerequisites } from "./doctor";

export interface Stack {
  brokers: string;
  redisUrl: string;
  kafkaLog: string;
  redisLog: string;
  /** KAFKA_BROKERS and REDIS_URL for child processes. */
  env: Record<string, string>;
  pids: { kafka: number; redis: number };
  stop(): Promise<void>;
}

export interface StackState {
  brokers: string;
  redisUrl: string;
  kafkaPid: number;
  redisPid: number;
  kafkaLog: string;
  redisLog: string;
  kafkaVersion: string;
  startedAt: string;
}

/** Starts a real Kafka broker and redis-server side by side and waits until both serve. */
export async function startStack(options: {
  dir: string;
  detached?: boolean;
  log?: (line: string) => void;
}): Promise<Stack> {
  assertStackPrerequisites();
  mkdirSync(options.dir, { recursive: true });
  const log = options.log ?? (() => {});
  const started = performance.now();
  let kafka: RunningKafka | undefined;
  let redis: RunningRedis | undefined;
  try {
    [kafka, redis] = await Promise.all([
      startKafka({ dir: options.dir, detached: options.detached }),
      startRedis({ dir: options.dir, detached: options.detached }),
    ]);
    const client = createKafka({
      brokers: [kafka.brokers],
      clientId: "recfleet-stack",
      logger: createLogger("stack", { level: "error" }),
    });
    await waitForBroker(client, 60_000);
  } catch (err) {
    await Promise.all([kafka?.stop(), redis?.stop()]);
    process.stderr.write(
      `local stack failed to start; logs: ${join(options.dir, "broker.log")} and ${join(options.dir, "redis.log")}\n`,
    );
    throw err;
  }
  const k = kafka;
  const r = redis;
  log(
    `Kafka ${kafkaVersion()} at ${k.brokers} and Redis at ${r.url} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return {
    brokers: k.brokers,
    redisUrl: r.url,
    kafkaLog: k.logPath,
    redisLog: r.logPath,
    env: { KAFKA_BROKERS: k.brokers, REDIS_URL: r.url },
    pids: { kafka: k.pid, redis: r.pid },
    stop: async () => {
      await Promise.all([k.stop(), r.stop()]);
    },
  };
}

const stateFile = (dir: string) => join(dir, "stack.json");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readStackState(dir = stackDir()): StackState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  const state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as StackState;
  return alive(state.kafkaPid) && alive(state.redisPid) ? state : undefined;
}

/** `recfleet stack up`: a detached stack that outlives this process; idempotent. */
export async function stackUp(dir = stackDir(), log: (line: string) => void = console.log): Promise<StackState> {
  const existing = readStackState(dir);
  if (existing) {
    log(`stack already running: Kafka ${existing.brokers}, Redis ${existing.redisUrl}`);
    return existing;
  }
  await stackDown(dir, () => {});
  const stack = await startStack({ dir, detached: true, log });
  const state: StackState = {
    brokers: stack.brokers,
    redisUrl: stack.redisUrl,
    kafkaPid: stack.pids.kafka,
    redisPid: stack.pids.redis,
    kafkaLog: stack.kafkaLog,
    redisLog: stack.redisLog,
    kafkaVersion: kafkaVersion(),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  return state;
}

export async function stackDown(dir = stackDir(), log: (line: string) => void = console.log): Promise<void> {
  if (!existsSync(stateFile(dir))) {
    log("no local stack recorded");
    return;
  }
  const state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as StackState;
  for (const pid of [state.kafkaPid, state.redisPid]) if (pid > 0 && alive(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 15_000;
  while ([state.kafkaPid, state.redisPid].some((p) => p > 0 && alive(p)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  for (const pid of [state.kafkaPid, state.redisPid]) if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(stateFile(dir), { force: true });
  rmSync(join(dir, "kafka-data"), { recursive: true, force: true });
  rmSync(join(dir, "redis-data"), { recursive: true, force: true });
  log("local stack stopped");
}

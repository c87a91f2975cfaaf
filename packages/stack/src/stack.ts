import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createKafka, waitForBroker } from "@recfleet/bus";
import { createLogger, RecfleetError } from "@recfleet/runtime";
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
  kafkaControllerPort: number;
  stop(): Promise<void>;
}

export interface StackState {
  brokers: string;
  redisUrl: string;
  kafkaPid: number;
  redisPid: number;
  /** KRaft's controller listener: the quorum voters in the data dir name it, so a restart reuses it. */
  kafkaControllerPort?: number;
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
    await waitForBrokerAt(kafka.brokers);
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
    kafkaControllerPort: k.controllerPort,
    stop: async () => {
      await Promise.all([k.stop(), r.stop()]);
    },
  };
}

async function waitForBrokerAt(brokers: string): Promise<void> {
  const client = createKafka({
    brokers: [brokers],
    clientId: "recfleet-stack",
    logger: createLogger("stack", { level: "error" }),
  });
  await waitForBroker(client, 60_000);
}

const stateFile = (dir: string) => join(dir, "stack.json");

function readStateFile(dir: string): StackState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  return JSON.parse(readFileSync(stateFile(dir), "utf8")) as StackState;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readStackState(dir = stackDir()): StackState | undefined {
  const state = readStateFile(dir);
  return state && alive(state.kafkaPid) && alive(state.redisPid) ? state : undefined;
}

async function stopPids(pids: number[]): Promise<void> {
  for (const pid of pids) if (pid > 0 && alive(pid)) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 15_000;
  while (pids.some((p) => p > 0 && alive(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const pid of pids) if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
}

export type StackComponent = "kafka" | "redis";

/**
 * `recfleet stack restart kafka|redis`: stops one component of the recorded stack and starts it
 * again on the same port(s) and data dir, so clients reconnect to the address they have. Kafka's
 * topics and offsets survive; Redis runs without persistence, so a restart empties it.
 */
export async function stackRestart(
  component: StackComponent,
  dir = stackDir(),
  log: (line: string) => void = console.log,
): Promise<StackState> {
  const state = readStateFile(dir);
  if (!state)
    throw new RecfleetError(`no local stack recorded in ${dir}; run \`recfleet stack up\``, { retriable: false });
  const next = { ...state };
  if (component === "kafka") {
    if (state.kafkaControllerPort === undefined)
      throw new RecfleetError(
        "this stack was started before its controller port was recorded; run `recfleet stack down` and `up` once",
        { retriable: false },
      );
    await stopPids([state.kafkaPid]);
    const kafka = await startKafka({
      dir,
      port: portOf(state.brokers),
      controllerPort: state.kafkaControllerPort,
      detached: true,
    });
    await waitForBrokerAt(kafka.brokers);
    next.kafkaPid = kafka.pid;
  } else {
    await stopPids([state.redisPid]);
    const redis = await startRedis({ dir, port: portOf(state.redisUrl), detached: true });
    next.redisPid = redis.pid;
  }
  writeFileSync(stateFile(dir), JSON.stringify(next, null, 2));
  log(`${component} restarted (pid ${component === "kafka" ? next.kafkaPid : next.redisPid})`);
  return next;
}

function portOf(address: string): number {
  return Number(new URL(address.includes("://") ? address : `tcp://${address}`).port);
}

/** `recfleet stack up`: a detached stack that outlives this process; idempotent. */
export async function stackUp(dir = stackDir(), log: (line: string) => void = console.log): Promise<StackState> {
  const existing = readStackState(dir);
  if (existing) {
    log(`stack already running: Kafka ${existing.brokers}, Redis ${existing.redisUrl}`);
    return existing;
  }
  // Half a stack is still running (one component died or a restart failed): bring the other back
  // on its ports rather than wiping data the running one holds.
  const recorded = readStateFile(dir);
  if (recorded && (alive(recorded.kafkaPid) || alive(recorded.redisPid))) {
    const component: StackComponent = alive(recorded.kafkaPid) ? "redis" : "kafka";
    log(`${component} of the recorded stack is not running; starting it again`);
    return stackRestart(component, dir, log);
  }
  await stackDown(dir, () => {});
  const stack = await startStack({ dir, detached: true, log });
  const state: StackState = {
    brokers: stack.brokers,
    redisUrl: stack.redisUrl,
    kafkaPid: stack.pids.kafka,
    redisPid: stack.pids.redis,
    kafkaControllerPort: stack.kafkaControllerPort,
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
  await stopPids([state.kafkaPid, state.redisPid]);
  rmSync(stateFile(dir), { force: true });
  rmSync(join(dir, "kafka-data"), { recursive: true, force: true });
  rmSync(join(dir, "redis-data"), { recursive: true, force: true });
  log("local stack stopped");
}

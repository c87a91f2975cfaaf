/**
 * Operator commands (wired by the cli package): `recfleet train [--wait] [--timeout 10m]` and
 * `recfleet model list|rollback|gc [--grace 1h]`. Output goes to stdout as JSON lines.
 */
import { Queue, QueueEvents } from "bullmq";
import {
  commonConfigSchema,
  ConfigError,
  createLogger,
  errorMessage,
  loadConfig,
  parseDuration,
  RecfleetError,
} from "@recfleet/runtime";
import type { CliCommand } from "@recfleet/runtime";
import { topicNames } from "@recfleet/contracts";
import { connectFleetKafka, createProducer } from "@recfleet/bus";
import { announcementOf, createModelRegistry, connectRedis, createTrainerState } from "@recfleet/store";
import { createBullConnection } from "./bull";
import { trainerConfigSchema, type TrainerConfig } from "./config";
import { JOB_NAMES, type TrainJobData } from "./jobs";
import { queueNames } from "./keys";
import type { TrainOutcome } from "./train-run";

type Write = (line: string) => void;
const stdout: Write = (line) => void process.stdout.write(line + "\n");
const stderr: Write = (line) => void process.stderr.write(line + "\n");

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

function config(env: NodeJS.ProcessEnv): TrainerConfig {
  return { ...loadConfig(commonConfigSchema, env), ...loadConfig(trainerConfigSchema, env) };
}

const TRAIN_USAGE = "usage: recfleet train [--wait] [--timeout <duration, default 10m>]";

/** Enqueues a train job; with --wait prints its outcome. Exit 0 when enqueued (or when the run finished, any outcome but failed or aborted). */
export async function runTrainCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  write: Write = stdout,
): Promise<number> {
  if (argv.some((a) => a !== "--wait" && a !== "--timeout" && argv[argv.indexOf(a) - 1] !== "--timeout")) {
    stderr(TRAIN_USAGE);
    return 2;
  }
  let c: TrainerConfig;
  let timeoutMs: number;
  try {
    c = config(env);
    const t = option(argv, "--timeout");
    const parsed = t === undefined ? 10 * 60_000 : parseDuration(t);
    if (parsed === undefined) throw new ConfigError("--timeout", "a duration such as 30s or 10m", t);
    timeoutMs = parsed;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(err.message);
    return 2;
  }
  const wait = argv.includes("--wait");
  const logger = createLogger("trainer-cli", { level: "warn" });
  const bull = createBullConnection(c, logger);
  const name = queueNames(c.namespace).train;
  const queue = new Queue<TrainJobData>(name, bull);
  // Listen before adding, so a quick job's completion is not missed. QueueEvents blocks its connection: a second one.
  const eventsBull = wait ? createBullConnection(c, logger) : undefined;
  const events = eventsBull ? new QueueEvents(name, eventsBull) : undefined;
  try {
    if (events) await events.waitUntilReady();
    const job = await queue.add(
      JOB_NAMES.train,
      { reason: "manual", requestedAt: Date.now() },
      { removeOnComplete: 100, removeOnFail: 100 },
    );
    write(JSON.stringify({ enqueued: job.id, queue: name }));
    if (!events) return 0;
    const outcome = (await job.waitUntilFinished(events, timeoutMs)) as TrainOutcome;
    write(JSON.stringify(outcome));
    return outcome.status === "failed" || outcome.status === "aborted" ? 1 : 0;
  } catch (err) {
    stderr(`train: ${errorMessage(err)}`);
    return 1;
  } finally {
    await events?.close();
    await queue.close();
    // BullMQ leaves connections it was given open.
    await eventsBull?.connection.quit();
    await bull.connection.quit();
  }
}

const MODEL_USAGE = "usage: recfleet model list | rollback | gc [--grace <duration, default MODEL_GC_GRACE>]";

/** `model list` prints one JSON line per version (newest last) and the last training outcome; `rollback` flips back and announces; `gc` deletes old versions. */
export async function runModelCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  write: Write = stdout,
): Promise<number> {
  const [sub] = argv;
  let c: TrainerConfig;
  try {
    c = config(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(err.message);
    return 2;
  }
  if (sub !== "list" && sub !== "rollback" && sub !== "gc") {
    stderr(MODEL_USAGE);
    return 2;
  }
  const logger = createLogger("trainer-cli", { level: "warn" });
  const redis = await connectRedis(c, logger);
  const models = createModelRegistry(redis, c.namespace);
  try {
    if (sub === "list") {
      const current = await models.currentVersion();
      for (const m of await models.listVersions()) {
        write(
          JSON.stringify({
            version: m.version,
            status: m.status,
            current: m.version === current,
            createdAt: new Date(m.createdAt).toISOString(),
            itemCount: m.itemCount,
            dim: m.dim,
            shards: m.shards,
            shardsDone: await models.shardsDone(m.version),
            metrics: m.metrics,
            trainingDataRange: m.trainingDataRange,
            ...(m.trainingWindow ? { trainingWindow: m.trainingWindow } : {}),
            // The privacy unit and (ε, δ) of a DP-trained version; "none" says it was not.
            privacy: m.privacy ?? "none",
          }),
        );
      }
      const last = await createTrainerState(redis, c.namespace).lastOutcome();
      if (last !== undefined) write(JSON.stringify({ lastTraining: last }));
      return 0;
    }
    if (sub === "gc") {
      const raw = option(argv, "--grace");
      const grace = raw === undefined ? c.gcGraceMs : parseDuration(raw);
      if (grace === undefined) {
        stderr(`--grace: expected a duration such as 1h, got ${JSON.stringify(raw)}`);
        return 2;
      }
      write(JSON.stringify({ removed: await models.collectGarbage(grace) }));
      return 0;
    }
    const { from, to } = await models.rollback();
    const meta = await models.getMeta(to);
    if (!meta) throw new RecfleetError(`rolled back to ${to}, but its metadata is gone`, { retriable: false });
    const announcement = announcementOf(meta, { rollbackFrom: from });
    const kafka = await connectFleetKafka(c, `${c.namespace}-trainer-cli`, logger);
    const topic = topicNames(c.namespace).modelVersions;
    const producer = await createProducer(kafka);
    try {
      await producer.send(topic, [{ key: "model", value: announcement }]);
    } finally {
      await producer.close();
    }
    write(JSON.stringify({ rolledBack: { from, to }, announced: topic }));
    return 0;
  } catch (err) {
    stderr(`model ${sub}: ${errorMessage(err)}`);
    return 1;
  } finally {
    await redis.quit();
  }
}

export const trainerCommands: CliCommand[] = [
  {
    name: "train",
    summary:
      "enqueue a training run on the fleet's trainers [--wait] [--timeout 10m] (env: REDIS_URL, RECFLEET_NAMESPACE)",
    run: (args) => runTrainCli(args),
  },
  {
    name: "model",
    summary: "model list | rollback | gc [--grace 1h] — the model registry",
    run: (args) => runModelCli(args),
  },
];

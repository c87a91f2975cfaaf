/**
 * `rebuild-features [--from <time>]`: rebuilds the online state (user histories, seen items,
 * popularity, item stats, bandit rewards) after Redis lost it, by replaying the `events` topic
 * from Kafka — the source of truth — through the features worker's own events handler. The
 * store's updates are idempotent per event id, so a replay over state that survived changes
 * nothing ("replayed"), and overlapping a running features worker is safe.
 *
 *   rebuild-features                    replay the whole retained topic
 *   rebuild-features --from 2h          from two hours ago (ms, s, m, h, d)
 *   rebuild-features --from <ISO time | epoch ms>
 *
 * Refresh requests are not sent: they are hints for live traffic, and a replay would flood the
 * scorer with requests for users who are not waiting. Env: the features worker's.
 * Exit codes: 0 rebuilt, 2 usage or configuration error, 1 failed (Kafka or Redis).
 */
import {
  ConfigError,
  commonConfigSchema,
  createLogger,
  errorMessage,
  loadConfig,
  parseDuration,
  type CliCommand,
  type Logger,
} from "@recfleet/runtime";
import { topicNames } from "@recfleet/contracts";
import { connectFleetKafka, replayTopic } from "@recfleet/bus";
import { connectRedis, createKeyringFromConfig, createModelRegistry, createStore } from "@recfleet/store";
import { featuresConfigSchema, type FeaturesConfig } from "./config";
import { createEventsHandler, decodeEventValue, type EventsOutcome } from "./events-handler";

const USAGE = "usage: rebuild-features [--from <ISO time | epoch ms | duration ago, e.g. 2h>]";

export interface RebuildReport {
  /** Records read from the events topic. */
  read: number;
  applied: number;
  /** Already in the store (state that survived): no change. */
  replayed: number;
  /** Sealed with an erased user's key (or a key the keyring no longer has): skipped. */
  shredded: number;
  /** Values the worker would have dead-lettered: skipped. */
  rejected: number;
  from: string | null;
  seconds: number;
}

/** Replays `events` (from `from`, epoch ms) into the store through the features worker's handler. */
export async function rebuildFeatures(
  config: FeaturesConfig,
  options: { from?: number; logger: Logger; onProgress?: (read: number, total: number) => void },
): Promise<RebuildReport> {
  const started = performance.now();
  const kafka = await connectFleetKafka(config, `${config.namespace}-rebuild-features`, options.logger);
  const redis = await connectRedis(config, options.logger);
  const counts: Record<EventsOutcome, number> = {
    applied: 0,
    replayed: 0,
    attributed: 0,
    refresh_requests: 0,
    shredded: 0,
  };
  const topics = topicNames(config.namespace);
  try {
    const handler = createEventsHandler(config, {
      store: createStore(redis, config.namespace, config),
      models: createModelRegistry(redis, config.namespace),
      keyring: createKeyringFromConfig(redis, config.namespace, config),
      send: async () => {},
      recRequestsTopic: topics.recRequests,
      count: (outcome, n) => void (counts[outcome] += n),
    });
    let rejected = 0;
    const replay = await replayTopic(kafka, topics.events, {
      ...(options.from !== undefined ? { from: options.from } : {}),
      decode: decodeEventValue,
      handleBatch: async (messages, ctx) => {
        const outcome = await handler(messages, ctx);
        rejected += outcome?.rejected?.length ?? 0;
      },
      onProgress: options.onProgress,
    });
    return {
      read: replay.read,
      applied: counts.applied,
      replayed: counts.replayed,
      shredded: counts.shredded,
      rejected: replay.rejected + rejected,
      from: options.from !== undefined ? new Date(options.from).toISOString() : null,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    };
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** `--from`: an ISO time, epoch ms, or a duration meaning that long ago. */
export function parseFromTime(raw: string, now = Date.now()): number | undefined {
  if (/^\d{12,}$/.test(raw)) return Number(raw);
  const ago = parseDuration(raw);
  if (ago !== undefined) return now - ago;
  // A time without a zone would be read in the machine's zone: ask for one instead.
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(raw)) return undefined;
  const t = Date.parse(raw);
  return Number.isFinite(t) ? t : undefined;
}

export async function runRebuildFeaturesCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
): Promise<number> {
  const logger = createLogger("rebuild-features");
  let from: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = a === "--from" ? argv[++i] : a.startsWith("--from=") ? a.slice("--from=".length) : undefined;
    if (value === undefined || (from = parseFromTime(value)) === undefined) {
      process.stderr.write(
        `${value === undefined ? `unknown argument ${a}` : `--from ${value} is not a time with a zone, epoch ms or duration`}\n${USAGE}\n`,
      );
      return 2;
    }
  }
  let config: FeaturesConfig;
  try {
    config = loadConfig({ ...commonConfigSchema, ...featuresConfigSchema }, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error("invalid configuration", { error: err.message });
    return 2;
  }
  let lastProgress = 0;
  try {
    const report = await rebuildFeatures(config, {
      ...(from !== undefined ? { from } : {}),
      logger,
      onProgress: (read, total) => {
        if (Date.now() - lastProgress < 2000) return;
        lastProgress = Date.now();
        process.stderr.write(`# rebuild-features: ${read} of ${total} events replayed\n`);
      },
    });
    logger.info("features rebuilt from the events topic", { ...report });
    write(JSON.stringify(report));
    return 0;
  } catch (err) {
    logger.error("rebuild-features failed", { error: errorMessage(err) });
    return 1;
  }
}

export const rebuildCommand: CliCommand = {
  name: "rebuild-features",
  summary:
    "rebuild-features [--from <time|2h>] — replay `events` from Kafka into Redis through the features handler (after Redis lost its state)",
  run: (args) => runRebuildFeaturesCli(args),
};

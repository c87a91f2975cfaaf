import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, writeFileSync, readdirSync, closeSync } from "node:fs";
import { join } from "node:path";
import { RecfleetError } from "@recfleet/runtime";
import { cacheDir, DEFAULT_KAFKA_VERSION, REPO_ROOT } from "./paths";
import { freePort, waitForPort } from "./net";

export class StackStartError extends RecfleetError {
  constructor(
    message: string,
    readonly logPath: string,
    cause?: unknown,
  ) {
    super(`${message}. See the log at ${logPath}`, { retriable: false, cause, context: { logPath } });
  }
}

export function kafkaVersion(env: NodeJS.ProcessEnv = process.env): string {
  return env.RECFLEET_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
}

export function kafkaJarsCached(version = kafkaVersion()): boolean {
  return existsSync(join(cacheDir(), `kafka-${version}`, "libs", ".complete"));
}

/** Resolves the broker's jars with Maven (infra/kafka/pom.xml) into the cache, once per version. */
export function ensureKafkaJars(version = kafkaVersion(), log: (line: string) => void = () => {}): string {
  const libs = join(cacheDir(), `kafka-${version}`, "libs");
  const marker = join(libs, ".complete");
  if (existsSync(marker)) return libs;
  log(`resolving Apache Kafka ${version} from Maven Central into ${libs} (once) …`);
  mkdirSync(libs, { recursive: true });
  const mvn = spawnSync(
    "mvn",
    [
      "-q",
      "-B",
      "-f",
      join(REPO_ROOT, "infra/kafka/pom.xml"),
      "dependency:copy-dependencies",
      `-Dkafka.version=${version}`,
      "-DincludeScope=runtime",
      `-DoutputDirectory=${libs}`,
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  if (mvn.error || mvn.status !== 0) {
    throw new RecfleetError(
      `mvn could not resolve org.apache.kafka:kafka_2.13:${version} (exit ${mvn.status ?? mvn.error?.message}). Is Maven installed and Maven Central reachable?`,
      { retriable: false },
    );
  }
  if (!readdirSync(libs).some((f) => f.startsWith("kafka_2.13-")))
    throw new RecfleetError(`no kafka_2.13 jar in ${libs} after mvn`, { retriable: false });
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

export interface RunningKafka {
  brokers: string;
  controllerPort: number;
  logPath: string;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface KafkaStartOptions {
  dir: string;
  port?: number;
  /** Pass the previous run's port to restart a broker on the same data dir (the quorum voters name it). */
  controllerPort?: number;
  heapMb?: number;
  detached?: boolean;
  timeoutMs?: number;
}

/** Single-node KRaft broker (broker + controller in one JVM) on loopback, with single-node settings. */
export async function startKafka(options: KafkaStartOptions): Promise<RunningKafka> {
  const libs = ensureKafkaJars();
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const dataDir = join(options.dir, "kafka-data");
  mkdirSync(dataDir, { recursive: true });
  const logPath = join(options.dir, "broker.log");
  const props = join(options.dir, "server.properties");
  writeFileSync(
    props,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      "controller.listener.names=CONTROLLER",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      "inter.broker.listener.name=PLAINTEXT",
      `log.dirs=${dataDir}`,
      // Single node: internal topics cannot be replicated, and nobody else will join a group.
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=4",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      "num.partitions=1",
      "auto.create.topics.enable=false",
      "log.retention.hours=24",
      "log.segment.bytes=67108864",
      "",
    ].join("\n"),
  );
  const classpath = join(libs, "*");
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", "java") : "java";
  const log4j = `-Dlog4j2.configurationFile=${join(REPO_ROOT, "infra/kafka/log4j2.properties")}`;
  const format = spawnSync(
    java,
    [
      "-cp",
      classpath,
      log4j,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      "recfleet-local-cluster0",
      "-c",
      props,
      "--ignore-formatted",
    ],
    { encoding: "utf8" },
  );
  if (format.status !== 0) {
    writeFileSync(logPath, `${format.stdout}\n${format.stderr}`);
    throw new StackStartError(`kafka storage format failed (exit ${format.status})`, logPath);
  }
  const heap = options.heapMb ?? 512;
  const out = openSync(logPath, "a");
  const child = spawn(
    java,
    [
      `-Xmx${heap}m`,
      `-Xms${Math.min(heap, 256)}m`,
      "-XX:+UseG1GC",
      "-XX:MaxGCPauseMillis=20",
      "-Djava.awt.headless=true",
      log4j,
      "-cp",
      classpath,
      "kafka.Kafka",
      props,
    ],
    {
      stdio: ["ignore", out, out],
      detached: options.detached ?? false,
    },
  );
  closeSync(out);
  if (options.detached) child.unref();
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) =>
      reject(new StackStartError(`the Kafka broker exited with code ${code} while starting`, logPath)),
    ),
  );
  try {
    await Promise.race([waitForPort(port, options.timeoutMs ?? 60_000), exited]);
  } catch (err) {
    child.kill("SIGKILL");
    throw err instanceof StackStartError
      ? err
      : new StackStartError("the Kafka broker did not accept connections in time", logPath, err);
  }
  exited.catch(() => undefined);
  return {
    brokers: `127.0.0.1:${port}`,
    controllerPort,
    logPath,
    pid: child.pid ?? -1,
    process: child,
    stop: () => stopProcess(child),
  };
}

export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

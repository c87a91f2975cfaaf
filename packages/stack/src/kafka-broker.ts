import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, writeFileSync, readdirSync, closeSync } from "node:fs";
import { join } from "node:path";
import { RecfleetError } from "@recfleet/runtime";
import { cacheDir, DEFAULT_KAFKA_VERSION, REPO_ROOT } from "./paths";
import { freePort, waitForPort } from "./net";
import { createServerCertificates } from "./tls";

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

/** Settings of a SASL_SSL broker: SCRAM-SHA-512 users, ACLs enforced (StandardAuthorizer). */
export interface KafkaSecurityOptions {
  /** Principal → password. "admin" is the super user the broker itself and tests' admin clients use. */
  users: Record<string, string> & { admin: string };
}

export interface RunningKafka {
  brokers: string;
  /** Present when started with `security`: the CA clients trust (KAFKA_CA_FILE). */
  caFile?: string;
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
  /** SASL_SSL with SCRAM-SHA-512 and ACLs instead of PLAINTEXT (certificates made in `dir`). */
  security?: KafkaSecurityOptions;
  /** A node of a cluster (kafka-cluster.ts): its id, every voter and the replication of internal topics. */
  node?: KafkaNodeOptions;
}

/** What makes one JVM a node of a multi-node KRaft cluster rather than a single-node one. */
export interface KafkaNodeOptions {
  nodeId: number;
  /** controller.quorum.voters: `id@host:port` of every node, the same on all of them. */
  voters: string;
  /** Nodes in the cluster: internal topics get min(3, size) replicas, min.insync.replicas 2 from 3 on. */
  clusterSize: number;
}

/** Replication of the internal topics (__consumer_offsets, transactions) for a cluster of `size` nodes. */
function internalTopicProperties(size: number): string[] {
  const rf = Math.min(3, size);
  const minIsr = rf >= 3 ? 2 : 1;
  return [
    `offsets.topic.replication.factor=${rf}`,
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    // Topics the fleet creates carry their own replication (ensureTopics); this covers any other.
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${minIsr}`,
  ];
}

const SCRAM = "SCRAM-SHA-512";

/** Listener settings: PLAINTEXT for the dev stack, or SASL_SSL + ACLs for the secured one. */
function listenerProperties(port: number, controllerPort: number, dir: string, security?: KafkaSecurityOptions) {
  if (!security)
    return {
      lines: [
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
      ],
    };
  const certs = createServerCertificates(dir);
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${security.users.admin}";`;
  return {
    caFile: certs.caFile,
    lines: [
      `listeners=SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=SASL_SSL://127.0.0.1:${port}`,
      // The controller listener stays on loopback without TLS: in this single JVM only the
      // broker half talks to it, as ANONYMOUS, which must therefore be a super user.
      "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
      "inter.broker.listener.name=SASL_SSL",
      `sasl.enabled.mechanisms=${SCRAM}`,
      `sasl.mechanism.inter.broker.protocol=${SCRAM}`,
      `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas}`,
      "ssl.keystore.type=PEM",
      `ssl.keystore.location=${certs.keystoreFile}`,
      "ssl.truststore.type=PEM",
      `ssl.truststore.location=${certs.caFile}`,
      "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
      "super.users=User:admin;User:ANONYMOUS",
      "allow.everyone.if.no.acl.found=false",
    ],
  };
}

/**
 * A KRaft broker (broker + controller in one JVM) on loopback: a single-node cluster, or with
 * `node` one node of a multi-node cluster (startKafkaCluster).
 */
export async function startKafka(options: KafkaStartOptions): Promise<RunningKafka> {
  const libs = ensureKafkaJars();
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const dataDir = join(options.dir, "kafka-data");
  mkdirSync(dataDir, { recursive: true });
  const logPath = join(options.dir, "broker.log");
  const props = join(options.dir, "server.properties");
  const listeners = listenerProperties(port, controllerPort, options.dir, options.security);
  writeFileSync(
    props,
    [
      "process.roles=broker,controller",
      `node.id=${options.node?.nodeId ?? 1}`,
      `controller.quorum.voters=${options.node?.voters ?? `1@127.0.0.1:${controllerPort}`}`,
      ...listeners.lines,
      "controller.listener.names=CONTROLLER",
      `log.dirs=${dataDir}`,
      // A single node cannot replicate internal topics; a cluster replicates them like the fleet's.
      ...internalTopicProperties(options.node?.clusterSize ?? 1),
      "offsets.topic.num.partitions=4",
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
  // Not spawnSync: the nodes of a cluster format side by side, so their JVMs start together.
  const format = await runToEnd(java, [
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
    // SCRAM credentials go into the metadata log at format time (KIP-900), before anyone connects.
    ...Object.entries(options.security?.users ?? {}).flatMap(([name, password]) => [
      "--add-scram",
      `${SCRAM}=[name=${name},password=${password}]`,
    ]),
  ]);
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
    ...(listeners.caFile ? { caFile: listeners.caFile } : {}),
    controllerPort,
    logPath,
    pid: child.pid ?? -1,
    process: child,
    stop: () => stopProcess(child),
  };
}

/** Runs a command to its end without blocking the event loop; its output is kept for the error log. */
function runToEnd(command: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.once("error", (err) => resolve({ status: null, stdout, stderr: `${stderr}${err.message}` }));
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
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

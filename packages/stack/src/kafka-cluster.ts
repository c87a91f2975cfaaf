import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createKafka, waitForBroker } from "@recfleet/bus";
import { createLogger } from "@recfleet/runtime";
import { freePort } from "./net";
import { startKafka, stopProcess, type RunningKafka } from "./kafka-broker";

/** One node of a KafkaCluster: where it listens and how to stop, kill, freeze or bring it back. */
export interface KafkaClusterNode {
  nodeId: number;
  /** host:port of its client listener. */
  address: string;
  port: number;
  controllerPort: number;
  dir: string;
  /** The running JVM's pid, or -1 while the node is down. */
  readonly pid: number;
  readonly running: boolean;
  /** Sends a signal to the JVM (SIGKILL to crash it, SIGSTOP/SIGCONT to freeze and thaw it). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL, then waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and data dir (after kill or stop). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface KafkaCluster {
  /** Comma-separated bootstrap list of every node (KAFKA_BROKERS). */
  brokers: string;
  nodes: KafkaClusterNode[];
  stop(): Promise<void>;
}

/**
 * N KRaft nodes on loopback, each broker and controller in one JVM, all of them voters, on
 * ephemeral ports, with small heaps. Internal topics are replicated min(3, N) times; the
 * fleet's own topics take their replication from the topic catalog when created (ensureTopics).
 * The dev stack stays a single broker (startKafka); tests and chaos runs use this.
 */
export async function startKafkaCluster(options: {
  dir: string;
  nodes?: number;
  heapMb?: number;
  timeoutMs?: number;
}): Promise<KafkaCluster> {
  const count = options.nodes ?? 3;
  const ports: { port: number; controllerPort: number }[] = [];
  for (let i = 0; i < count; i++) ports.push({ port: await freePort(), controllerPort: await freePort() });
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p.controllerPort}`).join(",");
  const running: (RunningKafka | undefined)[] = new Array(count).fill(undefined);
  const start = async (i: number) => {
    const dir = join(options.dir, `node-${i + 1}`);
    mkdirSync(dir, { recursive: true });
    running[i] = await startKafka({
      dir,
      ...ports[i]!,
      heapMb: options.heapMb ?? 256,
      timeoutMs: options.timeoutMs ?? 180_000,
      node: { nodeId: i + 1, voters, clusterSize: count },
    });
  };
  const alive = (i: number) => {
    const p = running[i]?.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  };
  const brokers = ports.map((p) => `127.0.0.1:${p.port}`).join(",");
  const stop = async () => {
    await Promise.all(running.map((k) => k && stopProcess(k.process)));
  };
  try {
    // Together: a node's listener opens only once a quorum of controllers is up.
    await Promise.all(ports.map((_, i) => start(i)));
    const kafka = createKafka({
      brokers: brokers.split(","),
      clientId: "recfleet-cluster",
      logger: createLogger("cluster", { level: "error" }),
    });
    await waitForBroker(kafka, options.timeoutMs ?? 180_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const nodes: KafkaClusterNode[] = ports.map((p, i) => ({
    nodeId: i + 1,
    address: `127.0.0.1:${p.port}`,
    ...p,
    dir: join(options.dir, `node-${i + 1}`),
    get pid() {
      return alive(i) ? running[i]!.pid : -1;
    },
    get running() {
      return alive(i);
    },
    signal(signal) {
      if (alive(i)) running[i]!.process.kill(signal);
    },
    async kill() {
      const child = running[i]?.process;
      if (!child || !alive(i)) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await gone;
    },
    async restart() {
      if (alive(i)) await stopProcess(running[i]!.process);
      await start(i);
    },
    stop: async () => void (running[i] && (await stopProcess(running[i]!.process))),
  }));
  return { brokers, nodes, stop };
}

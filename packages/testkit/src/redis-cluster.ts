/**
 * A local Redis Cluster from the redis-server binary: 3 masters and 3 replicas on ephemeral
 * loopback ports, joined with `redis-cli --cluster create`. Integration suites run against it
 * (test/run-tests.ts --redis-cluster) and the failover test SIGKILLs one of its masters.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, RecfleetError } from "@recfleet/runtime";

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  pid: number;
  process: ChildProcess;
}

export interface RunningRedisCluster {
  /** "127.0.0.1:p1,127.0.0.1:p2,…" for REDIS_CLUSTER_NODES. */
  nodes: string;
  /** The same seeds as a redis+cluster:// URL (REDIS_URL). */
  url: string;
  members: ClusterNode[];
  logDir: string;
  /** The ports of the current masters (they change after a failover). */
  masterPorts(): Promise<number[]>;
  stop(): Promise<void>;
}

export class ClusterStartError extends RecfleetError {
  constructor(message: string, logDir: string) {
    super(`${message} (logs in ${logDir}); is redis-server ≥ 7 installed (apt-get install -y redis-server)?`, {
      retriable: false,
    });
  }
}

async function answers(port: number): Promise<boolean> {
  const client = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** One question to one node on a short-lived client; `fallback` when the node does not answer. */
async function askNode<T>(port: number, ask: (client: Redis) => Promise<T>, fallback: T): Promise<T> {
  const client = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on("error", () => undefined);
  try {
    return await ask(client);
  } catch {
    return fallback;
  } finally {
    client.disconnect();
  }
}

const clusterInfo = (port: number): Promise<string> =>
  askNode(port, async (client) => String(await client.call("CLUSTER", "INFO")), "");

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number, logDir: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new ClusterStartError(`${what} within ${timeoutMs} ms`, logDir);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts 2·masters redis-server processes in cluster mode (each with its own data folder under
 * `dir`, cluster bus on its own free port) and creates the cluster, one replica per master.
 * Resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(options: {
  dir: string;
  masters?: number;
  timeoutMs?: number;
}): Promise<RunningRedisCluster> {
  const masters = options.masters ?? 3;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const members: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all(
      members.map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.process.exitCode !== null || m.process.signalCode !== null) return resolve();
            m.process.once("exit", () => resolve());
            m.process.kill("SIGTERM");
            setTimeout(() => m.process.kill("SIGKILL"), 5000).unref();
          }),
      ),
    );
  };
  try {
    for (let i = 0; i < 2 * masters; i++) {
      const [port, busPort] = [await freePort(), await freePort()];
      const dataDir = join(options.dir, `node-${i}`);
      mkdirSync(dataDir, { recursive: true });
      const out = openSync(join(options.dir, `node-${i}.log`), "a");
      const child = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--cluster-port",
          String(busPort),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dataDir, "nodes.conf"),
          // Fail over quickly in tests; production clusters keep the default 15 s.
          "--cluster-node-timeout",
          "2000",
          "--dir",
          dataDir,
          "--save",
          "",
          "--appendonly",
          "no",
          "--protected-mode",
          "yes",
        ],
        { stdio: ["ignore", out, out] },
      );
      closeSync(out);
      members.push({ port, pid: child.pid ?? -1, process: child });
    }
    for (const m of members)
      await until(`redis-server on port ${m.port} answering`, () => answers(m.port), timeoutMs, options.dir);
    await run("redis-cli", [
      "--cluster",
      "create",
      ...members.map((m) => `127.0.0.1:${m.port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ]).catch((err: Error) => {
      throw new ClusterStartError(`redis-cli --cluster create failed: ${err.message}`, options.dir);
    });
    for (const m of members)
      await until(
        `cluster_state:ok on port ${m.port}`,
        async () => (await clusterInfo(m.port)).includes("cluster_state:ok"),
        timeoutMs,
        options.dir,
      );
    // Replication is set up in the background: wait until every master has an online replica.
    const cluster = { members } as const;
    await until(
      "an online replica for every master",
      async () => {
        let online = 0;
        for (const m of cluster.members) {
          // A node not answering yet counts as a master without an online replica.
          const info = await askNode(m.port, (client) => client.info("replication"), "");
          if (/role:master/.test(info) && /^slave0:.*state=online/m.test(info)) online++;
        }
        return online >= masters;
      },
      timeoutMs,
      options.dir,
    );
    // And every node knows every replica (gossip): CLUSTER SLOTS and NODES list them everywhere.
    for (const m of members)
      await until(
        `port ${m.port} to know ${masters} replicas`,
        async () => {
          const nodes = await askNode(m.port, async (client) => String(await client.call("CLUSTER", "NODES")), "");
          return nodes.split("\n").filter((l) => /^\S+ \S+ (myself,)?slave /.test(l)).length >= masters;
        },
        timeoutMs,
        options.dir,
      );
  } catch (err) {
    await stop();
    throw err;
  }
  const nodes = members.map((m) => `127.0.0.1:${m.port}`).join(",");
  return {
    nodes,
    url: `redis+cluster://${nodes}`,
    members,
    logDir: options.dir,
    async masterPorts() {
      const ports: number[] = [];
      for (const m of members) {
        if (m.process.exitCode !== null || m.process.signalCode !== null) continue;
        // A node that does not answer is not a master we can use.
        const role = await askNode(m.port, async (client) => ((await client.call("ROLE")) as [string])[0], "");
        if (role === "master") ports.push(m.port);
      }
      return ports;
    },
    stop,
  };
}

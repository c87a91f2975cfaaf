import { spawn } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { ChildProcess } from "node:child_process";
import { freePort } from "./net";
import { StackStartError, stopProcess } from "./kafka-broker";

export interface RunningRedis {
  url: string;
  logPath: string;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** redis-server on an ephemeral loopback port with its own data folder (never the shared 6379). */
export async function startRedis(options: {
  dir: string;
  port?: number;
  detached?: boolean;
  timeoutMs?: number;
}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const dataDir = join(options.dir, "redis-data");
  mkdirSync(dataDir, { recursive: true });
  const logPath = join(options.dir, "redis.log");
  const out = openSync(logPath, "a");
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dataDir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--logfile",
      "",
      "--protected-mode",
      "yes",
    ],
    {
      stdio: ["ignore", out, out],
      detached: options.detached ?? false,
    },
  );
  closeSync(out);
  if (options.detached) child.unref();
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));
  for (;;) {
    const failure = await Promise.race([
      spawnFailed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
    ]);
    if (failure)
      throw new StackStartError(
        `could not start redis-server (${failure.message}); is it installed?`,
        logPath,
        failure,
      );
    if (child.exitCode !== null) throw new StackStartError(`redis-server exited with code ${child.exitCode}`, logPath);
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    const ok = await client
      .connect()
      .then(() => client.ping())
      .then(() => true)
      .catch(() => false)
      .finally(() => client.disconnect());
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new StackStartError("redis-server did not answer PING in time", logPath);
    }
  }
  return { url, logPath, pid: child.pid ?? -1, process: child, stop: () => stopProcess(child, 5000) };
}

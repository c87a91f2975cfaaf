import { spawn } from "node:child_process";
import { mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { ChildProcess } from "node:child_process";
import { freePort } from "./net";
import { StackStartError, stopProcess } from "./kafka-broker";
import { createServerCertificates } from "./tls";

export interface RunningRedis {
  /** redis:// — or rediss:// when started with `tls`. */
  url: string;
  /** With `tls`: the CA clients trust (REDIS_CA_FILE). */
  caFile?: string;
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
  /** TLS only (no plaintext port), with a certificate made in `dir`. */
  tls?: boolean;
  /**
   * Append-only file with fsync every second in `dir`/redis-data: a restart (even after SIGKILL)
   * reloads the state, losing at most the last second of writes. Off for the dev stack.
   */
  appendOnly?: boolean;
}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const certs = options.tls ? createServerCertificates(options.dir) : undefined;
  const listen = certs
    ? [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--tls-cert-file",
        certs.certFile,
        "--tls-key-file",
        certs.keyFile,
        "--tls-ca-cert-file",
        certs.caFile,
        // Clients prove who they are with ACL users, not client certificates.
        "--tls-auth-clients",
        "no",
      ]
    : ["--port", String(port)];
  const dataDir = join(options.dir, "redis-data");
  mkdirSync(dataDir, { recursive: true });
  const logPath = join(options.dir, "redis.log");
  const out = openSync(logPath, "a");
  const child = spawn(
    "redis-server",
    [
      ...listen,
      "--bind",
      "127.0.0.1",
      "--dir",
      dataDir,
      "--save",
      "",
      ...(options.appendOnly ? ["--appendonly", "yes", "--appendfsync", "everysec"] : ["--appendonly", "no"]),
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
  const url = `${certs ? "rediss" : "redis"}://127.0.0.1:${port}`;
  const tls = certs ? { tls: { ca: readFileSync(certs.caFile, "utf8") } } : {};
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
    const client = new Redis(url, { ...tls, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
  return {
    url,
    ...(certs ? { caFile: certs.caFile } : {}),
    logPath,
    pid: child.pid ?? -1,
    process: child,
    stop: () => stopProcess(child, 5000),
  };
}

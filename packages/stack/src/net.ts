import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export { freePort } from "@recfleet/runtime";

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The metrics port of a worker started with METRICS_PORT=0 and METRICS_PORT_FILE=`path`: the
 * kernel picks the port and the worker writes it there, so no other process can take it between
 * a "free port" probe and the worker's listen. Fails as soon as the child exits.
 */
export async function waitForPortFile(path: string, child: ChildProcess, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the process exited (${child.exitCode ?? child.signalCode}) before writing its port to ${path}`);
    }
    const port = existsSync(path) ? Number(readFileSync(path, "utf8")) : 0;
    if (port > 0) return port;
    if (Date.now() > deadline) throw new Error(`no port in ${path} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { ReadinessReport } from "./readiness";

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Ready means "send me work": connected and caught up enough to serve. */
  readiness: () => Promise<ReadinessReport>;
}

export interface RunningHttpServer {
  port: number;
  close(): Promise<void>;
}

/** /metrics (Prometheus text), /healthz (process alive) and /readyz (503 lists failing checks). Port 0 picks a free port. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      options.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { "content-type": options.registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    if (path === "/readyz") {
      options
        .readiness()
        .then(({ ready, failing }) => {
          res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
          res.end(ready ? "ready\n" : `not ready: ${failing.join(", ")}\n`);
        })
        .catch((err: unknown) => {
          res.writeHead(503, { "content-type": "text/plain" });
          res.end(`not ready: ${String(err)}\n`);
        });
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An ephemeral port that was free a moment ago (for a child process that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NonRetriableError } from "@recfleet/runtime";

export interface ServerCertificates {
  /** PEM of the CA clients trust (KAFKA_CA_FILE). */
  caFile: string;
  /** PEM with the server's private key and certificate chain (Kafka's PEM keystore). */
  keystoreFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[], cwd: string): void {
  const run = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (run.error) throw new NonRetriableError("openssl is needed for a TLS broker: sudo apt-get install -y openssl");
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.trim()}`);
}

/**
 * A throwaway CA and a server certificate for 127.0.0.1/localhost, valid for two days, written
 * to `dir` (a test's temporary folder), for a TLS Kafka broker or redis-server. Kafka reads PEM
 * directly, so no keytool/JKS step.
 */
export function createServerCertificates(dir: string): ServerCertificates {
  const days = "2";
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      days,
      "-subj",
      "/CN=recfleet-test-ca",
    ],
    dir,
  );
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
    dir,
  );
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      days,
      "-extfile",
      "server.ext",
    ],
    dir,
  );
  const keystoreFile = join(dir, "server-keystore.pem");
  writeFileSync(
    keystoreFile,
    readFileSync(join(dir, "server.key"), "utf8") +
      readFileSync(join(dir, "server.crt"), "utf8") +
      readFileSync(join(dir, "ca.crt"), "utf8"),
  );
  return {
    caFile: join(dir, "ca.crt"),
    keystoreFile,
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
  };
}

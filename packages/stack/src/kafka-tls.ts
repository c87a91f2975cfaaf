import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NonRetriableError } from "@recfleet/runtime";

export interface BrokerCertificates {
  /** PEM of the CA clients trust (KAFKA_CA_FILE). */
  caFile: string;
  /** PEM with the broker's private key and certificate chain (Kafka's PEM keystore). */
  keystoreFile: string;
}

function openssl(args: string[], cwd: string): void {
  const run = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (run.error) throw new NonRetriableError("openssl is needed for a TLS broker: sudo apt-get install -y openssl");
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr.trim()}`);
}

/**
 * A throwaway CA and a broker certificate for 127.0.0.1/localhost, valid for two days, written
 * to `dir` (a test's temporary folder). Kafka reads PEM directly, so no keytool/JKS step.
 */
export function createBrokerCertificates(dir: string): BrokerCertificates {
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
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=localhost"],
    dir,
  );
  writeFileSync(join(dir, "broker.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "broker.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "broker.crt",
      "-days",
      days,
      "-extfile",
      "broker.ext",
    ],
    dir,
  );
  const keystoreFile = join(dir, "broker-keystore.pem");
  writeFileSync(
    keystoreFile,
    readFileSync(join(dir, "broker.key"), "utf8") +
      readFileSync(join(dir, "broker.crt"), "utf8") +
      readFileSync(join(dir, "ca.crt"), "utf8"),
  );
  return { caFile: join(dir, "ca.crt"), keystoreFile };
}

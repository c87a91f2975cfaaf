/**
 * `npx recfleet doctor`: what the local stack and the fleet need from this machine, each check
 * with the command that installs what is missing. The stack runs the same checks before it
 * starts, so a missing piece surfaces as the doctor's line rather than a spawn stack trace.
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { NonRetriableError } from "@recfleet/runtime";
import { cacheDir } from "./paths";
import { kafkaJarsCached, kafkaVersion } from "./kafka-broker";

export type CheckStatus = "ok" | "warn" | "missing";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** What was found (version, path) or what is wrong. */
  detail: string;
  /** The command that fixes a warn or missing result. */
  fix?: string;
}

/** One or more prerequisites of the local stack are missing; the message is the doctor's lines. */
export class MissingPrerequisiteError extends NonRetriableError {
  constructor(readonly results: CheckResult[]) {
    super(results.map(formatCheck).join("\n"));
  }
}

const APT = "sudo apt-get install -y";

/** Node lines this project runs on; 20 still works (the machines ship it) but is past end of life. */
const NODE_EOL: Record<number, string> = { 20: "2026-04-30" };
const MIN_NODE_MAJOR = 20;

function version(command: string, args: string[], pattern: RegExp, env: NodeJS.ProcessEnv): string | undefined {
  const run = spawnSync(command, args, { encoding: "utf8", timeout: 20_000, env });
  if (run.error || run.status !== 0) return undefined;
  return `${run.stdout}\n${run.stderr}`.match(pattern)?.[1];
}

export function checkNode(nodeVersion = process.version): CheckResult {
  const major = Number(nodeVersion.replace(/^v/, "").split(".")[0]);
  if (!(major >= MIN_NODE_MAJOR)) {
    return {
      name: "node",
      status: "missing",
      detail: `${nodeVersion} is too old (20 or newer)`,
      fix: "install Node.js 24 LTS (or run `npx -y node@24 …`)",
    };
  }
  const eol = NODE_EOL[major];
  if (eol) {
    return {
      name: "node",
      status: "warn",
      detail: `${nodeVersion} (end of life ${eol}; 22 and 24 are the LTS lines)`,
      fix: "npx -y node@24 --import tsx test/run-tests.ts runs the tests on Node 24",
    };
  }
  return { name: "node", status: "ok", detail: nodeVersion };
}

export function checkJava(env: NodeJS.ProcessEnv = process.env): CheckResult {
  const java = env.JAVA_HOME ? join(env.JAVA_HOME, "bin", "java") : "java";
  const found = version(java, ["-version"], /version "([^"]+)"/, env);
  if (!found)
    return {
      name: "java",
      status: "missing",
      detail: `${java} not found (the Kafka broker needs Java 17+)`,
      fix: `${APT} openjdk-17-jre-headless`,
    };
  const major = Number(found.startsWith("1.") ? found.split(".")[1] : found.split(/[.+-]/)[0]);
  if (major < 17)
    return {
      name: "java",
      status: "missing",
      detail: `Java ${found} is too old (17+)`,
      fix: `${APT} openjdk-17-jre-headless`,
    };
  return { name: "java", status: "ok", detail: `Java ${found}` };
}

export function checkRedisServer(env: NodeJS.ProcessEnv = process.env): CheckResult {
  const found = version("redis-server", ["--version"], /v=(\S+)/, env);
  if (!found)
    return {
      name: "redis-server",
      status: "missing",
      detail: "redis-server not found on PATH",
      fix: `${APT} redis-server`,
    };
  return { name: "redis-server", status: "ok", detail: `Redis ${found}` };
}

export function checkMaven(env: NodeJS.ProcessEnv = process.env): CheckResult {
  const found = version("mvn", ["--version"], /Apache Maven (\d[\w.-]*)/, env);
  if (found) return { name: "maven", status: "ok", detail: `Maven ${found}` };
  // Maven is needed once, to resolve the broker's jars; a filled cache does without it.
  if (kafkaJarsCached())
    return {
      name: "maven",
      status: "warn",
      detail: "mvn not found (not needed: the Kafka jars are cached)",
      fix: `${APT} maven`,
    };
  return {
    name: "maven",
    status: "missing",
    detail: "mvn not found (it resolves the Kafka broker's jars from Maven Central)",
    fix: `${APT} maven`,
  };
}

export function checkKafkaJars(): CheckResult {
  const where = join(cacheDir(), `kafka-${kafkaVersion()}`, "libs");
  if (kafkaJarsCached())
    return { name: "kafka jars", status: "ok", detail: `Apache Kafka ${kafkaVersion()} in ${where}` };
  return {
    name: "kafka jars",
    status: "warn",
    detail: `not cached yet (fetched on first use into ${where})`,
    fix: "npx recfleet setup",
  };
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function checkPorts(): Promise<CheckResult> {
  if (!(await canListen(0)))
    return {
      name: "ports",
      status: "missing",
      detail: "cannot listen on an ephemeral port of 127.0.0.1",
      fix: "check the loopback interface and local firewall",
    };
  const taken = [];
  for (const [port, what] of [
    [9092, "Kafka"],
    [6379, "Redis"],
  ] as const)
    if (!(await canListen(port))) taken.push(`${port} (${what})`);
  const detail =
    taken.length === 0
      ? "ephemeral ports free; 9092 and 6379 free"
      : `ephemeral ports free; in use: ${taken.join(", ")} — the local stack uses ephemeral ports and does not need them`;
  return { name: "ports", status: "ok", detail };
}

export function formatCheck(result: CheckResult): string {
  const head = `${result.status.padEnd(7)} ${result.name.padEnd(12)} ${result.detail}`;
  return result.fix && result.status !== "ok" ? `${head} — install/fix: ${result.fix}` : head;
}

/** The machine checks of the local stack; the CLI's doctor adds the model runtime's. */
export async function runStackChecks(): Promise<CheckResult[]> {
  return [checkNode(), checkJava(), checkMaven(), checkKafkaJars(), checkRedisServer(), await checkPorts()];
}

/** Throws MissingPrerequisiteError when the local stack cannot start on this machine. */
export function assertStackPrerequisites(): void {
  const missing = [checkJava(), checkMaven(), checkRedisServer()].filter((r) => r.status === "missing");
  if (missing.length > 0) throw new MissingPrerequisiteError(missing);
}

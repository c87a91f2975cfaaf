/**
 * `recfleet keys create|list|revoke`: the gateway's API keys. The whole key is printed once, at
 * create; Redis keeps only its hash. Output is JSON lines on stdout.
 */
import {
  ConfigError,
  commonConfigSchema,
  createLogger,
  errorMessage,
  loadConfig,
  type CliCommand,
} from "@recfleet/runtime";
import { API_SCOPES, ApiKeyOptionError, createApiKeys, connectRedis } from "@recfleet/store";
import { gatewayConfigSchema } from "./config";

type Write = (line: string) => void;
const stdout: Write = (line) => void process.stdout.write(line + "\n");
const stderr: Write = (line) => void process.stderr.write(line + "\n");

const USAGE =
  `usage: recfleet keys create --name NAME --scope SCOPE [--scope SCOPE …] [--rate N/s] [--burst N]\n` +
  `       recfleet keys list\n` +
  `       recfleet keys revoke --id ID\n` +
  `scopes: ${API_SCOPES.join(", ")}; rate and burst default to GATEWAY_DEFAULT_RATE / GATEWAY_DEFAULT_BURST`;

function options(argv: string[], name: string): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === name && argv[i + 1] !== undefined) out.push(argv[i + 1]!);
  });
  return out;
}

export async function runKeysCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  write: Write = stdout,
): Promise<number> {
  const [sub] = argv;
  if (sub !== "create" && sub !== "list" && sub !== "revoke") {
    stderr(USAGE);
    return 2;
  }
  let config;
  try {
    config = { ...loadConfig(commonConfigSchema, env), ...loadConfig(gatewayConfigSchema, env) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr(err.message);
    return 2;
  }
  const redis = await connectRedis(config, createLogger("keys-cli", { level: "warn" }));
  const keys = createApiKeys(redis, config.namespace);
  try {
    if (sub === "create") {
      const [name] = options(argv, "--name");
      const scopes = options(argv, "--scope").flatMap((s) => s.split(","));
      const [rate] = options(argv, "--rate");
      const [burst] = options(argv, "--burst");
      if (!name || scopes.length === 0) {
        stderr(USAGE);
        return 2;
      }
      const created = await keys.create({
        name,
        scopes,
        rate: rate === undefined ? config.defaultRate : Number(rate),
        burst: burst === undefined ? config.defaultBurst : Number(burst),
      });
      write(JSON.stringify({ ...created, note: "the key is shown once; only its hash is stored" }));
      return 0;
    }
    if (sub === "list") {
      for (const k of await keys.list()) write(JSON.stringify(k));
      return 0;
    }
    const [id] = options(argv, "--id");
    if (!id) {
      stderr(USAGE);
      return 2;
    }
    if (!(await keys.revoke(id))) {
      stderr(`keys revoke: no key ${JSON.stringify(id)} (see \`recfleet keys list\`)`);
      return 1;
    }
    write(JSON.stringify({ revoked: id }));
    return 0;
  } catch (err) {
    if (err instanceof ApiKeyOptionError) {
      stderr(`keys ${sub}: ${err.message}`);
      return 2;
    }
    stderr(`keys ${sub}: ${errorMessage(err)}`);
    return 1;
  } finally {
    await redis.quit();
  }
}

export const gatewayCommands: CliCommand[] = [
  {
    name: "keys",
    summary: "keys create --name N --scope S [--rate R --burst B] | list | revoke --id ID — the gateway's API keys",
    run: (args) => runKeysCli(args),
  },
];

/**
 * `erase-user`: deletes every Redis key derived from one user and records a receipt (id, time,
 * keys deleted) in the erasures stream. The raw id is only pseudonymised here; neither it nor
 * the pseudonym is printed, logged or stored.
 *
 *   erase-user --user <raw user id>
 *   erase-user --pseudonym <64-hex pseudonym>
 *
 * Env: REDIS_URL (with REDIS_CA_FILE, REDIS_PASSWORD_FILE, REDIS_CLUSTER_NODES as the workers take
 * them), RECFLEET_NAMESPACE, RECFLEET_PSEUDONYM_SECRET (or RECFLEET_PROFILE=dev).
 * Exit codes: 0 erased (possibly 0 keys), 2 usage or configuration error.
 */
import { ConfigError, commonConfigSchema, createLogger, loadConfig } from "@recfleet/runtime";
import type { CliCommand, CommonConfig } from "@recfleet/runtime";
import { rebuildCommand } from "./rebuild";
import {
  connectRedis,
  createStore,
  pseudonymise,
  resolvePseudonymSecret,
  storeConfigSchema,
  type ErasureReceipt,
  type RedisConnection,
} from "@recfleet/store";

const USAGE = "usage: erase-user --user <raw user id> | --pseudonym <hex pseudonym>";

function argValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === name) return argv[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

export async function eraseUser(
  options: RedisConnection & {
    namespace: string;
    pseudonym: string;
  },
): Promise<ErasureReceipt> {
  const logger = createLogger("erase-user", { level: "error" });
  const redis = await connectRedis(options, logger);
  try {
    return await createStore(redis, options.namespace).eraseUser(options.pseudonym);
  } finally {
    await redis.quit();
  }
}

export async function runEraseUserCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  write: (line: string) => void = (l) => process.stdout.write(l + "\n"),
): Promise<number> {
  const logger = createLogger("erase-user");
  const raw = argValue(argv, "--user");
  const given = argValue(argv, "--pseudonym");
  if ((raw === undefined) === (given === undefined) || raw === "" || given === "") {
    process.stderr.write(USAGE + "\n");
    return 2;
  }
  if (given !== undefined && !/^[0-9a-f]{64}$/.test(given)) {
    process.stderr.write("--pseudonym must be 64 lowercase hex characters\n" + USAGE + "\n");
    return 2;
  }
  let pseudonym: string;
  let config: CommonConfig;
  try {
    const common = loadConfig(commonConfigSchema, env);
    config = common;
    pseudonym = given ?? pseudonymise(resolvePseudonymSecret(loadConfig(storeConfigSchema, env), logger), raw!);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error("invalid configuration", { error: err.message });
    return 2;
  }
  // The whole connection (TLS CA, password file, cluster seeds), as every worker connects.
  const receipt = await eraseUser({ ...config, pseudonym });
  logger.info("user erased", { receiptId: receipt.receiptId, keysDeleted: receipt.keysDeleted });
  write(JSON.stringify(receipt));
  return 0;
}

export const featuresCommands: CliCommand[] = [
  {
    name: "erase-user",
    summary: "erase-user --user <raw id> — delete every key derived from a user (needs RECFLEET_PSEUDONYM_SECRET)",
    run: (args) => runEraseUserCli(args),
  },
  rebuildCommand,
];

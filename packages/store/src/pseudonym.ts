import { createHmac } from "node:crypto";
import { ConfigError, type Logger } from "@recfleet/runtime";

/**
 * The one pseudonymisation function of the fleet: HMAC-SHA256(secret, raw user id) as hex.
 * Ingest applies it to events and the scorer to raw ids in rec requests, with the same secret,
 * so both land on the same user state. Without the secret a pseudonym cannot be linked back.
 */
export function pseudonymise(secret: string, rawUserId: string): string {
  return createHmac("sha256", secret).update(rawUserId, "utf8").digest("hex");
}

/** A pseudonymiser bound to one secret (the secret stays inside the closure). */
export function createPseudonymiser(secret: string): (rawUserId: string) => string {
  return (raw) => pseudonymise(secret, raw);
}

/** Fixed secret for RECFLEET_PROFILE=dev only: pseudonyms made with it are not protected. */
export const DEV_PSEUDONYM_SECRET = "recfleet-dev-pseudonym-secret-not-for-production";
export const MIN_SECRET_LENGTH = 16;

/**
 * The secret from config: RECFLEET_PSEUDONYM_SECRET, or the fixed dev secret (with a warning)
 * when RECFLEET_PROFILE=dev. Refuses to start otherwise.
 */
export function resolvePseudonymSecret(
  config: { pseudonymSecret: string | undefined; profile: "dev" | "prod" },
  logger: Logger,
): string {
  const secret = config.pseudonymSecret;
  if (secret !== undefined) {
    if (secret.length < MIN_SECRET_LENGTH)
      throw new ConfigError(
        "RECFLEET_PSEUDONYM_SECRET",
        `a secret of at least ${MIN_SECRET_LENGTH} characters`,
        `${secret.length} characters`,
      );
    return secret;
  }
  if (config.profile === "dev") {
    logger.warn(
      "RECFLEET_PSEUDONYM_SECRET is not set; using the fixed dev secret (RECFLEET_PROFILE=dev). Pseudonyms are not protected.",
    );
    return DEV_PSEUDONYM_SECRET;
  }
  throw new ConfigError(
    "RECFLEET_PSEUDONYM_SECRET",
    "a secret (or RECFLEET_PROFILE=dev for a fixed dev secret)",
    undefined,
  );
}

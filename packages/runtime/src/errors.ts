/**
 * Error base for recfleet. Retryability lives on the error, not in string matching:
 * `shouldRetry` walks the `cause` chain and never retries programmer errors.
 *
 * The flag is structural: any error with a boolean `retriable` property decides, so packages
 * below runtime in the layering (towers, policy, evaluation) mark their errors without
 * importing this module.
 */
export class RecfleetError extends Error {
  readonly retriable: boolean;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    message: string,
    options: { retriable?: boolean; cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? true;
    this.context = options.context ?? {};
  }
}

/** An error that retrying cannot fix (bad input, bad config, corrupt artefact). */
export class NonRetriableError extends RecfleetError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { ...options, retriable: false });
  }
}

/** The `retriable` flag an error carries, if it carries one. */
function retriableFlag(err: unknown): boolean | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const flag = (err as { retriable?: unknown }).retriable;
  return typeof flag === "boolean" ? flag : undefined;
}

/**
 * Whether a failed operation is worth retrying. The outermost error in the cause chain that
 * says so decides (a wrapper may override its cause); programmer errors (TypeError, RangeError,
 * SyntaxError) are never retried; anything else (network, timeouts) is.
 */
export function shouldRetry(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth++) {
    if (current instanceof TypeError || current instanceof RangeError || current instanceof SyntaxError) return false;
    const flag = retriableFlag(current);
    if (flag !== undefined) return flag;
    current = current instanceof Error ? current.cause : undefined;
  }
  return true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

// `retriable` is the structural flag @recfleet/runtime's shouldRetry reads: towers sits below
// runtime in the layering and declares it rather than importing RecfleetError.

/** Bytes handed to deserializeModel are not a model this code wrote, or were damaged. */
export class ModelFormatError extends Error {
  override readonly name = "ModelFormatError";
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A config value, warm-start model or training input does not fit. The message says which. */
export class TwoTowerConfigError extends Error {
  override readonly name = "TwoTowerConfigError";
  readonly retriable = false;
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Training stopped because its AbortSignal fired (usually shutdown): a later run can succeed, so it carries no flag. */
export class TrainingAbortedError extends Error {
  override readonly name = "TrainingAbortedError";
  constructor(
    readonly epoch: number,
    options?: { cause?: unknown },
  ) {
    super(`training aborted during epoch ${epoch}`, options);
  }
}

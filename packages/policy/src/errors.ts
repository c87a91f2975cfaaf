// Typed errors of the policy package. None of them is retriable: they are configuration or
// programmer errors (a bad spec, malformed state), and retrying would fail the same way.

/** Base class: code matches on the class, never on the message text. */
export class PolicyError extends Error {
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PolicyError";
  }
}

/** A policy option or spec string is out of range or malformed. */
export class PolicyConfigError extends PolicyError {
  readonly option: string;
  readonly value: unknown;
  constructor(option: string, value: unknown, expected: string) {
    super(`policy option "${option}" is ${JSON.stringify(value)}; expected ${expected}`);
    this.name = "PolicyConfigError";
    this.option = option;
    this.value = value;
  }
}

/** The candidates handed to a policy are unusable (duplicate ids, bad scores). */
export class CandidateError extends PolicyError {
  readonly itemId: string;
  constructor(itemId: string, problem: string) {
    super(`candidate "${itemId}": ${problem}`);
    this.name = "CandidateError";
    this.itemId = itemId;
  }
}

/** Serialised neural-linear state does not match what the policy expects. */
export class LinearStateError extends PolicyError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super(`linear bandit state: ${problem}`, options);
    this.name = "LinearStateError";
  }
}

/** A logged record cannot be evaluated (e.g. a zero logged propensity). */
export class LoggedRecordError extends PolicyError {
  readonly recId: string;
  constructor(recId: string, problem: string) {
    super(`logged record "${recId}": ${problem}`);
    this.name = "LoggedRecordError";
    this.recId = recId;
  }
}

/**
 * An operator command of `npx recfleet`. Packages and services export their commands as data;
 * apps/cli assembles the command table from them, so the CLI depends on the packages and never
 * the other way round.
 */
export interface CliCommand {
  name: string;
  /** One line for `recfleet help`. */
  summary: string;
  /** Resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

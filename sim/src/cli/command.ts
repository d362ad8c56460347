import type { Command } from 'commander';
import type { ProgressMode, ProgressStream } from '../io/progress.js';

/** Where a command writes and how it reports progress. Tests pass their own streams. */
export interface CliContext {
  readonly stdout: ProgressStream;
  readonly stderr: ProgressStream;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** From the global `--progress` flag. */
  readonly progress: ProgressMode;
  /** The file stdout is redirected to, when it is one (`> RUN.json`); null or absent otherwise. */
  readonly stdoutPath?: string | null;
}

/**
 * One subcommand. `path` places it in the command tree (`['repro', 'bilinear']` →
 * `masha-sim repro bilinear`); group commands (`repro`) are created on demand.
 */
export interface CliCommand<O = Record<string, unknown>> {
  readonly path: readonly [string, ...string[]];
  readonly description: string;
  /** Declares arguments, options and extra help text on the commander command. */
  configure(cmd: Command): void;
  /** Runs with the parsed options (and positional arguments); resolves to an exit code (default 0). */
  run(opts: O, ctx: CliContext, args: readonly string[]): Promise<number | void>;
}

/** Identity helper that keeps `O` typed at the definition site. */
export function defineCommand<O>(command: CliCommand<O>): CliCommand<O> {
  return command;
}

/**
 * @masha/sim — simulator, paper reproductions, plots and the `masha-sim` CLI.
 * Each area has its own barrel; add one `export *` line per area here.
 */
export * from './io/index.js';
export * from './bench/index.js';
export * from './solve.js';
export * from './repro/bilinear.js';
export { runCli, buildProgram } from './cli/program.js';
export type { CliCommand, CliContext } from './cli/command.js';
export { runToDirectory, type RunFilesOptions, type RunFilesResult } from './run/run-files.js';

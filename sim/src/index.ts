/**
 * @masha/sim — simulator, paper reproductions, plots and the `masha-sim` CLI.
 * Each area has its own barrel; add one `export *` line per area here.
 */
export * from './io/index.js';
export * from './plot/index.js';
export * from './bench/index.js';

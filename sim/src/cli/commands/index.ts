/**
 * Every `masha-sim` subcommand, registered by one line each:
 *   export { command as <name> } from './<file>.js';
 * (the export name is only a key; the command's `path` places it in the tree).
 */
export { command as traceGen } from './trace-gen.js';
export { command as manifestInit } from './manifest-init.js';
export { command as solve } from './solve.js';
export { command as reproBilinear } from './repro-bilinear.js';
export { command as run } from './run.js';
export { command as reproPermk } from './repro-permk.js';
export { command as reproAdversarial } from './repro-adversarial.js';

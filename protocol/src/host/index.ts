export * from './peer-host.js';
export * from './paths.js';
export type { HostTreeOptions } from './tree-wiring.js';
export * from './problem-evaluator.js';
export * from './timers.js';
export * from './records.js';

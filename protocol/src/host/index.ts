export * from './peer-host.js';
export * from './problem-evaluator.js';
export * from './timers.js';
export * from './records.js';

export * from './topics.js';
export * from './status.js';
export * from './announce.js';
export * from './events.js';
export * from './summary.js';
export * from './registry.js';
export * from './checkpoint.js';

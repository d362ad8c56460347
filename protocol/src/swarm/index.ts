export * from './topics.js';
export * from './status.js';
export { STATUS_COUNTER_NAMES, STATUS_DICTIONARY_CHECK, STATUS_WIRE_FORMAT } from './status-wire.js';
export * from './announce.js';
export * from './events.js';
export * from './summary.js';
export * from './registry.js';
export * from './checkpoint.js';

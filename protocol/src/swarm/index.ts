export * from './topics.js';
export * from './status.js';
export {
  decodeStatusQuery,
  encodeStatusQuery,
  isStatusQuery,
  STATUS_COUNTER_NAMES,
  STATUS_DICTIONARY_CHECK,
  STATUS_QUERY_FORMAT,
  STATUS_WIRE_FORMAT,
} from './status-wire.js';
export * from './announce.js';
export * from './events.js';
export * from './summary.js';
export * from './registry.js';
export * from './checkpoint.js';

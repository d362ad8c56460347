/**
 * Relay trees for large broadcasts: the roster an aggregator publishes, the striped tree layout
 * every peer computes from it, the control messages (anchor, pull, hold) and the sans-I/O relay
 * the host drives (see relay.ts for the design and the trust analysis).
 */
export * from './roster.js';
export * from './layout.js';
export * from './wire.js';
export * from './relay.js';

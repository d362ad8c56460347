export type * from './types.js';
export * from './bytes.js';
export * from './digest.js';
export * from './rendezvous.js';
export * from './assignment.js';
export * from './messages.js';
export * from './context.js';
export * from './peer.js';
export * from './slab.js';

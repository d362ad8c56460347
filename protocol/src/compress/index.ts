export type * from './types.js';
export * from './bitio.js';
export * from './checks.js';
export * from './identity.js';
export * from './sample.js';
export * from './sparse.js';
export * from './randk.js';
export * from './registry.js';
export * from './permk.js';

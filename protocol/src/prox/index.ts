export type * from './types.js';
export * from './basic.js';
export * from './simplex.js';
export * from './registry.js';

export type * from './types.js';
export * from './reference.js';

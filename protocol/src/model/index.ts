export * from './graph/index.js';
export * from './runtime/index.js';

export * from './schema.js';
export * from './canonical.js';

export * from './schema.js';
export * from './generate.js';

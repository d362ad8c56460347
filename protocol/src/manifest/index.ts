export * from './schema.js';
export * from './canonical.js';
export * from './build.js';
export * from './default-run.js';
export * from './model-run.js';
export * from './estimate.js';

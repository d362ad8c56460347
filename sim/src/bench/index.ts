export * from './harness.js';
export * from './compressors.js';

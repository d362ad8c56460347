export * from './xoshiro128.js';
export * from './streams.js';

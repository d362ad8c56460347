export * from './bpe.js';
export * from './shards.js';
export * from './dataset.js';
export * from './batches.js';

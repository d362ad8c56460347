/** Everything in the package, for tests that reach past the curated root (`../src/index.ts`). */
export * from '../src/errors.js';
export * from '../src/rng/index.js';
export * from '../src/vec/index.js';
export * from '../src/linalg/index.js';
export * from '../src/compress/index.js';
export * from '../src/problems/index.js';
export * from '../src/prox/index.js';
export * from '../src/methods/index.js';
export * from '../src/runner/index.js';
export * from '../src/engine/index.js';
export * from '../src/manifest/index.js';
export * from '../src/frames/index.js';
export * from '../src/model/index.js';

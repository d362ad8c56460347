export type * from './types.js';
export * from './bilinear.js';
export * from './bilinear-file.js';
export * from './quadratic.js';
export * from './quadratic-generator.js';
export * from './quadratic-file.js';

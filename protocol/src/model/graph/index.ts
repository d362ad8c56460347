export * from './types.js';
export * from './builder.js';
export * from './autodiff.js';
export * from './onnx.js';
export * as ops from './ops.js';
export type { GeluKind } from './ops-nn.js';

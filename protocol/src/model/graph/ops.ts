/** Every differentiable (and helper) op of the builder, imported as a namespace: `ops.matmul(g, a, b)`. */
export * from './ops-elementwise.js';
export * from './ops-shape.js';
export * from './ops-nn.js';

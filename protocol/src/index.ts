/**
 * @masha/protocol — pure TypeScript, no Node or DOM APIs. Each area re-exports from its own
 * barrel; add new modules to the barrel of their area, not here.
 */
export * from './errors.js';
export { closest, describeIssue, zodValidationError, type IssueContext } from './zod-errors.js';
export * from './rng/index.js';
export * from './vec/index.js';
export * from './linalg/index.js';
export * from './compress/index.js';
export * from './problems/index.js';
export * from './prox/index.js';
export * from './methods/index.js';
export * from './runner/index.js';
export * from './engine/index.js';
export * from './manifest/index.js';
export * from './frames/index.js';

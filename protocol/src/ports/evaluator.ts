import type { EvaluationRequest } from '../engine/types.js';

/**
 * Computes the operator evaluations of a device step (see `MethodInstance.planUplink`): writes
 * every `value` of every item of the request, then calls `complete(null)` — synchronously
 * (synthetic problems) or later (ONNX Runtime, a Web Worker, the simulator's compute model) — or
 * `complete(error)` if it cannot. `complete` must be called exactly once. The request's buffers
 * belong to the evaluator until then.
 */
export interface Evaluator {
  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void;
}

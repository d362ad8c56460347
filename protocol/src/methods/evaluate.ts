/**
 * Synchronous evaluation of a device step's planned operator evaluations from the problem itself:
 * what the reference runner does, and what an evaluator of a synthetic problem does.
 */
import type { Problem } from '../problems/types.js';
import type { PhaseName } from './types.js';
import type { Evaluation, MethodInstance, ReplicaState, ShardState, ShardWork, UplinkResult } from './types.js';

/** Writes every planned evaluation's value: F_m(point), or F_{m,sample}(point) (subtracted when `subtract`). */
export function evaluateFromProblem(problem: Problem, m: number, evaluations: readonly Evaluation[]): void {
  for (const e of evaluations) {
    const out = e.subtract ? new Float64Array(e.value.length) : e.value;
    if (e.sample === null) problem.operator(m, e.point, out);
    else problem.sampleOperator(m, e.sample, e.point, out);
    if (e.subtract) for (let i = 0; i < out.length; i++) e.value[i] -= out[i];
  }
}

/** plan → evaluate from the problem → finish: one device step, synchronously. */
export function uplinkFromProblem(
  method: MethodInstance,
  problem: Problem,
  replica: ReplicaState,
  shard: ShardState,
  work: ShardWork,
  m: number,
  phase: PhaseName,
): UplinkResult {
  evaluateFromProblem(problem, m, method.planUplink(replica, shard, work, m, phase));
  return method.finishUplink(replica, shard, work, m, phase);
}

/** Work vectors x0, v0, x1, v1 of length `dim` (two evaluations). */
export function twoEvaluationWork(dim: number): ShardWork {
  return { vectors: { x0: new Float64Array(dim), v0: new Float64Array(dim), x1: new Float64Array(dim), v1: new Float64Array(dim) } };
}

/** Work vectors x0, v0 of length `dim` (one evaluation). */
export function oneEvaluationWork(dim: number): ShardWork {
  return { vectors: { x0: new Float64Array(dim), v0: new Float64Array(dim) } };
}

/**
 * The evaluator of a synthetic problem: evaluates F_m / F_{m,i} from the `Problem` at once, in the
 * caller's thread (tests, the reference swarm, Node volunteers of bilinear and quadratic runs).
 */
import { evaluateFromProblem } from '../methods/evaluate.js';
import type { Problem } from '../problems/types.js';
import type { EvaluationRequest } from '../engine/types.js';
import { ValidationError } from '../errors.js';
import type { Evaluation, Vec } from '../methods/types.js';
import type { Evaluator } from '../ports/evaluator.js';

export class ProblemEvaluator implements Evaluator {
  /** Operator evaluations done so far. */
  evaluations = 0;

  constructor(readonly problem: Problem) {}

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    this.evaluations += evaluateRequest(this.problem, request);
    complete(null);
  }
}

/** Evaluates every item of a request from the problem; returns the number of evaluations. */
export function evaluateRequest(problem: Problem, request: EvaluationRequest): number {
  // Indexed loops: V8 compiles the inlined operator's inner loop markedly slower inside a for-of.
  let n = 0;
  const items = request.items;
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    evaluateFromProblem(problem, item.shard, float64Evaluations(item.evaluations));
    n += item.evaluations.length;
  }
  return n;
}

/** Synthetic problems compute in float64: a request of a float32 (model) method is refused. */
function float64Evaluations(evaluations: readonly Evaluation<Vec>[]): readonly Evaluation[] {
  for (let k = 0; k < evaluations.length; k++) {
    const e = evaluations[k];
    if (!(e.point instanceof Float64Array && e.value instanceof Float64Array))
      throw new ValidationError('evaluation', 'a synthetic problem evaluates float64 vectors only');
  }
  return evaluations as readonly Evaluation[];
}

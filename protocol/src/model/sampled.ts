/**
 * The operator a model run's evaluator computes, and the Evaluator port over it.
 *
 * A `SampledOperator` writes F_{m,s}(w) — the w-part of the adversarial operator on minibatch s of
 * shard m (batches keyed by the run's shared seed) — or subtracts it from the output. The tiny
 * ALBERT on ONNX Runtime (`ModelOperator`, asynchronous) and the pure-TypeScript softmax model
 * (`SoftmaxOperator`, synchronous: the simulator and the engine tests) both are one.
 */
import type { EvaluationRequest } from '../engine/types.js';
import { ValidationError } from '../errors.js';
import type { Evaluator } from '../ports/evaluator.js';

export interface SampledOperator {
  readonly dim: number;
  readonly shards: number;
  /** out ← F_{m,s}(point), or out −= F_{m,s}(point) when `subtract`. Calls must not overlap. */
  evaluate(shard: number, sample: number, point: Float32Array, out: Float32Array, subtract: boolean): unknown;
}

function isPromise(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * The Evaluator of a model run: the request's evaluations in order, one at a time (an evaluation
 * that subtracts needs the one before it). Completes synchronously when the operator does.
 */
export class OperatorEvaluator implements Evaluator {
  /** Operator evaluations done so far. */
  evaluations = 0;
  /** Wall time spent in evaluations (ms), with a clock. */
  busyMs = 0;

  constructor(
    readonly operator: SampledOperator,
    private readonly clock: () => number = () => 0,
  ) {}

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    const list: { shard: number; sample: number; point: Float32Array; value: Float32Array; subtract: boolean }[] = [];
    for (const item of request.items) {
      for (const e of item.evaluations) {
        if (!(e.point instanceof Float32Array && e.value instanceof Float32Array)) {
          complete(new ValidationError('evaluation', 'a model operator evaluates float32 vectors'));
          return;
        }
        if (e.sample === null) {
          complete(new ValidationError('evaluation.sample', 'a model operator evaluates minibatches (stochastic mode)'));
          return;
        }
        list.push({ shard: item.shard, sample: e.sample, point: e.point, value: e.value, subtract: e.subtract === true });
      }
    }
    const t0 = this.clock();
    let i = 0;
    const next = (): void => {
      try {
        while (i < list.length) {
          const e = list[i++];
          this.evaluations++;
          const r = this.operator.evaluate(e.shard, e.sample, e.point, e.value, e.subtract);
          if (isPromise(r)) {
            r.then(next, (err: unknown) => complete(err instanceof Error ? err : new Error(String(err))));
            return;
          }
        }
      } catch (err) {
        complete(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.busyMs += this.clock() - t0;
      complete(null);
    };
    next();
  }
}

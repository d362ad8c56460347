/**
 * An evaluator that runs its requests one after another: an operator's calls must not overlap (one
 * ONNX session per operator), and the engine may issue a request while a superseded one is still
 * computing. Between two requests it yields through `defer` (Node's `setImmediate`, a worker's
 * `setTimeout(…, 0)`) so that the engine reacts to an answer before the next computation starts.
 * Shared by the Node volunteer and the page's worker (the adapters pass only `defer`).
 */
import type { EvaluationRequest } from '../engine/types.js';
import type { Evaluator } from '../ports/evaluator.js';

export type Defer = (fn: () => void) => void;

export class SerialEvaluator<E extends Evaluator = Evaluator> implements Evaluator {
  private readonly queue: { request: EvaluationRequest; complete: (error: Error | null) => void }[] = [];
  private busy = false;

  constructor(
    readonly inner: E,
    private readonly defer: Defer,
  ) {}

  /** Requests waiting behind the one computing. */
  get pending(): number {
    return this.queue.length;
  }

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    this.queue.push({ request, complete });
    if (!this.busy) this.next();
  }

  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.busy = false;
      return;
    }
    this.busy = true;
    this.inner.evaluate(job.request, (error) => {
      job.complete(error);
      this.defer(() => this.next());
    });
  }
}

/**
 * Evaluation<Vec> buffers (`ShardWork<Vec>`) lent to device steps and given back when the evaluation is
 * over: one pool per run context, so the peers of one process (a simulator runs thousands) reuse a
 * few buffers that stay hot in the cache instead of each holding its own. A buffer is given back
 * only once its evaluator has completed (the evaluator may write into it until then). The methods'
 * work buffers have the same shape for every shard.
 */
import type { Vec, AnyMethod, ShardWork } from '../methods/types.js';

export class WorkPool {
  private readonly free: ShardWork<Vec>[] = [];

  constructor(private readonly method: AnyMethod) {}

  take(m: number): ShardWork<Vec> {
    return this.free.pop() ?? this.method.initWork(m);
  }

  give(work: ShardWork<Vec>): void {
    this.free.push(work);
  }
}

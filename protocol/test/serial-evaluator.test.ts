import { describe, expect, it } from 'vitest';
import { SerialEvaluator } from '../src/model/serial-evaluator.js';
import type { EvaluationRequest } from '../src/engine/types.js';
import type { Evaluator } from '../src/ports/evaluator.js';

/** An evaluator whose calls finish only when the test says so; records overlap. */
class Manual implements Evaluator {
  readonly started: number[] = [];
  readonly waiting: (() => void)[] = [];
  running = 0;
  maxRunning = 0;
  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    this.started.push(request.id);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.waiting.push(() => {
      this.running--;
      complete(request.id === 2 ? new Error('boom') : null);
    });
  }
}

const req = (id: number): EvaluationRequest => ({ id, iteration: 0, phase: 'init', items: [] });

describe('SerialEvaluator', () => {
  it('runs requests one at a time, in order, yielding between them, and passes errors through', () => {
    const inner = new Manual();
    const deferred: (() => void)[] = [];
    const serial = new SerialEvaluator(inner, (fn) => deferred.push(fn));
    const done: [number, string | null][] = [];
    for (const id of [1, 2, 3]) serial.evaluate(req(id), (e) => done.push([id, e === null ? null : e.message]));
    expect(inner.started).toEqual([1]);
    expect(serial.pending).toBe(2);
    inner.waiting.shift()!();
    // Completed, but the next one waits for the deferred step (the engine reacts first).
    expect(done).toEqual([[1, null]]);
    expect(inner.started).toEqual([1]);
    deferred.shift()!();
    expect(inner.started).toEqual([1, 2]);
    inner.waiting.shift()!();
    deferred.shift()!();
    inner.waiting.shift()!();
    deferred.shift()!();
    expect(done).toEqual([
      [1, null],
      [2, 'boom'],
      [3, null],
    ]);
    expect(inner.maxRunning).toBe(1);
    expect(serial.pending).toBe(0);
    // Idle again: a new request starts at once.
    serial.evaluate(req(4), () => done.push([4, null]));
    expect(inner.started).toEqual([1, 2, 3, 4]);
  });
});

// Computation is an effect: evaluators may answer at once or later (ONNX Runtime, a Web Worker).
// An evaluator that answers after a random delay within the round deadline must leave the run
// bit-identical to the reference runner; one whose answers sometimes arrive after the round was
// superseded must have those answers dropped and counted, and the run still reach its target on
// one lineage.
import { describe, expect, it } from 'vitest';
import type { EvaluationRequest } from '../src/engine/types.js';
import { evaluateRequest } from '../src/host/problem-evaluator.js';
import { buildRun, runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import type { Evaluator } from '../src/ports/evaluator.js';
import type { Problem } from '../src/problems/types.js';
import { keyedRng } from '../src/rng/streams.js';
import { ReferenceDriver } from '../src/runner/reference.js';
import { commitSequenceProblems, TestSwarm } from './engine-driver.js';

const DEADLINE = 100;

const manifest = parseManifest({
  problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
  method: { name: 'masha1', gamma: 0.5 },
  compressors: { device: 'randk:0.25' },
  stop: { iterations: 60 },
  network: { heartbeatMs: 50, leaseMs: 400, roundDeadlineMs: DEADLINE },
  seed: 5,
});

/**
 * Answers each request after a delay drawn by `delayOf` (virtual ms), computing the values only
 * then — so a host that read or reused the request's buffers meanwhile would be caught.
 */
function delayedEvaluator(problem: Problem, swarm: TestSwarm, delayOf: (request: EvaluationRequest) => number): Evaluator {
  return {
    evaluate(request, complete) {
      swarm.at(swarm.now + delayOf(request), () => {
        evaluateRequest(problem, request);
        complete(null);
      });
    },
  };
}

function referenceTrajectory(iterations: number): Float64Array[] {
  const built = buildRun(manifest);
  const driver = new ReferenceDriver(built.method, built.problem, built.problem.initialPoint());
  driver.initialize();
  const out: Float64Array[] = [];
  for (let k = 0; k < iterations; k++) {
    driver.runIteration();
    out.push(built.method.iterate(driver.replica).slice());
  }
  return out;
}

describe('asynchronous evaluators', () => {
  it('answers after a random delay within the deadline: the run equals the reference runner bit for bit', () => {
    const run = runFromManifest(manifest);
    const trajectory: Float64Array[] = [];
    let delayed = 0;
    const swarm: TestSwarm = new TestSwarm(run, {
      evaluator: (id, problem, s) => {
        const rng = keyedRng(17, 0, `test:delay:${id}`, 0);
        return delayedEvaluator(problem, s, () => {
          delayed++;
          return 1 + rng.nextFloat53() * (DEADLINE / 2);
        });
      },
      onAction: (node) => {
        if (node.id !== 'p2') return;
        const r = node.peer.replica;
        if (r.initialized && r.iteration > trajectory.length) trajectory.push(Float64Array.from(run.ctx.method.iterate(r)));
      },
    });
    for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
    swarm.run(120_000, () => swarm.alive().every((n) => n.done !== null));
    const ref = referenceTrajectory(manifest.stop.iterations);
    expect(delayed).toBeGreaterThan(100);
    expect(trajectory.length).toBe(ref.length);
    for (let k = 0; k < ref.length; k++) expect(Array.from(trajectory[k])).toEqual(Array.from(ref[k]));
    for (const n of swarm.alive()) {
      expect(n.done).toBe('iterations');
      expect(commitSequenceProblems(n)).toEqual([]);
      expect(n.peer.counters['stale-evaluation'] ?? 0).toBe(0);
    }
    expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
  });

  it('answers that arrive after their round was superseded are dropped and counted; the run still converges', () => {
    const m = parseManifest({ ...manifest, stop: { iterations: 5000, target: 1e-6 }, network: { ...manifest.network, quorum: 0.5 } });
    const run = runFromManifest(m);
    let late = 0;
    const swarm: TestSwarm = new TestSwarm(run, {
      evaluator: (id, problem, s) =>
        delayedEvaluator(problem, s, (request) => {
          // p3 answers every 4th compressed round long after the deadline: the aggregator commits
          // without it (quorum 0.5) and p3's answer comes back for a state that has moved on.
          if (id === 'p3' && request.phase === 'diff' && request.iteration % 4 === 1) {
            late++;
            return 3 * DEADLINE;
          }
          return 2;
        }),
    });
    for (const id of ['p1', 'p2', 'p3', 'p4']) swarm.add(id, 0);
    swarm.run(600_000, () => swarm.alive().every((n) => n.done !== null));
    expect(late).toBeGreaterThan(10);
    const p3 = swarm.node('p3');
    expect(p3.peer.counters['stale-evaluation'] ?? 0).toBeGreaterThan(5);
    for (const n of swarm.alive()) {
      expect(n.done).toBe('target');
      expect(n.peer.relDist() as number).toBeLessThanOrEqual(1e-6);
      expect(commitSequenceProblems(n)).toEqual([]);
    }
    expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
  });

  it('a failed evaluation is counted and its shards miss the round; they move after missLimit misses', () => {
    const m = parseManifest({ ...manifest, stop: { iterations: 5000, target: 1e-6 } });
    const run = runFromManifest(m);
    const swarm: TestSwarm = new TestSwarm(run, {
      evaluator: (id, problem) => ({
        evaluate(request, complete) {
          if (id === 'p3') complete(new Error('the GPU fell off the bus'));
          else {
            evaluateRequest(problem, request);
            complete(null);
          }
        },
      }),
    });
    for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
    swarm.run(600_000, () => ['p1', 'p2'].every((id) => swarm.node(id).done !== null));
    const p3 = swarm.node('p3');
    expect(p3.peer.counters['evaluation-failed'] ?? 0).toBeGreaterThan(0);
    // p3 holds nothing at the end: its shards went to the peers whose evaluations work.
    expect(p3.peer.snapshot().held).toEqual([]);
    for (const id of ['p1', 'p2']) expect(swarm.node(id).peer.relDist() as number).toBeLessThanOrEqual(1e-6);
  });

  it('an evaluation that returns ±∞ is counted as failed, never thrown out of the host, and its shards move', () => {
    // A diverged model or a float16 overflow on a GPU: the values cannot be sent (the compressor
    // refuses them); the device answers nothing for those shards instead of crashing the volunteer.
    for (const device of ['identity', 'randk:0.25', 'natural']) {
      const m = parseManifest({ ...manifest, compressors: { device }, stop: { iterations: 5000, target: 1e-6 } });
      const run = runFromManifest(m);
      const swarm: TestSwarm = new TestSwarm(run, {
        evaluator: (id, problem) => ({
          evaluate(request, complete) {
            evaluateRequest(problem, request);
            if (id === 'p3') for (const item of request.items) for (const e of item.evaluations) e.value.fill(Number.NEGATIVE_INFINITY);
            complete(null);
          },
        }),
      });
      for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
      swarm.run(600_000, () => ['p1', 'p2'].every((id) => swarm.node(id).done !== null));
      const p3 = swarm.node('p3');
      expect(p3.peer.counters['evaluation-failed'] ?? 0, device).toBeGreaterThan(0);
      expect(p3.peer.snapshot().held, device).toEqual([]);
      for (const id of ['p1', 'p2']) expect(swarm.node(id).peer.relDist() as number, device).toBeLessThanOrEqual(1e-6);
    }
  });
});

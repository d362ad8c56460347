// Running bounds (issue 14, tasks without Lipschitz constants, e.g. models): per shard, answers
// above factor × the median of that shard's recent answer norms are clipped. Real engines (PeerHost)
// in the tiny test runtime; the problem is a bilinear game whose L_m the engine is *not* told, as a
// model's would not be.
import { describe, expect, it } from 'vitest';
import { createRunContext } from '../src/engine/context.js';
import type { GuardSettings } from '../src/engine/guard.js';
import { ProblemEvaluator } from '../src/host/problem-evaluator.js';
import { runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import type { Evaluator } from '../src/ports/evaluator.js';
import { TestSwarm } from './engine-driver.js';

const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p10'];
/** When the sleeper starts lying: after this many honest rounds (the run needs a few thousand). */
const WAKE = 200;

function swarm(trust: Partial<GuardSettings>, liar: number | null): TestSwarm {
  const run = runFromManifest(
    parseManifest({
      problem: { kind: 'bilinear', d: 20, M: 10, seed: 1 },
      method: { name: 'masha1' },
      stop: { iterations: 4000, target: 1e-5 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
      seed: 5,
    }),
  );
  const c = run.ctx;
  const ctx = createRunContext({
    runId: c.runId,
    method: c.method,
    z0: c.z0,
    solution: c.solution,
    maxIterations: c.maxIterations,
    target: c.target,
    quorum: c.quorum,
    timing: c.timing,
    guard: { shards: null, ...trust },
  });
  const s: TestSwarm = new TestSwarm(
    { ctx, problem: run.problem },
    {
      evaluator: (id, problem): Evaluator => {
        const honest = new ProblemEvaluator(problem);
        if (id !== 'p4' || liar === null) return honest;
        // A sleeper: honest for WAKE rounds, then every value scaled (while it does not aggregate: a
        // lying aggregator is the business of signed commits and certified epochs, not of bounds).
        return {
          evaluate(request, complete) {
            honest.evaluate(request, (err) => {
              if (s.node(id).peer.committedRound >= WAKE && !s.node(id).peer.isAggregator)
                for (const item of request.items) for (const e of item.evaluations) for (let i = 0; i < e.value.length; i++) e.value[i] *= liar;
              complete(err);
            });
          },
        };
      },
    },
  );
  for (const id of ids) s.add(id, 0);
  s.run(120_000, () => s.alive().every((n) => n.done !== null));
  return s;
}

function counter(s: TestSwarm, name: string): number {
  let n = 0;
  for (const node of s.alive()) n += (node.peer.counters as Record<string, number>)[name] ?? 0;
  return n;
}

function relDist(s: TestSwarm): number {
  return Math.min(...s.alive().map((n) => n.peer.relDist() as number));
}

describe('running bounds', () => {
  it('never clip an honest run', () => {
    const s = swarm({ bounds: 'running' }, null);
    expect(s.alive().every((n) => n.done === 'target')).toBe(true);
    expect(counter(s, 'clipped')).toBe(0);
  });

  it('keep a sleeper scaling its answers ×10⁶ from diverging the run; an audit then bans it', () => {
    let diverged: boolean;
    try {
      diverged = relDist(swarm({ bounds: 'off' }, 1e6)) > 1;
    } catch (e) {
      // The iterate left the float32 range: honest peers can no longer encode their answers.
      diverged = String(e).includes('float32 range');
    }
    expect(diverged).toBe(true);

    const clipped = swarm({ bounds: 'running' }, 1e6);
    expect(counter(clipped, 'clipped')).toBeGreaterThan(10);
    // Bounded damage: the run does not diverge (the iterate ends closer to the solution than it
    // started), though it misses the target — the clipped lies (8× the shard's median) still bias
    // the aggregate, which is what audits are for.
    expect(relDist(clipped), String(counter(clipped, 'clipped'))).toBeLessThan(1);
    expect(clipped.alive().some((n) => n.done === 'target')).toBe(false);

    const audited = swarm({ bounds: 'running', audit: 0.2 }, 1e6);
    expect(counter(audited, 'banned')).toBe(1);
    expect(
      audited.alive().every((n) => n.done === 'target'),
      String(relDist(audited)),
    ).toBe(true);
  });
});

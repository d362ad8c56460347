import { describe, expect, it } from 'vitest';
import { uplinkFromProblem } from '../src/methods/evaluate.js';
import { sumUplinks } from '../src/methods/common.js';
import type { PhaseName } from '../src/methods/types.js';
import {
  abFromOmega,
  createMethod,
  generatePermkQuadratic,
  Marina,
  marinaAb,
  marinaStepsize,
  parseCompressor,
  permk,
  theoryStepsize,
  type MethodInstance,
  type Problem,
  type ReplicaState,
  type ShardState,
} from './internals.js';
import { FLAG_REFRESH } from '../src/methods/types.js';

interface Trace {
  replica: ReplicaState;
  phases: string[];
  uplinkBits: number;
}

/** Minimal single-process driver: every shard answers every phase. */
function drive(method: MethodInstance, problem: Problem, iterations: number, force: (k: number) => boolean = () => false): Trace {
  const replica = method.initReplica(problem.initialPoint());
  const shards: ShardState[] = Array.from({ length: problem.shards }, (_, m) => method.initShard(m));
  const works = Array.from({ length: problem.shards }, (_, m) => method.initWork(m));
  const server = method.initServer();
  const phases: string[] = [];
  let uplinkBits = 0;
  while (replica.iteration < iterations) {
    let phase: PhaseName | null = method.startPhase(replica);
    const k = replica.iteration;
    while (phase !== null) {
      phases.push(phase);
      const results = shards.map((s, m) => uplinkFromProblem(method, problem, replica, s, works[m], m, phase as PhaseName));
      for (const r of results) uplinkBits += r.payload.bits;
      const down = method.serverAggregate(
        server,
        replica,
        phase,
        sumUplinks(
          method,
          replica,
          phase,
          results.map((r, m) => ({ shard: m, payload: r.payload })),
          new Float64Array(method.dim),
        ),
        { forceRefresh: phase === 'diff' && force(k) },
      );
      for (const m of down.included) if (results[m].shard) shards[m] = results[m].shard;
      phase = method.deviceApply(replica, phase, down);
    }
  }
  return { replica, phases, uplinkBits };
}

function relDist(x: Float64Array, xs: Float64Array, x0: Float64Array): number {
  let a = 0;
  let b = 0;
  for (let i = 0; i < x.length; i++) {
    a += (x[i] - xs[i]) ** 2;
    b += (x0[i] - xs[i]) ** 2;
  }
  return a / b;
}

describe('MARINA', () => {
  // Well-conditioned convex instance: λ_min(Ā) = 0.05, all ν_i > 0 at s = 0.2 for this seed.
  const { problem, constants } = generatePermkQuadratic({ d: 24, n: 6, s: 0.2, seed: 5, lambda: 0.05 });
  const xs = problem.solution() as Float64Array;
  const x0 = problem.initialPoint();

  for (const spec of ['permk', 'randk:k=4']) {
    it(`converges to the closed-form minimiser with ${spec} at the theory stepsize`, () => {
      const device = parseCompressor(spec);
      const p = 4 / 24;
      const gamma = marinaStepsize(constants, p, marinaAb(device, 24, 6));
      const method = createMethod('marina', { problem, seed: 3, gamma, device, p } as Parameters<typeof createMethod>[1]);
      const { replica } = drive(method, problem, 3000);
      expect(relDist(method.iterate(replica), xs, x0)).toBeLessThan(1e-9);
      const g = problem.operator.bind(problem);
      // g^k tracks ∇f(x^k) (MARINA's estimator) at the end.
      const grad = new Float64Array(24);
      const tmp = new Float64Array(24);
      for (let m = 0; m < 6; m++) {
        g(m, method.iterate(replica), tmp);
        for (let i = 0; i < 24; i++) grad[i] += tmp[i] / 6;
      }
      let err = 0;
      for (let i = 0; i < 24; i++) err += (replica.vectors.g[i] - grad[i]) ** 2;
      expect(err).toBeLessThan(1e-12);
    });
  }

  it('full rounds happen with probability p (shared coin), and cost 32d bits per device', () => {
    const p = 0.2;
    const method = new Marina({ problem, seed: 9, gamma: 0.5, device: permk(), p });
    const { phases, uplinkBits } = drive(method, problem, 2000);
    const full = phases.filter((ph) => ph === 'full').length;
    const diff = phases.filter((ph) => ph === 'diff').length;
    expect(full + diff).toBe(2000);
    // Binomial(2000, 0.2): sd ≈ 17.9; allow 4 sd.
    expect(Math.abs(full - 400)).toBeLessThan(72);
    // init + full rounds: 6 devices × 24 float32; diff rounds: PermK blocks of 4 values each.
    expect(uplinkBits).toBe((1 + full) * 6 * 32 * 24 + diff * 6 * 32 * 4);
  });

  it('with identical devices (s = 0) PermK makes MARINA exactly gradient descent (up to float32 payload rounding)', () => {
    const hom = generatePermkQuadratic({ d: 30, n: 5, s: 0, seed: 1, lambda: 0.05 });
    const gamma = 1 / hom.constants.Lminus;
    const method = new Marina({ problem: hom.problem, seed: 2, gamma, device: permk(), p: 0.01 });
    const { replica, phases } = drive(method, hom.problem, 200);
    expect(phases.filter((p) => p === 'diff').length).toBeGreaterThan(190);
    const x = hom.problem.initialPoint();
    for (let k = 0; k < 200; k++) {
      const g = hom.problem.gradient(x);
      for (let i = 0; i < 30; i++) x[i] -= gamma * g[i];
    }
    const xm = method.iterate(replica);
    let err = 0;
    let nrm = 0;
    for (let i = 0; i < 30; i++) {
      err += (xm[i] - x[i]) ** 2;
      nrm += x[i] * x[i];
    }
    expect(err / nrm).toBeLessThan(1e-12);
  });

  it('forceRefresh turns a compressed round into a full one (g = ∇f(x^{k+1}) afterwards)', () => {
    const method = new Marina({ problem, seed: 4, gamma: 0.3, device: permk(), p: 0.05 });
    const { replica, phases } = drive(method, problem, 10, (k) => k === 6);
    // Iteration 6's phases: 'diff' answered with FLAG_REFRESH, then 'full'.
    const i = phases.indexOf('full');
    expect(i).toBeGreaterThan(0);
    expect(phases[i - 1]).toBe('diff');
    expect(FLAG_REFRESH).toBe(1);
    expect(replica.iteration).toBe(10);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const run = (seed: number) => {
      const method = new Marina({ problem, seed, gamma: 0.2, device: parseCompressor('randk:k=3'), p: 0.1 });
      return Array.from(method.iterate(drive(method, problem, 50).replica));
    };
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
  });
});

describe('MARINA theory stepsize', () => {
  it('PermK at s = 0 (L_± = 0) gives 1/L₋; independent compressors use A = ω/n, B = 0', () => {
    const s = { Lminus: 2, Lplus: 3, Lpm: 0 };
    expect(marinaStepsize(s, 0.01, { A: 1, B: 1 })).toBeCloseTo(0.5, 15);
    const ab = abFromOmega(9, 10);
    expect(ab).toEqual({ A: 0.9, B: 0 });
    expect(marinaStepsize(s, 0.1, ab)).toBeCloseTo(1 / (2 + Math.sqrt(9 * 0.9 * 9)), 15);
  });

  it('reproduces the claimed theory ratios at d = n = 1000: ≈ 33× at s = 0, ≈ 1.6× at s = 0.8', () => {
    const d = 1000;
    const n = 1000;
    const p = 1 / n;
    const ratio = (s: number) => {
      const { constants } = generatePermkQuadratic({ d, n, s, seed: 1 });
      const gP = marinaStepsize(constants, p, marinaAb(permk(), d, n));
      const gR = marinaStepsize(constants, p, marinaAb(parseCompressor('randk:k=1'), d, n));
      return gP / gR;
    };
    expect(ratio(0)).toBeGreaterThan(31);
    expect(ratio(0)).toBeLessThan(34);
    expect(ratio(0.8)).toBeGreaterThan(1.3);
    expect(ratio(0.8)).toBeLessThan(1.9);
  });

  it("theoryStepsize('marina') uses the quadratic's L₋, L₊, L_± and p = β by default", () => {
    const { problem, constants } = generatePermkQuadratic({ d: 100, n: 10, s: 0.3, seed: 2 });
    const device = parseCompressor('randk:k=10');
    expect(theoryStepsize('marina', { problem, device })).toBeCloseTo(marinaStepsize(constants, 0.1, { A: 0.9, B: 0 }), 15);
    expect(theoryStepsize('marina', { problem, device: permk() })).toBeCloseTo(marinaStepsize(constants, 0.1, { A: 1, B: 1 }), 15);
  });
});

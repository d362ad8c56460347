import { describe, expect, it } from 'vitest';
import { uplinkFromProblem } from '../src/methods/evaluate.js';
import { sumUplinks } from '../src/methods/common.js';
import type { PhaseName } from '../src/methods/types.js';
import { generateBilinear } from '../src/problems/bilinear.js';
import { parseCompressor } from '../src/compress/registry.js';
import { createMethod } from '../src/methods/registry.js';
import { masha1Stepsize, masha2Stepsize, masha1Cq, efAmplification, egStepsize } from '../src/methods/stepsize.js';
import { ReferenceDriver, runReference } from '../src/runner/reference.js';
import { parseProx } from '../src/prox/registry.js';
import { BilinearProblem } from '../src/problems/bilinear.js';
import { ValidationError } from '../src/errors.js';
import { FLAG_REFRESH } from '../src/methods/types.js';
import { keyedRng, SERVER, Streams } from '../src/rng/streams.js';
import type { MethodInstance } from '../src/methods/types.js';

const small = generateBilinear({ d: 10, M: 4, lambda: 0.1, heterogeneity: 0.5, seed: 1 });
const distSq = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);

function relDistAfter(method: MethodInstance, iterations: number, target = 0): { rel: number; iterations: number; reached: boolean } {
  const r = runReference({ problem: small, method, iterations, target, recordEvery: iterations });
  return { rel: r.records[r.records.length - 1].relDist as number, iterations: r.iterations, reached: r.reached };
}

describe('MASHA1', () => {
  it('deterministic, RandK 25%: converges to the closed-form solution (relative squared distance ≤ 1e-12)', () => {
    const m = createMethod('masha1', { problem: small, seed: 3, gamma: 0.5, device: parseCompressor('randk:0.25') });
    expect(m.tau).toBeCloseTo(1 - parseCompressor('randk:0.25').constants(20, 4).beta, 12);
    const r = relDistAfter(m, 4000, 1e-12);
    expect(r.reached).toBe(true);
    expect(r.rel).toBeLessThanOrEqual(1e-12);
  });

  it('deterministic, natural dithering, with a RandK server compressor: converges (≤ 1e-10)', () => {
    const m = createMethod('masha1', {
      problem: small,
      seed: 4,
      gamma: 0.3,
      device: parseCompressor('dither:p=2,s=8'),
      server: parseCompressor('randk:0.5'),
    });
    const r = relDistAfter(m, 6000, 1e-10);
    expect(r.reached).toBe(true);
  });

  it('stochastic (finite sum r = 5, one sampled F_{m,π} per difference): converges (≤ 1e-10)', () => {
    const p = generateBilinear({ d: 10, M: 4, lambda: 0.1, heterogeneity: 0.5, samples: 5, sampleSpread: 0.5, seed: 2 });
    const device = parseCompressor('randk:0.5');
    const m = createMethod('masha1', { problem: p, seed: 5, gamma: 0.3, device, stochastic: true });
    // τ = 1 − min(1/r, β): β(randk:0.5) ≥ 1/2 > 1/5.
    expect(m.tau).toBeCloseTo(1 - 1 / 5, 12);
    const r = runReference({ problem: p, method: m, iterations: 8000, target: 1e-10, recordEvery: 1000 });
    expect(r.reached).toBe(true);
    expect(r.records[r.records.length - 1].relDist).toBeLessThanOrEqual(1e-10);
  });

  it('with a ball constraint: converges to the constrained solution (fixed-point residual ≤ 1e-6·‖F(z)‖)', () => {
    const zs = small.solution()!;
    const radius = 0.5 * Math.sqrt(distSq(zs, new Float64Array(zs.length)));
    const prox = parseProx(`ball:r=${radius}`);
    const m = createMethod('masha1', { problem: small, seed: 6, gamma: 0.3, device: parseCompressor('randk:0.5'), prox });
    const r = runReference({ problem: small, method: m, iterations: 3000, recordEvery: 3000 });
    const z = r.z;
    expect(Math.sqrt(distSq(z, new Float64Array(z.length)))).toBeCloseTo(radius, 8); // active constraint
    // z solves the VI iff z = P(z − F(z)).
    const F = new Float64Array(z.length);
    const t = new Float64Array(z.length);
    for (let mm = 0; mm < small.shards; mm++) {
      small.operator(mm, z, t);
      for (let i = 0; i < z.length; i++) F[i] += t[i] / small.shards;
    }
    const v = z.map((x, i) => x - F[i]);
    const pz = prox.apply(v, 1, new Float64Array(z.length));
    // F(z*) ≠ 0 on an active constraint, so the float32 rounding of the full F(w) exchanges leaves a
    // floor of about 1e-8·‖F‖ (measured 1.5e-8); 1e-6 leaves room while excluding a wrong answer.
    expect(Math.sqrt(distSq(pz, z))).toBeLessThan(1e-6 * Math.sqrt(distSq(F, new Float64Array(F.length))));
  });

  it('rejects contractive compressors and unknown phases', () => {
    expect(() => createMethod('masha1', { problem: small, seed: 1, gamma: 0.1, device: parseCompressor('topk:0.3') })).toThrow(ValidationError);
    const m = createMethod('masha1', { problem: small, seed: 1, gamma: 0.1, device: parseCompressor('randk:0.5') });
    expect(() => m.phase('full')).toThrow(ValidationError); // MARINA's phase, not MASHA's
    expect(() => createMethod('masha1', { problem: small, seed: 1, gamma: 0.1, device: parseCompressor('randk:0.5'), stochastic: true })).toThrow(/finite-sum/);
    expect(() => createMethod('masha1', { problem: small, seed: 1, gamma: -1, device: parseCompressor('randk:0.5') })).toThrow(ValidationError);
    expect(() => createMethod('masha1', { problem: small, seed: 1, gamma: 0.1, tau: 1, device: parseCompressor('randk:0.5') })).toThrow(ValidationError);
    expect(() => createMethod('nope', { problem: small, seed: 1, gamma: 0.1, device: parseCompressor('identity') })).toThrow(/unknown method/);
  });
});

describe('MASHA2', () => {
  it('Top 30% with error feedback: converges to the closed-form solution (≤ 1e-10)', () => {
    const m = createMethod('masha2', { problem: small, seed: 7, gamma: 0.4, device: parseCompressor('topk:0.3') });
    const r = relDistAfter(m, 4000, 1e-10);
    expect(r.reached).toBe(true);
  });

  it('with a contractive server compressor (server error feedback) and the finite-sum mode: converges (≤ 1e-8)', () => {
    const p = generateBilinear({ d: 10, M: 4, lambda: 0.1, heterogeneity: 0.5, samples: 4, seed: 8 });
    const m = createMethod('masha2', {
      problem: p,
      seed: 9,
      gamma: 0.3,
      device: parseCompressor('topk:0.5'),
      server: parseCompressor('topk:0.5'),
      stochastic: true,
    });
    const r = runReference({ problem: p, method: m, iterations: 8000, target: 1e-8, recordEvery: 1000 });
    expect(r.reached).toBe(true);
  });

  it('converges at its (reconstructed) theory stepsize: relative squared distance ≤ 1e-5 after 400 iterations', () => {
    const p = generateBilinear({ d: 6, M: 3, lambda: 1, spectrum: [0.1, 0.5], heterogeneity: 0.5, seed: 10 });
    const device = parseCompressor('topk:0.5');
    const gamma = masha2Stepsize({ problem: p, device });
    const m = createMethod('masha2', { problem: p, seed: 11, gamma, device });
    const r = runReference({ problem: p, method: m, iterations: 400, recordEvery: 400 });
    expect(r.records[r.records.length - 1].relDist).toBeLessThan(1e-5);
  });

  it('is unconstrained: rejects a prox', () => {
    expect(() => createMethod('masha2', { problem: small, seed: 1, gamma: 0.1, device: parseCompressor('topk:0.3'), prox: parseProx('ball:r=1') })).toThrow(
      /unconstrained/,
    );
  });
});

describe('theory stepsizes', () => {
  // One device, A = diag(1..4): ‖A‖ = 4, λ = 0.5 ⇒ L = 4.5, μ = 0.5.
  const diag = new Float64Array(16);
  for (let i = 0; i < 4; i++) diag[i * 5] = i + 1;
  const p = new BilinearProblem({
    d: 4,
    M: 2,
    lambda: 0.5,
    A: [diag, diag],
    a: [new Float64Array(4), new Float64Array(4)],
    b: [new Float64Array(4), new Float64Array(4)],
  });

  it('MASHA1: C_q and γ = min{√(1−τ)/(4C_q), (1−τ)/(4μ)} by hand', () => {
    const device = parseCompressor('randk:0.5'); // q = d/K = 2 for dim 8
    const q = device.constants(8, 2).q as number;
    const L = 4.5;
    const Cq = Math.sqrt((1 / 4) * 2 * (q + 2 - 1) * L * L);
    expect(masha1Cq(p, device)).toBeCloseTo(Cq, 4);
    const tau = 0.75;
    expect(masha1Stepsize({ problem: p, device, tau })).toBeCloseTo(Math.min(Math.sqrt(0.25) / (4 * Cq), 0.25 / (4 * 0.5)), 5);
    // μ_h of a strongly convex prox enters the second term.
    const g = masha1Stepsize({ problem: p, device, tau: 0.99, prox: parseProx('l2:mu=2') });
    expect(g).toBeCloseTo(Math.min(0.1 / (4 * Cq), 0.01 / (4 * 2.5)), 6);
  });

  it('MASHA2 reduces to MASHA1 with identity compressors; EG is 1/L', () => {
    const id = parseCompressor('identity');
    expect(efAmplification(1)).toBe(1);
    expect(masha2Stepsize({ problem: p, device: id, tau: 0.5 })).toBeCloseTo(masha1Stepsize({ problem: p, device: id, tau: 0.5 }), 10);
    expect(egStepsize({ problem: p, device: id })).toBeCloseTo(1 / 4.5, 5);
    expect(() => masha1Cq(p, parseCompressor('topk:0.5'))).toThrow(ValidationError);
  });
});

describe('MASHA1 Lyapunov decrease at the theory stepsize (Theorem 1)', () => {
  it('E V_k ≤ (1 − γμ/16)^(k−1) V_0 for all k ≤ 400, mean over 12 seeds, slack 1.25', () => {
    // A small strongly monotone instance where the bound is not vacuous: μ = λ = 1, ‖A_m‖ ≤ 0.5.
    const p = generateBilinear({ d: 5, M: 3, lambda: 1, spectrum: [0.1, 0.5], heterogeneity: 1, seed: 12 });
    const device = parseCompressor('randk:0.2');
    const gamma = masha1Stepsize({ problem: p, device });
    const zs = p.solution()!;
    const K = 400;
    const seeds = 12;
    const meanV = new Float64Array(K + 1);
    let tau = 0;
    for (let s = 0; s < seeds; s++) {
      const m = createMethod('masha1', { problem: p, seed: 100 + s, gamma, device });
      tau = m.tau;
      const drv = new ReferenceDriver(m, p, p.initialPoint());
      drv.initialize();
      const V = () => tau * distSq(drv.replica.vectors.z, zs) + distSq(drv.replica.vectors.w, zs);
      meanV[0] += V() / seeds;
      for (let k = 1; k <= K; k++) {
        drv.runIteration();
        meanV[k] += V() / seeds;
      }
    }
    const rate = 1 - (gamma * p.strongMonotonicity) / 16;
    expect(rate).toBeLessThan(1);
    for (let k = 1; k <= K; k++) {
      expect(meanV[k]).toBeLessThanOrEqual(1.25 * rate ** (k - 1) * meanV[0]);
    }
    // And it actually converges, far beyond what the bound promises at k = K.
    expect(meanV[K] / meanV[0]).toBeLessThan(0.1 * rate ** (K - 1));
  });
});

describe('bit accounting and protocol details', () => {
  it('MASHA1 iteration: uplink = M × compressor bits (+ 32·dim per device when b_k = 1); downlink = server bits + 1 flag bit', () => {
    const device = parseCompressor('randk:0.2');
    const m = createMethod('masha1', { problem: small, seed: 21, gamma: 0.3, device });
    const n = small.dim;
    const M = small.shards;
    const drv = new ReferenceDriver(m, small, small.initialPoint());
    drv.initialize();
    expect(drv.uplinkBits).toBe(M * 32 * n); // F_m(w⁰) from every device
    expect(drv.downlinkBits).toBe(32 * n); // F(w⁰)
    const streams = new Streams(21);
    const probe = device.compress(new Float64Array(n).fill(1), {
      streams,
      round: 0,
      purpose: 'probe',
      device: 0,
      devices: M,
      local: streams.rng(0, 'probe-local', 0),
    });
    const diffBits = probe.bits;
    expect(diffBits).toBeLessThan(32 * n);
    let refreshes = 0;
    for (let k = 0; k < 60; k++) {
      const up = drv.uplinkBits;
      const down = drv.downlinkBits;
      const stamp = drv.replica.vectors.wStamp[0];
      drv.runIteration();
      const refreshed = drv.replica.vectors.wStamp[0] !== stamp;
      if (refreshed) refreshes++;
      expect(drv.uplinkBits - up).toBe(M * diffBits + (refreshed ? M * 32 * n : 0));
      expect(drv.downlinkBits - down).toBe(32 * n + 1 + (refreshed ? 32 * n : 0));
    }
    // b_k = 1 with probability 1 − τ = β: 60 draws, expect about 60β refreshes.
    expect(refreshes).toBeGreaterThan(0);
    expect(refreshes).toBeLessThan(60);
  });

  it('the refresh bit comes from the shared coin stream (seed, k, "coin", SERVER) and forceRefresh sets it', () => {
    const m = createMethod('masha1', { problem: small, seed: 22, gamma: 0.3, device: parseCompressor('randk:0.5') });
    const drv = new ReferenceDriver(m, small, small.initialPoint());
    drv.initialize();
    const flags: number[] = [];
    for (let k = 0; k < 40; k++) {
      const stamp = drv.replica.vectors.wStamp[0];
      drv.runIteration();
      flags.push(drv.replica.vectors.wStamp[0] !== stamp ? 1 : 0);
    }
    const expected = flags.map((_, k) => (keyedRng(22, k, 'coin', SERVER).nextBool(1 - m.tau) ? 1 : 0));
    expect(flags).toEqual(expected);
    // forceRefresh: the diff phase's downlink asks for a refresh whatever the coin says.
    const next = drv.runPhase('diff', undefined, true);
    expect(next).toBe('refresh');
    drv.runPhase('refresh');
  });

  it('is deterministic: same seed → identical iterates; another seed → different', () => {
    const run = (seed: number) => {
      const m = createMethod('masha1', { problem: small, seed, gamma: 0.3, device: parseCompressor('dither:p=2,s=8') });
      return runReference({ problem: small, method: m, iterations: 50, recordEvery: 50 }).z;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('a shard handed to a new holder (fresh shard memory) leaves the trajectory bit-identical', () => {
    const make = () => createMethod('masha1', { problem: small, seed: 23, gamma: 0.3, device: parseCompressor('randk:0.25') });
    const a = new ReferenceDriver(make(), small, small.initialPoint());
    const b = new ReferenceDriver(make(), small, small.initialPoint());
    a.initialize();
    b.initialize();
    for (let k = 0; k < 30; k++) {
      if (k % 7 === 3) b.shards[k % small.shards] = b.method.initShard(k % small.shards);
      a.runIteration();
      b.runIteration();
    }
    expect(b.replica.vectors.z).toEqual(a.replica.vectors.z);
    expect(b.replica.vectors.w).toEqual(a.replica.vectors.w);
  });

  it('missing shards in the diff phase: averaged with weight 1/M (missing = 0), memories adopted only for included shards; still converges', () => {
    const m = createMethod('masha2', { problem: small, seed: 24, gamma: 0.3, device: parseCompressor('topk:0.5') });
    const drv = new ReferenceDriver(m, small, small.initialPoint());
    drv.initialize();
    drv.runIteration(); // make the error memories non-zero
    const eBefore = drv.shards.map((s) => s.vectors.e.slice());
    const next = drv.runPhase('diff', [0, 2]);
    expect(drv.shards[1].vectors.e).toEqual(eBefore[1]); // not included: memory kept
    expect(drv.shards[3].vectors.e).toEqual(eBefore[3]);
    expect(drv.shards[0].vectors.e).not.toEqual(eBefore[0]);
    if (next) drv.runPhase(next);

    // MASHA1 where a random quarter of the devices miss every diff round: exact solution still reached.
    const m1 = createMethod('masha1', { problem: small, seed: 25, gamma: 0.3, device: parseCompressor('randk:0.5') });
    const d1 = new ReferenceDriver(m1, small, small.initialPoint());
    d1.initialize();
    const zs = small.solution()!;
    const r0 = distSq(small.initialPoint(), zs);
    for (let k = 0; k < 3000; k++) {
      const responders = [0, 1, 2, 3].filter((i) => (k * 7 + i * 3) % 4 !== 0);
      let phase: PhaseName | null = m1.startPhase(d1.replica);
      while (phase) phase = d1.runPhase(phase, responders);
    }
    expect(distSq(d1.replica.vectors.z, zs) / r0).toBeLessThan(1e-10);
  });

  it('full phases require every shard', () => {
    const m = createMethod('masha1', { problem: small, seed: 26, gamma: 0.3, device: parseCompressor('randk:0.5') });
    const replica = m.initReplica(small.initialPoint());
    const shard = m.initShard(0);
    const up = uplinkFromProblem(m, small, replica, shard, m.initWork(0), 0, 'init');
    expect(m.phase('init').requiresAll).toBe(true);
    expect(m.phase('refresh').requiresAll).toBe(true);
    expect(m.phase('diff').requiresAll).toBe(false);
    expect(m.phase('diff').flagBits).toBe(1);
    const sum = new Float64Array(m.dim);
    expect(() =>
      m.serverAggregate(m.initServer(), replica, 'init', sumUplinks(m, replica, 'init', [{ shard: 0, payload: up.payload }], sum), { forceRefresh: false }),
    ).toThrow(/requires all/);
    expect(() =>
      sumUplinks(
        m,
        replica,
        'init',
        [
          { shard: 0, payload: up.payload },
          { shard: 0, payload: up.payload },
        ],
        sum,
      ),
    ).toThrow(/two uplinks/);
    expect(FLAG_REFRESH).toBe(1);
  });
});

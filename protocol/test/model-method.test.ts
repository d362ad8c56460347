import { describe, expect, it } from 'vitest';
import { createRunContext } from '../src/engine/context.js';
import {
  ModelMethod,
  ModelReferenceDriver,
  OperatorEvaluator,
  parseOptimizer,
  SoftmaxOperator,
  type OptimizerConfigInput,
  type SoftmaxTask,
} from '../src/model/index.js';
import { perTensorCompressor } from '../src/compress/per-tensor.js';
import type { Problem } from '../src/problems/types.js';
import { TestSwarm } from './engine-driver.js';
import { isModelManifest, MODEL_DEFAULT_TAU, modelRunFromManifest, parseManifest, runFromManifest, softmaxTaskOf } from '../src/manifest/index.js';

const TASK: SoftmaxTask = {
  features: 24,
  classes: 4,
  perShard: 200,
  shards: 4,
  test: 400,
  batch: 16,
  seed: 3,
  separation: 0.35,
  lambda: 1e-3,
  adversarial: { epsilon: 0.5, steps: 2, stepSize: 0.3 },
};

function method(op: SoftmaxOperator, variant: 'masha1' | 'masha2', spec: string, opt: OptimizerConfigInput | null, tau = 0.8, server?: string): ModelMethod {
  return new ModelMethod({
    ...(server ? { server: perTensorCompressor(server, op.layout.specs) } : {}),
    variant,
    layout: op.layout,
    shards: op.shards,
    seed: 7,
    gamma: 0.5,
    tau,
    device: perTensorCompressor(spec, op.layout.specs),
    optimizer: opt === null ? null : parseOptimizer(opt),
  });
}

async function train(op: SoftmaxOperator, m: ModelMethod, iterations: number): Promise<{ driver: ModelReferenceDriver; losses: number[] }> {
  const driver = new ModelReferenceDriver(m, op, op.initialParams());
  await driver.runIteration(); // init
  const losses = [op.loss(driver.replica.vectors.z).loss];
  for (let k = 0; k < iterations; k++) {
    await driver.runIteration();
    losses.push(op.loss(driver.replica.vectors.z).loss);
  }
  return { driver, losses };
}

describe('the softmax model operator', () => {
  it('returns the gradient of the clean batch loss (K = 1) against central differences, and subtracts it exactly', () => {
    const op = new SoftmaxOperator({ ...TASK, adversarial: null, lambda: 0 });
    const w = new Float32Array(op.dim).map((_, i) => Math.sin(i) * 0.1);
    const g = new Float32Array(op.dim);
    op.evaluate(1, 5, w, g, false);
    const h = 1e-4;
    for (const i of [0, 7, 50, op.dim - 3, op.dim - 1]) {
      const plus = Float64Array.from(w);
      const minus = Float64Array.from(w);
      plus[i] += h;
      minus[i] -= h;
      const fd = (op.batchLoss(1, 5, plus) - op.batchLoss(1, 5, minus)) / (2 * h);
      expect(Math.abs(g[i] - fd), `∂/∂w[${i}]`).toBeLessThan(1e-5 + 1e-3 * Math.abs(fd));
    }
    const z = g.slice();
    op.evaluate(1, 5, w, z, true);
    for (let i = 0; i < op.dim; i++) expect(Math.abs(z[i])).toBeLessThanOrEqual(2 ** -23 * Math.abs(g[i])); // one float32 rounding
  });

  it('its loss decreases along −F (a descent direction of the batch loss)', () => {
    const op = new SoftmaxOperator({ ...TASK, adversarial: null, lambda: 0 });
    const w = new Float32Array(op.dim);
    const g = new Float32Array(op.dim);
    op.evaluate(1, 0, w, g, false);
    const before = op.loss(w).loss;
    const w2 = w.map((v, i) => v - 0.5 * g[i]);
    expect(op.loss(w2).loss).toBeLessThan(before);
  });
});

describe('MASHA over a model: optimizer, per-tensor compression, error feedback', () => {
  const setups: [string, 'masha1' | 'masha2', string][] = [
    ['baseline', 'masha1', 'identity'],
    ['full 8-bit', 'masha2', 'int8:block=16'],
    ['mixed 8-bit', 'masha2', 'int8:block=16,min=64'],
    ['PowerSGD r=2 + EF', 'masha2', 'powersgd:r=2,min=64'],
  ];
  const optimizers: [string, OptimizerConfigInput | null][] = [
    ['plain MASHA', null],
    ['SGD + momentum', { name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0 }],
    ['Adam', { name: 'adam', lr: 0.05 }],
    ['LAMB', { name: 'lamb', lr: 0.05 }],
  ];
  for (const [oname, opt] of optimizers) {
    it(`${oname}: every compression setup lowers the training objective`, async () => {
      const op = new SoftmaxOperator(TASK);
      for (const [sname, variant, spec] of setups) {
        const { losses } = await train(op, method(op, variant, spec, opt), 60);
        expect(losses[losses.length - 1], `${sname}: ${losses[0]} → ${losses[losses.length - 1]}`).toBeLessThan(0.85 * losses[0]);
      }
    });
  }

  it('SGD with μ = 0, no weight decay and lr = γ is plain MASHA up to float32 rounding', async () => {
    const op = new SoftmaxOperator(TASK);
    const a = (await train(op, method(op, 'masha1', 'identity', null), 10)).driver.replica.vectors.z;
    const b = (await train(op, method(op, 'masha1', 'identity', { name: 'sgd', lr: 0.5, momentum: 0, weightDecay: 0 }), 10)).driver.replica.vectors.z;
    let err = 0;
    let ref = 0;
    for (let i = 0; i < a.length; i++) {
      err = Math.max(err, Math.abs(a[i] - b[i]));
      ref = Math.max(ref, Math.abs(a[i]));
    }
    expect(err / ref).toBeLessThan(1e-5);
  });

  it('MASHA2 keeps e_m = p − C(p), p = F_{m,s}(z^{k+½}) − F_{m,s}(w) + e_m, as a direct computation does', async () => {
    const op = new SoftmaxOperator(TASK);
    const m = method(op, 'masha2', 'powersgd:r=1,min=64', { name: 'lamb', lr: 0.05 });
    const driver = new ModelReferenceDriver(m, op, op.initialParams());
    await driver.runIteration();
    for (let k = 0; k < 3; k++) {
      const r = driver.replica;
      // The direct computation, before the method runs the round.
      const zHalf = m.extrapolate(r, new Float32Array(op.dim));
      const d = new Float32Array(op.dim);
      op.evaluate(2, 2 * r.iteration + 1, zHalf, d, false);
      op.evaluate(2, 2 * r.iteration + 1, r.vectors.w, d, true);
      const eBefore = driver.shards[2].vectors.e.slice();
      const p = d.map((v, i) => v + eBefore[i]);
      const ctx = { streams: m.streams, round: r.iteration, purpose: 'up:diff', device: 2, devices: 4 };
      const c = m.device.decompress(m.device.compress(p, { ...ctx, local: ctx.streams.rng(r.iteration, 'local:up:diff', 2) }), ctx, new Float32Array(op.dim));
      await driver.runIteration();
      const e = driver.shards[2].vectors.e;
      // One float32 rounding apart (the method adds −C(p) in place; here C(p) is rounded first).
      for (let i = 0; i < op.dim; i++) expect(Math.abs(e[i] - (p[i] - c[i]))).toBeLessThanOrEqual(2 ** -22 * (Math.abs(p[i]) + Math.abs(c[i])));
      let moved = 0;
      for (let i = 0; i < op.dim; i++) moved += Math.abs(e[i] - eBefore[i]);
      expect(moved).toBeGreaterThan(0);
      // Small tensors travel exactly: their error stays 0.
      const b = op.layout.specs[1];
      expect(Array.from(e.subarray(b.offset, b.offset + b.size))).toEqual(new Array(b.size).fill(0));
    }
  });

  it('float32 replicas: z, w, F(w), errors and LAMB state take 24–28 bytes per parameter', () => {
    const op = new SoftmaxOperator(TASK);
    const m = method(op, 'masha2', 'powersgd:r=2,min=64', { name: 'lamb', lr: 0.05 });
    const r = m.initReplica(op.initialParams());
    const replicaBytes = Object.values(r.vectors).reduce((s, v) => s + (v.length === op.dim ? v.byteLength : 0), 0) / op.dim;
    const shardBytes = Object.values(m.initShard(0).vectors).reduce((s, v) => s + v.byteLength, 0) / op.dim;
    expect(replicaBytes).toBe(20); // z, w, F(w), m, v
    expect(shardBytes).toBe(4); // e (the engine keeps one spare copy: 4 more)
    expect(replicaBytes + 2 * shardBytes).toBeLessThanOrEqual(32);
    expect(m.stateBytesPerParam()).toEqual({ replica: 20, shard: 8, work: 8, scratch: 4 });
  });
});

describe('the swarm trains a model bit for bit like the reference runner', () => {
  const cases: [string, 'masha1' | 'masha2', string, OptimizerConfigInput | null, string?][] = [
    ['MASHA2 + PowerSGD + EF + LAMB', 'masha2', 'powersgd:r=2,min=64', { name: 'lamb', lr: 0.05 }],
    ['MASHA2 + PowerSGD up and down (server EF) + LAMB', 'masha2', 'powersgd:r=2,min=64', { name: 'lamb', lr: 0.05 }, 'powersgd:r=2,min=64'],
    ['MASHA1 + identity + SGD', 'masha1', 'identity', { name: 'sgd', lr: 0.1 }],
    ['MASHA2 + mixed 8-bit + Adam', 'masha2', 'int8:block=16,min=64', { name: 'adam', lr: 0.05 }],
  ];
  for (const [name, variant, spec, opt, server] of cases) {
    it(name, async () => {
      const K = 12;
      const op = new SoftmaxOperator(TASK);
      const ref = await train(op, method(op, variant, spec, opt, 0.8, server), K);
      if (server) expect(ref.losses[K]).toBeLessThan(0.95 * ref.losses[0]);
      const m = method(op, variant, spec, opt, 0.8, server);
      const ctx = createRunContext({
        runId: 'a'.repeat(64),
        method: m,
        z0: op.initialParams(),
        maxIterations: K,
        quorum: 4,
        timing: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
      });
      const swarm = new TestSwarm(
        { ctx, problem: null as unknown as Problem },
        // each peer its own operator instance (as separate processes would have)
        { evaluator: () => new OperatorEvaluator(new SoftmaxOperator(TASK)) },
      );
      for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
      swarm.run(120_000, () => swarm.alive().every((n) => n.done !== null));
      for (const n of swarm.alive()) {
        expect(n.done).toBe('iterations');
        expect(n.peer.replica.iteration).toBe(K);
        expect(Array.from(n.peer.replica.vectors.z)).toEqual(Array.from(ref.driver.replica.vectors.z));
        for (const [k, v] of Object.entries(ref.driver.replica.vectors)) expect(Array.from(n.peer.replica.vectors[k]), k).toEqual(Array.from(v));
      }
      expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
    });
  }
});

describe('model runs in the manifest', () => {
  const base = {
    problem: { kind: 'softmax', shards: 4, adversarial: { epsilon: 0.5, steps: 2, stepSize: 0.3 } },
    method: { name: 'masha2', optimizer: { name: 'lamb', lr: 0.05 } },
    compressors: { device: 'powersgd:r=2,min=64' },
    stop: { iterations: 30 },
    seed: 4,
  } as const;

  it('builds the method, w⁰ and the run context; the reference runner lowers the objective', async () => {
    const m = parseManifest(base);
    expect(isModelManifest(m)).toBe(true);
    expect(m.method.tau).toBe(MODEL_DEFAULT_TAU);
    const run = modelRunFromManifest(m);
    expect(run.method.name).toBe('masha2');
    expect(run.method.device.spec).toBe('powersgd:r=2,min=64');
    expect(run.ctx.dim).toBe(24 * 4 + 4);
    expect(run.runId).toBe(modelRunFromManifest(parseManifest(base)).runId);
    const op = new SoftmaxOperator(softmaxTaskOf(m));
    const driver = new ModelReferenceDriver(run.method, op, run.w0);
    await driver.runIteration();
    const l0 = op.loss(driver.replica.vectors.z).loss;
    for (let k = 0; k < 30; k++) await driver.runIteration();
    expect(op.loss(driver.replica.vectors.z).loss).toBeLessThan(0.9 * l0);
    expect(() => runFromManifest(m)).toThrow(/modelRunFromManifest/);
  });

  it('takes the network settings synthetic runs take: broadcast path and trees, frame size, quorum bound', () => {
    const net = { broadcast: { tree: false, stripes: 3, minBytes: 1000 }, frameBytes: 16_384, quorum: { count: 3 } };
    const run = modelRunFromManifest(parseManifest({ ...base, network: net }));
    expect(run.ctx.broadcast).toMatchObject({ tree: false, stripes: 3, minBytes: 1000, frameBytes: 16_384 });
    expect(run.ctx.frameBytes).toBe(16_384);
    expect(modelRunFromManifest(parseManifest(base)).ctx.broadcast.tree).toBe(true);
    expect(() => modelRunFromManifest(parseManifest({ ...base, network: { quorum: { count: 5 } } }))).toThrow(/network\.quorum\.count/);
  });

  it('refuses what a model run cannot do, naming the field', () => {
    const bad: [object, RegExp][] = [
      [{ ...base, method: { name: 'eg', optimizer: { name: 'lamb', lr: 0.05 } } }, /method\.name/],
      [{ ...base, compressors: { device: 'topk:0.1' } }, /compressors\.device/],
      [{ ...base, method: { name: 'masha1' } }, /method\.gamma/],
      [{ ...base, method: { name: 'masha2', optimizer: { name: 'rmsprop', lr: 1 } } }, /method\.optimizer\.name/],
      [{ problem: { kind: 'bilinear' }, method: { name: 'masha1', optimizer: { name: 'sgd', lr: 0.1 } } }, /method\.optimizer/],
      [
        {
          problem: { kind: 'model', task: { objective: 'classify', adversarial: { epsilon: -1 } } },
          method: { name: 'masha2', optimizer: { name: 'lamb', lr: 1e-3 } },
        },
        /problem\.task\.adversarial\.epsilon/,
      ],
    ];
    for (const [v, re] of bad) expect(() => parseManifest(v)).toThrow(re);
    // The tiny ALBERT's run builds without ONNX Runtime: layout, seeded w⁰, per-tensor codec.
    const albert = modelRunFromManifest(
      parseManifest({
        problem: { kind: 'model', task: { objective: 'classify', shards: 4 } },
        method: { name: 'masha2', optimizer: { name: 'lamb', lr: 1e-3 } },
        compressors: { device: 'int8:min=65536' },
      }),
    );
    expect(albert.ctx.dim).toBe(1_459_074);
    expect(albert.method.device.constants(albert.ctx.dim, 4).beta).toBeCloseTo(13_832_256 / (32 * 1_459_074), 12);
  });
});

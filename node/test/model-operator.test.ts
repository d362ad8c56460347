/**
 * The model operator: determinism across sessions, onnxruntime-node vs onnxruntime-web (wasm, in
 * Node) agreement, FreeLB's adversarial loss ≥ clean loss, λ, overfitting one small batch, and
 * clear errors for bad tasks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '@masha/protocol';
import { ModelOperator, Optimizer, parseModelTask, parseOptimizer, type ModelTaskInput, type OrtRuntime } from '@masha/protocol/model';
import { onnxruntimeNode, onnxruntimeWebWasm } from '../src/model/runtimes.js';
import { SMALL_MODEL, syntheticTokens } from './model-helpers.js';

let node: OrtRuntime;
let wasm: OrtRuntime;
const data = syntheticTokens(64, SMALL_MODEL.vocabSize, 5);
const ops: ModelOperator[] = [];

beforeAll(async () => {
  node = await onnxruntimeNode();
  wasm = await onnxruntimeWebWasm();
});
afterAll(async () => {
  for (const o of ops) await o.release();
});

async function operator(rt: OrtRuntime, task: ModelTaskInput): Promise<ModelOperator> {
  const op = await ModelOperator.create(rt, parseModelTask(task), data);
  ops.push(op);
  return op;
}

const relErr = (a: Float32Array, b: Float32Array): number => {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += a[i] ** 2;
  }
  return Math.sqrt(d / n);
};

describe('ModelOperator', () => {
  const adv = { epsilon: 0.5, steps: 3, stepSize: 0.25 };
  for (const objective of ['classify', 'mlm'] as const) {
    it(`${objective}: onnxruntime-node and onnxruntime-web agree (float32: loss within 1e-5 relative, ‖ΔF‖/‖F‖ ≤ 1e-5; measured ≤ 5e-7)`, async () => {
      const task = { model: SMALL_MODEL, objective, batch: 4, shards: 4, seed: 3, adversarial: adv };
      const a = await operator(node, task);
      const b = await operator(wasm, task);
      const w = a.initialParams();
      const fa = new Float32Array(a.dim);
      const fb = new Float32Array(b.dim);
      for (const [shard, sample] of [
        [0, 0],
        [3, 17],
      ]) {
        const sa = await a.evaluate(shard, sample, w, fa);
        const sb = await b.evaluate(shard, sample, w, fb);
        expect(Math.abs(sa.loss - sb.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(sa.loss));
        expect(Math.abs(sa.advLoss - sb.advLoss)).toBeLessThanOrEqual(1e-5 * Math.abs(sa.advLoss));
        expect(sa.examples).toBe(sb.examples);
        expect(relErr(fa, fb)).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('is deterministic: two sessions give bit-identical F for the same (shard, sample); other samples differ', async () => {
    const task = { model: SMALL_MODEL, objective: 'mlm' as const, batch: 4, shards: 2, seed: 11, adversarial: adv };
    const a = await operator(node, task);
    const b = await operator(node, task);
    const w = a.initialParams();
    expect(b.initialParams()).toEqual(w);
    const fa = new Float32Array(a.dim);
    const fb = new Float32Array(a.dim);
    await a.evaluate(1, 5, w, fa);
    await b.evaluate(1, 5, w, fb);
    expect(fb).toEqual(fa);
    await b.evaluate(1, 6, w, fb);
    expect(relErr(fa, fb)).toBeGreaterThan(1e-3);
  });

  it('adversarial loss ≥ clean loss, and K = 1 equals the clean operator', async () => {
    const clean = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 8, seed: 2 });
    const k1 = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 8, seed: 2, adversarial: { ...adv, steps: 1 } });
    const freelb = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 8, seed: 2, adversarial: adv });
    const w = clean.initialParams();
    const f0 = new Float32Array(clean.dim);
    const f1 = new Float32Array(clean.dim);
    const f2 = new Float32Array(clean.dim);
    for (let sample = 0; sample < 5; sample++) {
      const s0 = await clean.evaluate(0, sample, w, f0);
      const s1 = await k1.evaluate(0, sample, w, f1);
      const s2 = await freelb.evaluate(0, sample, w, f2);
      expect(f1).toEqual(f0);
      expect(s1.loss).toBe(s0.loss);
      expect(s2.loss).toBe(s0.loss); // ρ⁰ = 0
      expect(s2.advLoss).toBeGreaterThan(s0.loss);
      expect(relErr(f0, f2)).toBeGreaterThan(0);
    }
  });

  it('adds λw', async () => {
    const a = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 4, seed: 1 });
    const b = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 4, seed: 1, lambda: 0.1 });
    const w = a.initialParams();
    const fa = new Float32Array(a.dim);
    const fb = new Float32Array(a.dim);
    await a.evaluate(0, 0, w, fa);
    await b.evaluate(0, 0, w, fb);
    for (let i = 0; i < w.length; i += 997) expect(fb[i]).toBeCloseTo(fa[i] + 0.1 * w[i], 6);
  });

  it('overfits one small batch (classify, Adam): loss < 0.02', async () => {
    // One shard of exactly `batch` examples: every sample is the same batch (in another order).
    const op = await operator(node, { model: SMALL_MODEL, objective: 'classify', batch: 8, shards: 8, seed: 4 });
    const w = op.initialParams();
    const g = new Float32Array(op.dim);
    const opt = new Optimizer(parseOptimizer({ name: 'adam', lr: 3e-3, weightDecay: 0 }), op.layout);
    let first = NaN;
    let last = NaN;
    for (let step = 0; step < 150; step++) {
      const s = await op.evaluate(0, step, w, g);
      if (step === 0) first = s.loss;
      last = s.loss;
      opt.step(w, g);
    }
    expect(first).toBeGreaterThan(0.3);
    expect(last).toBeLessThan(0.02);
  });

  it('overfits one small batch (mlm, LAMB): loss falls below 5% of its start', async () => {
    const op = await operator(node, { model: SMALL_MODEL, objective: 'mlm', batch: 8, shards: 8, seed: 4 });
    const w = op.initialParams();
    const g = new Float32Array(op.dim);
    const opt = new Optimizer(parseOptimizer({ name: 'lamb', lr: 2e-2, weightDecay: 0 }), op.layout);
    // The MLM masks change with the sample: fix the sample to overfit one batch exactly.
    let first = NaN;
    let last = NaN;
    for (let step = 0; step < 150; step++) {
      const s = await op.evaluate(0, 0, w, g);
      if (step === 0) first = s.loss;
      last = s.loss;
      opt.step(w, g);
    }
    expect(first).toBeGreaterThan(3.5); // ≈ ln 64
    expect(last).toBeLessThan(0.05 * first);
  });
});

describe('bad tasks get clear errors', () => {
  it('names the field', async () => {
    expect(() => parseModelTask({ objective: 'mlm', model: { hidden: 30, heads: 4 } })).toThrow(/task\.model\.heads/);
    expect(() => parseModelTask({ objective: 'regress' })).toThrow(/task\.objective/);
    expect(() => parseModelTask({ objective: 'mlm', adversarial: { epsilon: -1 } })).toThrow(/task\.adversarial\.epsilon/);
    expect(() => parseModelTask({ objective: 'mlm', model: { seqLen: 8, mlmSlots: 8 } })).toThrow(/task\.model\.mlmSlots/);
    expect(() => parseModelTask({ objective: 'mlm', batch: 0 })).toThrow(ValidationError);
    await expect(ModelOperator.create(node, parseModelTask({ objective: 'mlm', shards: 65, model: SMALL_MODEL }), data)).rejects.toThrow(/shards/);
    await expect(ModelOperator.create(node, parseModelTask({ objective: 'mlm', model: { ...SMALL_MODEL, vocabSize: 32 } }), data)).rejects.toThrow(
      /task\.model\.vocabSize/,
    );
  });
});

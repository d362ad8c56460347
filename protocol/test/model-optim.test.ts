/** Optimizers (exact first steps, LAMB's trust ratio, decay mask, convergence) and graph-builder errors. */
import { describe, expect, it } from 'vitest';
import {
  Graph,
  GraphError,
  Optimizer,
  albertLayout,
  gradients,
  learningRate,
  ops,
  parseAlbertConfig,
  parseOptimizer,
  toOnnx,
  type ParamLayout,
} from './internals.js';

const layout: ParamLayout = {
  specs: [
    { name: 'w', shape: [2, 2], offset: 0, size: 4, init: 'normal', decay: true },
    { name: 'b', shape: [2], offset: 4, size: 2, init: 'zeros', decay: false },
  ],
  size: 6,
};

describe('optimizers', () => {
  it('Adam: the first step is lr·g/(|g| + eps) (bias-corrected)', () => {
    const opt = new Optimizer(parseOptimizer({ name: 'adam', lr: 0.1, weightDecay: 0, eps: 1e-8 }), layout);
    const p = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const g = Float32Array.from([0.5, -2, 1e-3, 0, 4, -0.1]);
    opt.step(p, g);
    const want = [1 - 0.1, 2 + 0.1, 3 - 0.1 * (1e-3 / (1e-3 + 1e-8)), 4, 5 - 0.1, 6 + 0.1];
    want.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 5));
    expect(opt.stateBytes).toBe(6 * 8);
  });
  it('LAMB: each tensor moves by lr·‖w‖ on the first step (trust ratio), decay only on matrices', () => {
    const opt = new Optimizer(parseOptimizer({ name: 'lamb', lr: 0.01, weightDecay: 0, eps: 1e-12 }), layout);
    const p0 = Float32Array.from([3, 4, 0, 0, 1, 1]);
    const p = p0.slice();
    opt.step(p, Float32Array.from([1, -1, 1, -1, 2, 2]));
    const move = (a: number, b: number): number => Math.hypot(...Array.from(p.subarray(a, b), (v, i) => v - p0[a + i]));
    expect(move(0, 4)).toBeCloseTo(0.01 * 5, 5);
    expect(move(4, 6)).toBeCloseTo(0.01 * Math.SQRT2, 5);
    // Weight decay: with g = 0, SGD shrinks only the decayed tensor.
    const sgd = new Optimizer(parseOptimizer({ name: 'sgd', lr: 0.1, momentum: 0, weightDecay: 0.5 }), layout);
    const q = Float32Array.from([1, 1, 1, 1, 1, 1]);
    sgd.step(q, new Float32Array(6));
    expect(Array.from(q)).toEqual([0.95, 0.95, 0.95, 0.95, 1, 1].map(Math.fround));
  });
  it('SGD with momentum converges on a quadratic', () => {
    const opt = new Optimizer(parseOptimizer({ name: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 0 }), layout);
    const target = [1, -2, 3, 0.5, -1, 2];
    const p = new Float32Array(6);
    const g = new Float32Array(6);
    for (let t = 0; t < 300; t++) {
      for (let i = 0; i < 6; i++) g[i] = (i + 1) * (p[i] - target[i]);
      opt.step(p, g);
    }
    target.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 4));
  });
  it('learning-rate schedule: warm-up then linear decay', () => {
    const c = parseOptimizer({ name: 'adam', lr: 1, warmup: 4, totalSteps: 14 });
    expect([0, 1, 3, 4, 9, 14].map((t) => learningRate(c, t))).toEqual([0.25, 0.5, 1, 1, 0.5, 0]);
    expect(() => parseOptimizer({ name: 'rmsprop', lr: 1 })).toThrow(/optimizer\.name/);
    expect(() => parseOptimizer({ name: 'adam', lr: -1 })).toThrow(/optimizer\.lr/);
  });
});

describe('graph builder', () => {
  it('refuses mismatched shapes and dtypes with the op named', () => {
    const g = new Graph('float32');
    const a = g.input('a', [2, 3], 'float32', true);
    const b = g.input('b', [4, 3], 'float32', true);
    const i = g.input('i', [2], 'int32');
    expect(() => ops.add(g, a, b)).toThrow(GraphError);
    expect(() => ops.add(g, a, b)).toThrow(/^Add: cannot broadcast/);
    expect(() => ops.matmul(g, a, b)).toThrow(/^MatMul: inner dimensions/);
    expect(() => ops.mul(g, a, i)).toThrow(/^Mul: dtype mismatch/);
    expect(() => ops.reshape(g, a, [5])).toThrow(/^Reshape/);
    expect(() => g.input('a', [1], 'float32')).toThrow(/duplicate/);
    expect(() => gradients(g, a, [a])).toThrow(/loss must be a scalar/);
  });
  it('default ALBERT layout: parameter count', () => {
    const c = parseAlbertConfig({});
    const l = albertLayout(c);
    const { vocabSize: V, seqLen: S, embed: E, hidden: H, ffn: F, classes: C } = c;
    const expected =
      V * E + S * E + 2 * E + E * H + H + 3 * H * H + 3 * H + H * H + H + 2 * H + H * F + F + F * H + H + 2 * H + H * E + E + 2 * E + V + H * H + H + H * C + C;
    expect(l.size).toBe(expected);
    expect(l.size).toBe(1_459_074);
  });
  it('serialises to ONNX with opset 17 / IR 8', () => {
    const g = new Graph('float32');
    const x = g.input('x', [2], 'float32', true);
    const loss = ops.sumAll(g, ops.mul(g, x, x));
    g.output('loss', loss);
    g.output('gx', gradients(g, loss, [x])[0]!);
    const bytes = toOnnx(g);
    // ModelProto field 1 (ir_version) = 8 is the first thing encoded: tag 0x08, value 8.
    expect(bytes[0]).toBe(0x08);
    expect(bytes[1]).toBe(8);
    expect(bytes.length).toBeGreaterThan(50);
  });
});

import { describe, expect, it } from 'vitest';
import { albertLayout, parseAlbertConfig } from '../src/model/index.js';
import { parseTensorRule, perTensorCompressor, PayloadError, SpecError, type TensorSpec } from './internals.js';
import { recvCtx, sendCtx, testVector } from './compress-util.js';

/** The default tiny ALBERT's tensors (1,459,074 parameters). */
const ALBERT: readonly TensorSpec[] = albertLayout(parseAlbertConfig({})).specs;
const D = ALBERT.reduce((s, t) => s + t.size, 0);

/** A small layout with every case: a big matrix, a big vector, small matrices and vectors. */
const SMALL: readonly TensorSpec[] = (() => {
  const shapes: [string, number[]][] = [
    ['a.w', [40, 30]],
    ['a.b', [30]],
    ['big.v', [1500]],
    ['b.w', [8, 5]],
    ['c.w', [64, 20]],
  ];
  let offset = 0;
  return shapes.map(([name, shape]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = { name, shape, offset, size };
    offset += size;
    return t;
  });
})();
const DS = SMALL.reduce((s, t) => s + t.size, 0);

/** Bits by the seed's rules, written out independently of the implementation. */
function expectedBits(tensors: readonly TensorSpec[], rule: 'identity' | 'int8' | 'powersgd', min: number, block = 256, rank = 8): number {
  let bits = 0;
  for (const t of tensors) {
    const big = t.size >= min;
    if (rule === 'int8' && big) bits += 32 * Math.ceil(t.size / block) + 8 * t.size;
    else if (rule === 'powersgd' && big && t.shape.length === 2) {
      const [n, m] = t.shape;
      bits += 32 * (n + m) * Math.min(rank, n, m);
    } else bits += 32 * t.size;
  }
  return bits;
}

describe('per-tensor compressors (seed §5.2)', () => {
  it('parse the manifest specs and print them canonically', () => {
    expect(perTensorCompressor('identity', SMALL).spec).toBe('identity');
    expect(perTensorCompressor('int8', SMALL).spec).toBe('int8:block=256');
    expect(perTensorCompressor('int8:min=65536', SMALL).spec).toBe('int8:block=256,min=65536');
    expect(perTensorCompressor('powersgd:r=8,min=65536', SMALL).spec).toBe('powersgd:r=8,min=65536');
    expect(perTensorCompressor('powersgd:rank=4', SMALL).spec).toBe('powersgd:r=4');
    expect(() => parseTensorRule('powersgd')).toThrow(/missing argument 'r'/);
    expect(() => parseTensorRule('topk:0.1')).toThrow(SpecError);
    expect(() => parseTensorRule('int8:min=-1')).toThrow(/min/);
    expect(() => parseTensorRule('int8:foo=1')).toThrow(/unexpected argument 'foo'/);
  });

  it('count the exact bits of one message of the default ALBERT', () => {
    expect(D).toBe(1_459_074);
    const cases: [string, number][] = [
      ['identity', 32 * D],
      ['int8', expectedBits(ALBERT, 'int8', 0)],
      ['int8:min=65536', expectedBits(ALBERT, 'int8', 65536)],
      ['powersgd:r=8,min=65536', expectedBits(ALBERT, 'powersgd', 65536)],
    ];
    for (const [spec, bits] of cases) {
      const c = perTensorCompressor(spec, ALBERT);
      expect(c.payloadBits(D), spec).toBe(bits);
      expect(c.constants(D, 4).beta, spec).toBeCloseTo(bits / (32 * D), 12);
    }
    // The figures the README quotes.
    expect(expectedBits(ALBERT, 'int8', 0)).toBe(11_855_088);
    expect(expectedBits(ALBERT, 'int8', 65536)).toBe(13_832_256);
    expect(expectedBits(ALBERT, 'powersgd', 65536)).toBe(4_911_168);
    // Kinds: 8-bit round-to-nearest is contractive, PowerSGD biased.
    expect(perTensorCompressor('identity', ALBERT).kind).toBe('unbiased');
    expect(perTensorCompressor('int8:min=65536', ALBERT).kind).toBe('contractive');
    expect(perTensorCompressor('powersgd:r=8,min=65536', ALBERT).kind).toBe('biased');
  });

  it('round-trip through the wire: ⌈bits/8⌉ bytes, the same decompression, canonical bytes', () => {
    const x = testVector(DS, 3);
    for (const spec of ['identity', 'int8:block=16', 'int8:min=1000', 'powersgd:r=3,min=500', 'powersgd:r=8']) {
      const c = perTensorCompressor(spec, SMALL);
      const ctx = sendCtx(5, 2, 1);
      const p = c.compress(x, ctx);
      expect(p.bits, spec).toBe(c.payloadBits(DS));
      const bytes = c.encode(p);
      expect(bytes.length).toBe(p.bits / 8);
      const q = c.decode(bytes, DS);
      const a = c.decompress(p, recvCtx(ctx), new Float64Array(DS));
      const b = c.decompress(q, recvCtx(ctx), new Float64Array(DS));
      expect(b).toEqual(a);
      expect(c.encode(q)).toEqual(bytes);
      // accumulate = a·decompress added in place
      const acc = Float64Array.from(x);
      c.accumulate(q, recvCtx(ctx), -1, acc);
      for (let i = 0; i < DS; i += 37) expect(acc[i]).toBeCloseTo(x[i] - a[i], 12);
      expect(() => c.decode(bytes.subarray(1), DS)).toThrow(PayloadError);
      expect(() => c.decode(bytes, DS + 1)).toThrow(PayloadError);
    }
  });

  it('mixed 8-bit sends small tensors exactly (float32) and quantises the big ones', () => {
    const x = testVector(DS, 4, true);
    const c = perTensorCompressor('int8:min=1000', SMALL);
    const ctx = sendCtx(1, 0);
    const y = c.decompress(c.compress(x, ctx), recvCtx(ctx), new Float32Array(DS));
    for (const t of SMALL) {
      const xs = x.subarray(t.offset, t.offset + t.size);
      const ys = y.subarray(t.offset, t.offset + t.size);
      if (t.size < 1000) expect(ys, t.name).toEqual(xs);
      else {
        expect(ys).not.toEqual(xs);
        // each element within half a code of its block's scale
        let max = 0;
        for (let i = 0; i < xs.length; i++) max = Math.max(max, Math.abs(xs[i]));
        for (let i = 0; i < xs.length; i++) expect(Math.abs(ys[i] - xs[i])).toBeLessThanOrEqual((max / 127) * 0.5 * (1 + 1e-6));
      }
    }
    expect(c.describe().map((p) => p.codec)).toEqual(['int8:block=256', 'identity', 'int8:block=256', 'identity', 'int8:block=256']);
  });

  it('PowerSGD on each matrix equals a direct rank-r power step on its own shape', () => {
    const rank = 3;
    const c = perTensorCompressor(`powersgd:r=${rank},min=500`, SMALL);
    const x = testVector(DS, 7);
    const ctx = sendCtx(9, 4, 2, 'up:diff');
    const y = c.decompress(c.compress(x, ctx), recvCtx(ctx), new Float64Array(DS));
    SMALL.forEach((t, i) => {
      const xs = x.subarray(t.offset, t.offset + t.size);
      const ys = y.subarray(t.offset, t.offset + t.size);
      if (!(t.size >= 500 && t.shape.length === 2)) {
        expect(ys).toEqual(Float64Array.from(Float32Array.from(xs)));
        return;
      }
      const [n, m] = t.shape;
      const r = Math.min(rank, n, m);
      // Q₀ from the shared stream of this tensor, P = M Q₀, Gram–Schmidt, Q = Mᵀ P̂, M̂ = P̂ Qᵀ.
      const g = ctx.streams.rng(ctx.round, `up:diff/t${i}/powersgd`, ctx.device);
      const q0 = Array.from({ length: m }, () => Array.from({ length: r }, () => g.nextGaussian()));
      const M = (a: number, b: number): number => xs[a * m + b];
      const P = Array.from({ length: n }, (_, a) => Array.from({ length: r }, (_, k) => q0.reduce((s, row, b) => s + M(a, b) * row[k], 0)));
      for (let pass = 0; pass < 2; pass++) {
        for (let k = 0; k < r; k++) {
          for (let j = 0; j < k; j++) {
            const dot = P.reduce((s, row) => s + row[k] * row[j], 0);
            for (const row of P) row[k] -= dot * row[j];
          }
          const norm = Math.sqrt(P.reduce((s, row) => s + row[k] * row[k], 0));
          for (const row of P) row[k] /= norm;
        }
      }
      const Q = Array.from({ length: m }, (_, b) => Array.from({ length: r }, (_, k) => P.reduce((s, row, a) => s + M(a, b) * row[k], 0)));
      let err = 0;
      let ref = 0;
      for (let a = 0; a < n; a++)
        for (let b = 0; b < m; b++) {
          const v = P[a].reduce((s, pk, k) => s + pk * Q[b][k], 0);
          err = Math.max(err, Math.abs(v - ys[a * m + b]));
          ref = Math.max(ref, Math.abs(v));
        }
      expect(err / ref, t.name).toBeLessThan(1e-5); // P̂ and Q travel as float32
      // M̂ is the orthogonal projection P̂P̂ᵀM: the residual is orthogonal to it (Pythagoras).
      let nx = 0;
      let ny = 0;
      let nr = 0;
      for (let j = 0; j < xs.length; j++) {
        nx += xs[j] * xs[j];
        ny += ys[j] * ys[j];
        nr += (xs[j] - ys[j]) ** 2;
      }
      expect(Math.abs(nx - ny - nr) / nx).toBeLessThan(1e-5);
      expect(nr).toBeLessThan(nx);
    });
  });

  it('error feedback (Vogels et al.): e ← p − C(p) with p = g + e telescopes, Σ C(p_k) = Σ g_k − e_K', () => {
    const c = perTensorCompressor('powersgd:r=2,min=500', SMALL);
    const e = new Float64Array(DS);
    const sumC = new Float64Array(DS);
    const sumG = new Float64Array(DS);
    const p = new Float64Array(DS);
    let firstRel = 0;
    let lastRel = 0;
    const steps = 40;
    for (let k = 0; k < steps; k++) {
      const g = testVector(DS, 100); // the same gradient every step: EF must transmit it on average
      for (let j = 0; j < DS; j++) {
        p[j] = g[j] + e[j];
        sumG[j] += g[j];
      }
      const ctx = sendCtx(11, k, 0);
      const payload = c.compress(p, ctx);
      const cp = c.decompress(payload, recvCtx(ctx), new Float64Array(DS));
      for (let j = 0; j < DS; j++) {
        e[j] = p[j] - cp[j];
        sumC[j] += cp[j];
      }
      // The mean transmitted vector approaches g: ‖Σ C(p)/k − g‖ = ‖e_k‖/k.
      let num = 0;
      let den = 0;
      for (let j = 0; j < DS; j++) {
        num += (sumC[j] / (k + 1) - g[j]) ** 2;
        den += g[j] ** 2;
      }
      if (k === 0) firstRel = Math.sqrt(num / den);
      lastRel = Math.sqrt(num / den);
    }
    for (let j = 0; j < DS; j++) expect(sumC[j] + e[j]).toBeCloseTo(sumG[j], 9);
    expect(lastRel).toBeLessThan(firstRel / 5);
  });
});

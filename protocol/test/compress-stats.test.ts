import { describe, expect, it } from 'vitest';
import { parseCompressor, Rng } from './internals.js';
import { DitherCompressor } from '../src/compress/dither.js';
import { Int8Compressor } from '../src/compress/int8.js';
import { NaturalCompressor } from '../src/compress/natural.js';
import { moments, normSq, sendCtx, testVector } from './compress-util.js';

/**
 * Statistical checks of each compressor's constants (SPEC §2), fixed seeds, explicit tolerances:
 * - unbiased: every coordinate's sample mean within 5 standard errors of z_i (plus 1e-6·|z_i| for
 *   the float32 rounding of values on the wire), and E‖Q(z)‖² ≤ q‖z‖² up to 4 standard errors;
 * - contractive: E‖C(z) − z‖² ≤ (1 − 1/δ)‖z‖² up to 4 standard errors (exact for deterministic C).
 */

/**
 * An upper bound U_i on |Q(z)_i|. Every compressor here rounds z_i to one of two points of its sign
 * in [0, U_i] (or drops it), so Var Q(z)_i ≤ |z_i|·U_i: this floors the standard error where rare
 * outcomes (a tiny z_i rounding up to a level far above it) never showed in the sample.
 */
type Reach = (x: Float64Array | Float32Array, i: number) => number;
const maxAbs = (x: ArrayLike<number>): number => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const pNorm = (x: ArrayLike<number>, p: number): number => (p === Infinity ? maxAbs(x) : Array.from(x).reduce((s, v) => s + Math.abs(v) ** p, 0) ** (1 / p));
const natReach: Reach = (x, i) => Math.max(2 * Math.abs(x[i]), 2 ** -126);
const ditherReach =
  (p: number): Reach =>
  (x) =>
    pNorm(x, p) * 1.0000001;
const sparseReach =
  (f: number, inner: Reach): Reach =>
  (x, i) =>
    inner(x, i) / f;

function expectUnbiased(spec: string, x: Float64Array | Float32Array, draws: number, seed: number, reach: Reach, slack = 0): void {
  const c = parseCompressor(spec);
  const m = moments(c, x, draws, seed);
  for (let i = 0; i < x.length; i++) {
    const dev = Math.abs(m.mean[i] - x[i]);
    const seFloor = Math.sqrt(Math.abs(x[i])) * Math.sqrt(reach(x, i) / draws); // no underflow for tiny z_i
    const tol = 5 * Math.max(m.se[i], Math.min(seFloor, 3 * m.se[i] || seFloor)) + 1e-6 * Math.abs(x[i]);
    expect(dev, `${spec}: coordinate ${i} mean ${m.mean[i]} vs ${x[i]} (se ${m.se[i]})`).toBeLessThanOrEqual(tol);
  }
  const { q } = c.constants(x.length, 4);
  expect(q, spec).toBeDefined();
  expect(m.sq, `${spec}: E‖Q(z)‖² = ${m.sq} vs q‖z‖² = ${(q as number) * normSq(x)}`).toBeLessThanOrEqual(
    (q as number) * normSq(x) * (1 + 1e-6) + slack + 4 * m.sqSe,
  );
}

function expectContractive(spec: string, x: Float64Array | Float32Array, draws: number, seed: number): number {
  const c = parseCompressor(spec);
  const { delta, kind } = c.constants(x.length, 4);
  expect(kind).toBe('contractive');
  const m = moments(c, x, draws, seed);
  const bound = (1 - 1 / (delta as number)) * normSq(x);
  expect(m.err, `${spec}: E‖C(z)−z‖² = ${m.err} vs (1−1/δ)‖z‖² = ${bound}`).toBeLessThanOrEqual(bound * (1 + 1e-9) + 4 * m.errSe);
  return m.err / normSq(x);
}

describe('unbiased compressors: E Q(z) = z and E‖Q(z)‖² ≤ q‖z‖²', () => {
  const x = testVector(40, 5);
  const cases: [string, number, Reach][] = [
    ['identity', 10, (y, i) => Math.abs(y[i])],
    ['randk:0.25', 2000, sparseReach(0.25, (y, i) => Math.abs(y[i]))],
    ['randk:k=3', 4000, sparseReach(3 / 40, (y, i) => Math.abs(y[i]))],
    ['natural', 2000, natReach],
    ['dither:p=2,s=8', 2000, ditherReach(2)],
    ['dither:p=inf,s=3', 2000, ditherReach(Infinity)],
    ['dither:p=1,s=4', 2000, ditherReach(1)],
    ['int8:block=16,stochastic', 2000, (y, i) => maxAbs(y.subarray(i - (i % 16), i - (i % 16) + 16)) * 1.0000001],
    ['randk:0.25+natural', 2000, sparseReach(0.25, natReach)],
    ['randk:0.5+dither:p=2,s=8', 2000, sparseReach(0.5, ditherReach(2))],
  ];
  for (const [spec, draws, reach] of cases) {
    it(spec, () => expectUnbiased(spec, x, draws, 17, reach));
  }

  it('dithering of float32 input (one-pass norm; the one-case loop gives way to the general one)', () => {
    const y = testVector(40, 5, true);
    expect(maxAbs(y) / pNorm(y, 2)).toBeGreaterThan(2 ** -7);
    expectUnbiased('dither:p=2,s=8', y, 2000, 9, ditherReach(2));
  });

  it('dithering when every |z_i|/‖z‖ is below the smallest level (the one-case loop)', () => {
    const y = Float64Array.from({ length: 40 }, (_, i) => (i % 3 ? 1 : -1) * (1 + (i % 7) / 10));
    expect(maxAbs(y) / pNorm(y, 2)).toBeLessThan(0.25); // s = 3: smallest level 2^-2
    expectUnbiased('dither:p=2,s=3', y, 2000, 7, ditherReach(2));
    expectUnbiased('dither:p=2,s=3', Float32Array.from(y), 2000, 8, ditherReach(2));
  });

  it('natural on float32 input, including subnormals and values near 2^127', () => {
    const y = new Float32Array([1.5, -3.75, 1e-40, -2.5e-42, 1.2e-38, 2 ** 127, -(2 ** 126) * 1.9, 0, 0.1]);
    expectUnbiased('natural', y, 4000, 3, natReach);
  });

  // The readable version of the draw scheme of lanes.ts: 16 words from the private stream seed four
  // xoshiro128** lanes; element i takes the top (i mod 8 < 4) or bottom half of lane i mod 4's word
  // at step ⌊i/8⌋; ties take one more word each from the private stream, in index order. Each test
  // runs the compressor's WebAssembly path (the default) and its plain-JS path.
  const laneDraws = (local: Rng, d: number): Int32Array => {
    const w = Array.from({ length: 16 }, () => local.nextU32());
    const lanes = [0, 1, 2, 3].map((l) => new Rng(w[4 * l], w[4 * l + 1], w[4 * l + 2], w[4 * l + 3]));
    const r16 = new Int32Array(d);
    for (let g = 0; 8 * g < d; g++) {
      const words = lanes.map((lane) => lane.nextU32());
      for (let j = 0; j < 8 && 8 * g + j < d; j++) r16[8 * g + j] = j < 4 ? words[j] >>> 16 : words[j - 4] & 0xffff;
    }
    return r16;
  };
  const firstDiff = (got: ArrayLike<number>, want: ArrayLike<number>): number => {
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return i;
    return got.length === want.length ? -1 : want.length;
  };
  const paths = [
    ['simd', true],
    ['js', false],
  ] as const;

  it.each(paths)('natural on float32 input draws exactly as its scheme reads (ties included; %s path)', (_, simd) => {
    const d = 2 ** 20 + 5;
    const x = testVector(d, 31, true) as Float32Array;
    const local = sendCtx(5, 2).local;
    const r16 = laneDraws(local, d);
    const bits = new Int32Array(x.buffer);
    const want = new Uint16Array(d);
    const ties: number[] = [];
    for (let i = 0; i < d; i++) {
      // 16 random bits against the top 16 mantissa bits
      const m16 = (bits[i] >>> 7) & 0xffff;
      want[i] = (bits[i] >>> 23) + (r16[i] < m16 ? 1 : 0);
      if (r16[i] === m16) ties.push(i);
    }
    for (const i of ties) want[i] += local.nextU32() >>> 25 < (bits[i] & 0x7f) ? 1 : 0; // 7 bits against the low 7
    expect(ties.length).toBeGreaterThan(3); // ~16 expected: the tie path is exercised
    const got = (new NaturalCompressor({ simd }).compress(x, sendCtx(5, 2)) as unknown as { codes: Uint16Array }).codes;
    expect(firstDiff(got, want)).toBe(-1);
  });

  it.each(paths)('natural on float64 input draws exactly as its scheme reads (ties included; %s path)', (_, simd) => {
    const d = 2 ** 20 + 5;
    const x = testVector(d, 32) as Float64Array;
    for (let i = 11; i < d; i += 4099) x[i] = (i % 2 ? 1 : -1) * 2 ** -130 * (1 + (i % 17) / 17); // below 2^−126
    const local = sendCtx(5, 4).local;
    const r16 = laneDraws(local, d);
    const want = new Uint16Array(d);
    const ties: number[] = [];
    // 52-bit threshold: the mantissa at or above 2^−126 (code sign·256 + float32 exponent),
    // ⌊|t|·2^178⌋ below (code sign·256, up to 2^−126)
    const P52 = (v: number): bigint => {
      const b = new DataView(new Float64Array([Math.abs(v)]).buffer).getBigUint64(0, true);
      return Math.abs(v) < 2 ** -126 ? BigInt(Math.floor(Math.abs(v) * 2 ** 178)) : b & ((1n << 52n) - 1n);
    };
    for (let i = 0; i < d; i++) {
      const v = x[i];
      const e = Math.abs(v) < 2 ** -126 ? 0 : Math.floor(Math.log2(Math.abs(v))) + 127;
      const p16 = Number(P52(v) >> 36n);
      want[i] = (v < 0 || Object.is(v, -0) ? 256 : 0) + e + (r16[i] < p16 ? 1 : 0);
      if (r16[i] === p16) ties.push(i);
    }
    for (const i of ties) {
      // 36 more bits: one word against P's bits 4…35, then 4 bits against its last 4
      const mid = Number((P52(x[i]) >> 4n) & 0xffffffffn);
      const w = local.nextU32();
      if (w < mid || (w === mid && local.nextU32() >>> 28 < Number(P52(x[i]) & 15n))) want[i] += 1;
    }
    expect(ties.length).toBeGreaterThan(3);
    const got = (new NaturalCompressor({ simd }).compress(x, sendCtx(5, 4)) as unknown as { codes: Uint16Array }).codes;
    expect(firstDiff(got, want)).toBe(-1);
  });

  it.each([
    ['simd', 8, false], // every |z_i|/‖z‖ below the smallest level
    ['js', 8, false],
    ['simd', 3, true], // entries at several levels, −0 and zeros
    ['js', 3, true],
    ['simd', 32, true],
  ] as const)('dithering draws exactly as its scheme reads (ties included; %s path, s = %i, large entries: %s)', (path, s, large) => {
    const simd = path === 'simd';
    const d = 2 ** 20 + 3;
    const gauss = new Rng(37, 1, 2, 3);
    const x = Float32Array.from({ length: d }, () => gauss.nextGaussian());
    if (large) for (let k = 0; k < 8; k++) x[7 + 101 * k] = (k % 2 ? -50 : 50) * 2 ** k; // u from ~0.005 to ~0.7
    if (large) for (let i = 5; i < d; i += 1000) x[i] = i % 2000 === 5 ? -0 : 0;
    const got = new DitherCompressor({ p: 2, s, simd }).compress(x, sendCtx(6, 3)) as unknown as { codes: Uint8Array; norm: number };
    const levelBits = Math.ceil(Math.log2(s + 1));
    // t = |z_i|/‖z‖ in units of the smallest level 2^(1−s), capped at 2^(s−1) (u = 1); below 1 the
    // level index is s (zero) and P(up) = t, else t = 2^E(1 + f): index s − 1 − E, P(up) = f. P31 =
    // ⌊P(up)·2^31⌋; its top 16 bits meet the random bits, a tie its low 15.
    const k = 2 ** (s - 1) / got.norm;
    const level = (v: number): [number, number] => {
      const t = Math.min(Math.abs(v) * k, 2 ** (s - 1));
      if (t < 1) return [s, Math.floor(t * 2 ** 31)];
      const E = Math.floor(Math.log2(t)) - (2 ** Math.floor(Math.log2(t)) > t ? 1 : 0);
      return [s - 1 - E, Math.floor((t / 2 ** E - 1) * 2 ** 31)];
    };
    const local = sendCtx(6, 3).local;
    const r16 = laneDraws(local, d);
    const want = new Uint8Array(d);
    const ties: number[] = [];
    const levels = new Set<number>();
    for (let i = 0; i < d; i++) {
      const [j, P31] = level(x[i]);
      if (j < s) levels.add(j);
      const sign = x[i] < 0 || Object.is(x[i], -0) ? 1 << levelBits : 0;
      want[i] = (j - (r16[i] < P31 >>> 15 ? 1 : 0)) | sign;
      if (r16[i] === P31 >>> 15) ties.push(i);
    }
    for (const i of ties) if (local.nextU32() >>> 17 < (level(x[i])[1] & 0x7fff)) want[i] -= 1;
    expect(ties.length).toBeGreaterThan(0);
    if (large)
      expect(levels.size).toBeGreaterThanOrEqual(s === 3 ? 2 : 8); // several non-zero levels
    else expect(levels.size).toBe(0);
    expect(firstDiff(got.codes, want)).toBe(-1);
  });

  it.each([
    ['simd', 256],
    ['js', 256],
    ['simd', 100], // a block size that is not a multiple of 8 takes the JS path
  ] as const)('int8 stochastic draws exactly as its scheme reads (ties and a zero block included; %s path, B = %i)', (path, B) => {
    const simd = path === 'simd';
    const d = 2 ** 20 + 3;
    const x = testVector(d, 41, true) as Float32Array;
    x.fill(0, 3 * B, 4 * B); // a block of zeros: every code 0, its draws still taken
    const got = new Int8Compressor({ block: B, stochastic: true, simd }).compress(x, sendCtx(8, 1)) as unknown as {
      codes: Int8Array;
      scales: Float32Array;
    };
    expect(got.scales[3]).toBe(0);
    const local = sendCtx(8, 1).local;
    const r16 = laneDraws(local, d);
    const want = new Int8Array(d);
    const ties: number[] = [];
    // t = z_i·127/scale + 128 (0·z_i + 128 in a zero block); up with probability frac(t), F31 = ⌊frac(t)·2^31⌋
    const frac = (i: number): [number, number] => {
      const scale = got.scales[Math.floor(i / B)];
      const t = x[i] * (scale === 0 ? 0 : 127 / scale) + 128;
      return [Math.floor(t), Math.floor((t - Math.floor(t)) * 2 ** 31)];
    };
    for (let i = 0; i < d; i++) {
      const [fl, F31] = frac(i);
      want[i] = Math.min(127, Math.max(-127, fl - 128 + (r16[i] < F31 >>> 15 ? 1 : 0)));
      if (r16[i] === F31 >>> 15) ties.push(i);
    }
    for (const i of ties) if (local.nextU32() >>> 17 < (frac(i)[1] & 0x7fff)) want[i] = Math.min(127, want[i] + 1);
    expect(ties.length).toBeGreaterThan(0);
    expect(firstDiff(got.codes, want)).toBe(-1);
  });

  it('natural on float64 input below the float32 normal range: unbiased; q holds up to Σ|t|·2^−126 there', () => {
    // Below 2^−126 the codes can only round to 0 or 2^−126, so E C(t)² = |t|·2^−126 exceeds (9/8)t²:
    // the second moment is bounded by q‖z‖² plus that (absolutely negligible) slack.
    const y = new Float64Array([1e-40, -3e-39, 2 ** -126 * 0.75, 5e-300, 1.1754943508222875e-38 * 1.5]);
    const slack = Array.from(y).reduce((s, t) => s + (Math.abs(t) < 2 ** -126 ? Math.abs(t) * 2 ** -126 : 0), 0);
    expectUnbiased('natural', y, 4000, 4, natReach, slack);
    expect(() => expectUnbiased('natural', y, 4000, 4, natReach, 0)).toThrow(/E‖Q\(z\)‖²/);
  });

  it('the unbiasedness check has power: TopK (biased) fails it', () => {
    expect(() => expectUnbiased('topk:0.25', x, 200, 1, (y, i) => Math.abs(y[i]))).toThrow();
  });
});

describe('tight second moments', () => {
  it('RandK: E‖Q(z)‖² = (d/K)‖z‖² within 5 standard errors', () => {
    const x = testVector(50, 9);
    const c = parseCompressor('randk:0.2');
    const m = moments(c, x, 4000, 2);
    const want = 5 * normSq(x);
    expect(Math.abs(m.sq - want)).toBeLessThanOrEqual(5 * m.sqSe + 1e-6 * want);
  });

  it('natural compression attains q = 9/8 at mantissa fraction f = 1/3', () => {
    // t = 2^a(1+f): E C(t)² / t² = (1+3f)/(1+f)², maximal 9/8 at f = 1/3.
    const x = new Float64Array(32);
    for (let i = 0; i < 32; i++) x[i] = (i % 2 ? -1 : 1) * 2 ** (i - 12) * (4 / 3);
    const c = parseCompressor('natural');
    const m = moments(c, x, 2000, 8);
    const ratio = m.sq / normSq(x);
    expect(Math.abs(ratio - 9 / 8)).toBeLessThanOrEqual((5 * m.sqSe) / normSq(x) + 1e-9);
  });

  it('natural compression leaves powers of two unchanged (no randomness)', () => {
    const x = new Float64Array([1, -2, 0.5, 2 ** -126, -(2 ** 127), 0, 2 ** 40]);
    const m = moments(parseCompressor('natural'), x, 50, 1);
    for (let i = 0; i < x.length; i++) {
      expect(m.mean[i]).toBe(x[i]);
      expect(m.se[i]).toBe(0);
    }
  });
});

describe('contractive compressors: E‖C(z) − z‖² ≤ (1 − 1/δ)‖z‖²', () => {
  it('TopK on generic vectors and with equal magnitudes (where δ = d/K is tight)', () => {
    for (let s = 0; s < 5; s++) expectContractive('topk:0.3', testVector(60, 100 + s), 1, 0);
    const flat = Float64Array.from({ length: 60 }, (_, i) => (i % 3 ? 1 : -1));
    const r = expectContractive('topk:k=6', flat, 1, 0);
    expect(r).toBeCloseTo(1 - 6 / 60, 12);
  });

  it('int8 round-to-nearest: the measured δ stays within the bound 1 − 1/δ = B/64516', () => {
    let worst = 0;
    for (let s = 0; s < 5; s++) worst = Math.max(worst, expectContractive('int8:block=64', testVector(640, 200 + s), 1, 0));
    // Rounding errors are ≈ uniform in ±step/2: the measured 1 − 1/δ is well below the worst case.
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(64 / 64516);
  });

  it('TopK then natural: δ = (d/K)/(2 − 9/8)', () => {
    for (let s = 0; s < 3; s++) expectContractive('topk:0.3+natural', testVector(60, 300 + s), 2000, 4);
    const flat = Float64Array.from({ length: 60 }, (_, i) => (i % 2 ? 4 / 3 : -4 / 3));
    expectContractive('topk:k=12+natural', flat, 2000, 5);
  });

  it('TopK then int8: δ = δ₁·δ₂', () => {
    for (let s = 0; s < 3; s++) expectContractive('topk:0.5+int8:block=8', testVector(64, 400 + s), 1, 0);
  });
});

describe('PowerSGD (biased): behaviour', () => {
  it('reconstructs a rank-r matrix to float32 precision and never expands the vector', () => {
    // d = 30·30 reshapes to the same 30×30 matrix: build M = Σ_c u_c v_cᵀ of rank 3.
    const n = 30;
    const x = new Float64Array(n * n);
    const r = testVector(6 * n, 77);
    for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) x[i * n + j] += r[c * n + i] * r[(3 + c) * n + j];
    const m = moments(parseCompressor('powersgd:rank=3'), x, 5, 1);
    expect(m.err / normSq(x)).toBeLessThan(1e-10);
    const mLow = moments(parseCompressor('powersgd:rank=1'), x, 5, 1);
    expect(mLow.err / normSq(x)).toBeGreaterThan(1e-3);
    // Projection onto span(P̂): ‖M − P̂P̂ᵀM‖² ≤ ‖M‖² for any vector, and more rank helps.
    const y = testVector(1000, 78);
    const e1 = moments(parseCompressor('powersgd:rank=1'), y, 5, 2).err;
    const e8 = moments(parseCompressor('powersgd:rank=8'), y, 5, 2).err;
    expect(e1).toBeLessThanOrEqual(normSq(y));
    expect(e8).toBeLessThan(e1);
  });
});

import { describe, expect, it } from 'vitest';
import {
  keyedRng,
  parseCompressor,
  PayloadError,
  permk,
  permkConstants,
  KeyedPermutation,
  permkChunk,
  permkLayout,
  permkSupport,
  Rng,
  Streams,
  type CompressContext,
} from './internals.js';

const streams = new Streams(2024);
const local = keyedRng(1, 0, 'local', 0);

function ctx(round: number, device: number, devices: number, purpose = 'up:diff'): CompressContext {
  return { streams, round, purpose, device, devices, local };
}

/** Float32-representable vector (so that the wire rounding is exact and identities are exact). */
function randomVec(d: number, seed: number, device = 0): Float64Array {
  const r = keyedRng(seed, 0, 'vec', device);
  const x = new Float64Array(d);
  for (let i = 0; i < d; i++) x[i] = Math.fround(r.nextGaussian() * (1 + (i % 5)));
  return x;
}

/** (d, n) pairs covering both regimes, divisible or not, and d = n. */
const SHAPES: Array<[number, number]> = [
  [12, 4], // d ≥ n, n | d
  [11, 4], // d ≥ n, n ∤ d (blocks of 2 or 3)
  [7, 7], // d = n
  [3, 12], // d < n, d | n
  [4, 11], // d < n, d ∤ n (2 or 3 holders)
  [5, 1], // a single device keeps everything
];

describe("KeyedPermutation (the blocks regime's π)", () => {
  it('is a bijection of [0, d) for every size and chunk length, and range() agrees with at()', () => {
    for (const d of [1, 2, 3, 4, 5, 16, 17, 255, 1000, 4096, 65_537, 1_000_003]) {
      for (const chunk of [1, 3, 16]) {
        if (chunk > d) continue;
        const r = new Rng(d, chunk, 2, 3);
        const p = new KeyedPermutation(d, [r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()], chunk);
        const all = p.range(0, new Uint32Array(d));
        const seen = new Uint8Array(d);
        let outOfRange = 0;
        for (const v of all) {
          if (v >= d) outOfRange++;
          else seen[v]++;
        }
        const tag = `d=${d} chunk=${chunk}`;
        expect(outOfRange, tag).toBe(0);
        expect(
          seen.every((c) => c === 1),
          tag,
        ).toBe(true);
        for (const i of [0, d >> 1, d - 1]) expect(p.at(i), tag).toBe(all[i]);
        const from = d >> 2;
        const len = Math.min(37, d - from);
        expect(p.range(from, new Uint32Array(len)), tag).toEqual(all.subarray(from, from + len));
        if (chunk > 1 && d >= 2 * chunk) {
          // Whole chunks stay whole: positions of a chunk map to consecutive coordinates.
          expect(all[1] - all[0], tag).toBe(1);
          expect(all[0] % chunk, tag).toBe(0);
        }
      }
    }
  });

  it('chunks only where every block spans ≥ 64 of them', () => {
    expect(permkChunk(10_000_000, 100)).toBe(16);
    expect(permkChunk(1024 * 10, 10)).toBe(16);
    expect(permkChunk(1024 * 10 - 1, 10)).toBe(8);
    expect(permkChunk(100, 10)).toBe(1);
    expect(permkChunk(5, 5)).toBe(1);
  });

  it('with random keys, π(i) is uniform over [0, d) and π(i), π(i+1) are not correlated (chi-square, 20 000 key draws)', () => {
    const d = 37;
    const draws = 20_000;
    const first = new Float64Array(d);
    const gaps = new Float64Array(d);
    const r = new Rng(99, 98, 97, 96);
    for (let t = 0; t < draws; t++) {
      const p = new KeyedPermutation(d, [r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]);
      first[p.at(5)]++;
      gaps[(p.at(6) - p.at(5) + d) % d]++;
    }
    const chi = (counts: Float64Array, expected: (j: number) => number): number => {
      let c = 0;
      for (let j = 0; j < counts.length; j++) c += (counts[j] - expected(j)) ** 2 / expected(j);
      return c;
    };
    // 36 degrees of freedom: mean 36, sd 8.5; 36 + 5 sd ≈ 79.
    expect(chi(first, () => draws / d)).toBeLessThan(79);
    // Gap 0 is impossible (π(5) ≠ π(6)); the others are uniform over the d − 1 values: 35 dof.
    expect(gaps[0]).toBe(0);
    expect(chi(gaps.subarray(1), () => draws / (d - 1))).toBeLessThan(78);
  });
});

describe('PermK layout', () => {
  it('d ≥ n: blocks partition the coordinates, sizes ⌊d/n⌋ or ⌈d/n⌉, scale n', () => {
    for (const [d, n] of [
      [11, 4],
      [1000, 7],
      [13, 13],
    ]) {
      for (let round = 0; round < 20; round++) {
        const layout = permkLayout(d, n, streams, round, 'p');
        const seen = new Uint8Array(d);
        let long = 0;
        for (let m = 0; m < n; m++) {
          const s = permkSupport(layout, m);
          expect(s.gain).toBe(n);
          expect([Math.floor(d / n), Math.ceil(d / n)]).toContain(s.indices.length);
          if (s.indices.length > Math.floor(d / n)) long++;
          for (const j of s.indices) seen[j]++;
        }
        expect(long).toBe(d % n);
        expect(Array.from(seen).every((c) => c === 1)).toBe(true);
      }
    }
  });

  it('d < n: one coordinate per device, coordinate u held by ⌊n/d⌋ or ⌈n/d⌉ devices, scale n/holders', () => {
    const d = 4;
    const n = 11;
    for (let round = 0; round < 20; round++) {
      const layout = permkLayout(d, n, streams, round, 'p');
      const holders = new Array<number>(d).fill(0);
      const gains = new Array<number>(d).fill(0);
      for (let m = 0; m < n; m++) {
        const s = permkSupport(layout, m);
        expect(s.indices.length).toBe(1);
        holders[s.indices[0]]++;
        gains[s.indices[0]] = s.gain;
      }
      for (let j = 0; j < d; j++) {
        expect([2, 3]).toContain(holders[j]);
        expect(gains[j]).toBeCloseTo(n / holders[j], 14);
      }
      expect(holders.filter((h) => h === 3).length).toBe(n % d);
    }
  });

  it('every device and the receiver derive the same draws from the shared stream, and rounds differ', () => {
    const a = permkLayout(50, 5, new Streams(9), 3, 'up');
    const b = permkLayout(50, 5, new Streams(9), 3, 'up');
    const c = permkLayout(50, 5, new Streams(9), 4, 'up');
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe('PermK compressor', () => {
  it('the average over devices of PermK applied to the same vector equals the vector (both regimes)', () => {
    for (const [d, n] of SHAPES) {
      const c = permk();
      const x = randomVec(d, d * 100 + n);
      for (let round = 0; round < 10; round++) {
        const sum = new Float64Array(d);
        for (let m = 0; m < n; m++) {
          const p = c.compress(x, ctx(round, m, n));
          c.accumulate(p, ctx(round, m, n), 1, sum);
        }
        for (let j = 0; j < d; j++) {
          if (d >= n)
            expect(sum[j] / n).toBe(x[j]); // one contribution n·x_j per coordinate: exact
          else expect(sum[j] / n).toBeCloseTo(x[j], 12); // c_j contributions (n/c_j)·x_j: exact up to rounding
        }
      }
    }
  });

  it('each device output is unbiased (within 5 standard errors over 20 000 rounds)', () => {
    const rounds = 20_000;
    for (const [d, n] of [
      [11, 4],
      [4, 11],
      [3, 12],
      [257, 2], // chunks of 2 coordinates, n ∤ d
    ]) {
      const c = permk();
      const x = randomVec(d, 77);
      for (const m of [0, n - 1]) {
        const s1 = new Float64Array(d);
        const s2 = new Float64Array(d);
        const out = new Float64Array(d);
        for (let round = 0; round < rounds; round++) {
          c.decompress(c.compress(x, ctx(round, m, n)), ctx(round, m, n), out);
          for (let j = 0; j < d; j++) {
            s1[j] += out[j];
            s2[j] += out[j] * out[j];
          }
        }
        for (let j = 0; j < d; j++) {
          const mean = s1[j] / rounds;
          const se = Math.sqrt((s2[j] / rounds - mean * mean) / rounds);
          expect(Math.abs(mean - x[j])).toBeLessThan(5 * se + 1e-12);
        }
      }
    }
  });

  it('per-device second moment matches q: E‖C(x)‖² = q‖x‖² (within 3%)', () => {
    for (const [d, n] of [
      [11, 4],
      [4, 11],
    ]) {
      const c = permk();
      const q = permkConstants(d, n).q as number;
      const x = randomVec(d, 5);
      let nx = 0;
      for (const v of x) nx += v * v;
      const rounds = 20_000;
      let acc = 0;
      const out = new Float64Array(d);
      for (let round = 0; round < rounds; round++) {
        c.decompress(c.compress(x, ctx(round, 1, n)), ctx(round, 1, n), out);
        for (const v of out) acc += v * v;
      }
      expect(acc / rounds / (q * nx)).toBeGreaterThan(0.97);
      expect(acc / rounds / (q * nx)).toBeLessThan(1.03);
    }
  });

  it('constants: A = B = 1 for d ≥ n, A = B = (d−1)/(n−1) for d | n, q = n or d, β = 1/n or 1/d', () => {
    expect(permkConstants(1000, 10)).toEqual({ kind: 'unbiased', q: 10, beta: 0.1, ab: { A: 1, B: 1 } });
    expect(permkConstants(1001, 10).ab).toEqual({ A: 1, B: 1 });
    const small = permkConstants(10, 1000);
    expect(small.q).toBeCloseTo(10, 12);
    expect(small.beta).toBe(0.1);
    expect(small.ab?.A).toBeCloseTo(9 / 999, 15);
    expect(small.ab?.B).toBeCloseTo(9 / 999, 15);
    // d ∤ n: κ averaged over the residues, q = (n/d)Σ 1/c_u.
    const odd = permkConstants(4, 11); // c = 3, 3, 3, 2
    expect(odd.q).toBeCloseTo((11 / 4) * (3 / 3 + 1 / 2), 14);
    expect(odd.ab?.A).toBeCloseTo((3 * (8 / 30) + 9 / 20) / 4, 14);
  });

  it('AB inequality: E‖(1/n)ΣC_m(a_m) − ā‖² = A·(1/n)Σ‖a_m‖² − B‖ā‖² on heterogeneous inputs (within 4%)', () => {
    for (const [d, n] of SHAPES.filter(([, n]) => n > 1)) {
      const c = permk();
      const { A, B } = permkConstants(d, n).ab as { A: number; B: number };
      const a = Array.from({ length: n }, (_, m) => {
        const v = randomVec(d, 31, m);
        for (let j = 0; j < d; j++) v[j] = Math.fround(v[j] + 3 * Math.sin(m + j)); // shared part + device noise
        return v;
      });
      const abar = new Float64Array(d);
      let meanSq = 0;
      for (const v of a) {
        for (let j = 0; j < d; j++) {
          abar[j] += v[j] / n;
          meanSq += (v[j] * v[j]) / n;
        }
      }
      let abarSq = 0;
      for (const v of abar) abarSq += v * v;
      const bound = A * meanSq - B * abarSq;
      expect(bound).toBeGreaterThan(0);
      const rounds = 6000;
      let acc = 0;
      const sum = new Float64Array(d);
      for (let round = 0; round < rounds; round++) {
        sum.fill(0);
        for (let m = 0; m < n; m++) c.accumulate(c.compress(a[m], ctx(round, m, n)), ctx(round, m, n), 1 / n, sum);
        for (let j = 0; j < d; j++) acc += (sum[j] - abar[j]) ** 2;
      }
      const ratio = acc / rounds / bound;
      expect(ratio).toBeGreaterThan(0.96);
      expect(ratio).toBeLessThan(1.04);
    }
  });

  it('payload carries only float32 values: exact bits, round-trips through bytes', () => {
    const c = permk();
    const d = 103;
    const n = 10;
    const x = randomVec(d, 8);
    for (let m = 0; m < n; m++) {
      const p = c.compress(x, ctx(5, m, n));
      expect(p.bits).toBe(32 * p.values.length);
      expect([10, 11]).toContain(p.values.length);
      const bytes = c.encode(p);
      expect(bytes.length).toBe(p.bits / 8);
      const q = c.decode(bytes, d);
      expect(q).toEqual(p);
      const o1 = c.decompress(p, ctx(5, m, n), new Float64Array(d));
      const o2 = c.decompress(q, ctx(5, m, n), new Float64Array(d));
      expect(o2).toEqual(o1);
    }
  });

  it('rejects malformed payloads with PayloadError', () => {
    const c = permk();
    expect(() => c.decode(new Uint8Array(5), 10)).toThrow(PayloadError);
    expect(() => c.decode(new Uint8Array(0), 10)).toThrow(PayloadError);
    expect(() => c.decode(new Uint8Array(44), 10)).toThrow(PayloadError);
    const nan = new Uint8Array(new Float32Array([1, Number.NaN]).buffer);
    expect(() => c.decode(nan, 10)).toThrow(PayloadError);
    // A payload of the wrong length for the round's block is rejected when applied.
    const p = c.decode(new Uint8Array(new Float32Array([1, 2, 3]).buffer), 10);
    expect(() => c.decompress(p, ctx(0, 0, 5), new Float64Array(10))).toThrow(PayloadError);
  });

  it('is registered as `permk`', () => {
    const c = parseCompressor('permk');
    expect(c.spec).toBe('permk');
    expect(c.constants(100, 10).ab).toEqual({ A: 1, B: 1 });
  });
});

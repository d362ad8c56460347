import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kthLargest, parseCompressor, Rng, sampleIndices, Streams, topKIndices, ValidationError } from './internals.js';
import { hotSeed } from '../src/compress/hotrng.js';
import { uniformBelow } from '../src/compress/sample.js';
import { sendCtx } from './compress-util.js';

/** Reference: indices of the k largest |x_i|, ties to the lowest index, ascending. */
function bruteTopK(x: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: x.length }, (_, i) => i);
  idx.sort((a, b) => Math.abs(x[b]) - Math.abs(x[a]) || a - b);
  return idx.slice(0, k).sort((a, b) => a - b);
}

describe('topKIndices (radix select)', () => {
  it('matches a full sort on random float64 and float32 vectors, with many ties', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e30, max: 1e30 }), fc.constantFrom(0, -0, 1, -1, 2.5, 1e-310)), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.nat(),
        fc.boolean(),
        (values, kr, f32) => {
          const x = f32 ? new Float32Array(values) : new Float64Array(values);
          const k = kr % (x.length + 1);
          expect(Array.from(topKIndices(x, k))).toEqual(bruteTopK(x, k));
        },
      ),
      { numRuns: 400, seed: 7 },
    );
  });

  it('large vectors (sampled threshold path, and its fallbacks) agree with a full sort', () => {
    const d = 1 << 16; // the smallest d on the sampled path
    const r = new Rng(3, 1, 4, 1);
    const gauss = Float64Array.from({ length: d }, () => r.nextGaussian());
    const mixed = Float32Array.from({ length: d }, () => r.nextGaussian() * 2 ** (r.nextInt(16) - 8));
    const ties = Float32Array.from({ length: d }, () => r.nextInt(5) - 2); // few distinct values
    const spike = new Float64Array(d);
    for (let i = 0; i < 50; i++) spike[r.nextInt(d)] = r.nextGaussian() * 1e6; // sample misses them
    const flat = new Float32Array(d).fill(1.25); // all candidates: falls back to the histogram path
    for (const [name, x] of [
      ['gauss', gauss],
      ['mixed', mixed],
      ['ties', ties],
      ['spike', spike],
      ['flat', flat],
    ] as const) {
      const mags = Float64Array.from(x, Math.abs);
      const order = Uint32Array.from({ length: d }, (_, i) => i).sort((a, b) => mags[b] - mags[a] || a - b);
      for (const k of [1, 7, 1000, 13107, d - 1]) {
        const want = order.slice(0, k).sort();
        const got = topKIndices(x, k);
        let same = got.length === k;
        for (let i = 0; same && i < k; i++) same = got[i] === want[i];
        expect(same, `${name} k=${k}`).toBe(true);
      }
    }
  });

  it('handles vectors whose magnitudes all fall in one histogram bin', () => {
    const x = Float64Array.from({ length: 5000 }, (_, i) => 1 + ((i * 7919) % 5000) * 1e-12);
    expect(Array.from(topKIndices(x, 37))).toEqual(bruteTopK(x, 37));
    const flat = new Float32Array(1000).fill(-3);
    expect(Array.from(topKIndices(flat, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('kthLargest agrees with sorting', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 200 }), fc.nat(), (v, kr) => {
        const k = 1 + (kr % v.length);
        const sorted = [...v].sort((a, b) => b - a);
        expect(kthLargest(Float64Array.from(v), k)).toBe(sorted[k - 1]);
      }),
      { numRuns: 300, seed: 8 },
    );
  });

  it('TopK rejects a non-finite input it would keep', () => {
    const x = new Float64Array([1, 2, Number.NaN, 4]);
    expect(() => parseCompressor('topk:k=1').compress(x, sendCtx(1, 0))).toThrow(ValidationError);
    const y = new Float64Array([1, 2, Infinity, 4]);
    expect(() => parseCompressor('topk:k=2+natural').compress(y, sendCtx(1, 0))).toThrow(ValidationError);
  });
});

describe('sampleIndices (shared RandK indices)', () => {
  it("draws exactly what Lemire's method gives in exact integer arithmetic (fast floating-point path included)", () => {
    for (const d of [1, 2, 3, 7, 1000, 10_000_000, 2 ** 31 - 1, 2 ** 31 + 1, 3 * 2 ** 30 + 7, 2 ** 32 - 5, 2 ** 32 - 1]) {
      const fast = uniformBelow(new Streams(11).rng(d % 1000, 'lemire', 0), d, 20_000);
      const words = hotSeed(new Streams(11).rng(d % 1000, 'lemire', 0));
      const ref = new Rng(words[0], words[1], words[2], words[3]);
      const D = BigInt(d);
      const reject = (2n ** 32n - D) % D;
      for (let n = 0; n < fast.length;) {
        const p = BigInt(ref.nextU32()) * D;
        if (p % 2n ** 32n < reject) continue;
        const hi = Number(p >> 32n);
        if (fast[n] !== hi) expect(`draw ${n} for d=${d}: ${fast[n]}`).toBe(`draw ${n} for d=${d}: ${hi}`);
        n++;
      }
    }
  });

  it('returns k distinct ascending indices in [0, d), identical for identical keys', () => {
    for (const [d, k] of [
      [1, 1],
      [10, 10],
      [1000, 10],
      [1000, 100],
      [1000, 700],
      [100000, 1000],
      [100000, 5],
      [100000, 6000], // bucketed sort (d/k ≤ 128), repeats topped up
      [10000000, 100000], // bucketed sort, many buckets
      [10000000, 10000], // radix sort (d/k > 128)
      [2 ** 32 - 1, 3000], // radix sort, full 32-bit range
    ]) {
      const a = sampleIndices(new Streams(5).rng(3, 'up/randk', 1), d, k);
      const b = sampleIndices(new Streams(5).rng(3, 'up/randk', 1), d, k);
      const c = sampleIndices(new Streams(5).rng(4, 'up/randk', 1), d, k);
      expect(a).toEqual(b);
      expect(a.length).toBe(k);
      let firstUnsorted = -1;
      for (let j = 1; j < k && firstUnsorted < 0; j++) if (!(a[j] > a[j - 1])) firstUnsorted = j;
      expect(firstUnsorted, `d=${d} k=${k}: strictly ascending`).toBe(-1);
      expect(a[k - 1]).toBeLessThan(d);
      if (k < d) expect(Array.from(c)).not.toEqual(Array.from(a));
    }
  });

  it('draws every index with probability k/d (chi-square over 20000 draws), both algorithms', () => {
    for (const [d, k] of [
      [64, 3],
      [64, 40],
      [64, 64],
    ]) {
      const counts = new Float64Array(d);
      const draws = 20000;
      for (let t = 0; t < draws; t++) for (const i of sampleIndices(new Streams(9).rng(t, 'chi', 0), d, k)) counts[i]++;
      const expected = (draws * k) / d;
      let chi2 = 0;
      for (let i = 0; i < d; i++) chi2 += (counts[i] - expected) ** 2 / expected;
      // (d − 1) = 63 degrees of freedom (a slight overcount for without-replacement draws):
      // mean 63, sd ≈ 11.2; 63 + 5 sd ≈ 119.
      expect(chi2, `d=${d} k=${k}`).toBeLessThan(119);
      if (k < d) expect(chi2).toBeGreaterThan(20);
    }
  });

  it.each([
    [12, 4], // Floyd
    [64, 4], // uniform draws with repeats topped up
  ])('pairs are uniform too: P(i and j both kept) = k(k−1)/(d(d−1)) (d=%i, k=%i)', (d, k) => {
    const draws = 30000;
    const pair = new Float64Array(d * d);
    for (let t = 0; t < draws; t++) {
      const s = sampleIndices(new Streams(2).rng(t, 'pairs', 0), d, k);
      for (const i of s) for (const j of s) if (i < j) pair[i * d + j]++;
    }
    const p = (k * (k - 1)) / (d * (d - 1));
    const sd = Math.sqrt(draws * p * (1 - p));
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) expect(Math.abs(pair[i * d + j] - draws * p)).toBeLessThan(5 * sd);
  });
});

describe('natural compression: special values', () => {
  const c = parseCompressor('natural');
  it('rejects ±∞, NaN and magnitudes above 2^127 with a ValidationError naming the element', () => {
    for (const bad of [Infinity, -Infinity, Number.NaN, 2 ** 127 * 1.5, 1e300]) {
      expect(() => c.compress(new Float64Array([1, bad]), sendCtx(1, 0))).toThrow(/x\[1\]/);
      expect(() => c.compress(new Float64Array([1, bad]), sendCtx(1, 0))).toThrow(ValidationError);
    }
    for (const bad of [Infinity, Number.NaN, 2 ** 127 * 1.5]) {
      expect(() => c.compress(new Float32Array([bad]), sendCtx(1, 0))).toThrow(ValidationError);
    }
  });

  it('keeps 0, −0 and exact powers of two, and maps subnormals to 0 or 2^−126', () => {
    for (const f32 of [false, true]) {
      const x = f32 ? new Float32Array([0, -0, 2 ** 127, -(2 ** -126), 1e-40, -1e-45]) : new Float64Array([0, -0, 2 ** 127, -(2 ** -126), 1e-40, -1e-45]);
      for (let t = 0; t < 20; t++) {
        const out = c.decompress(c.compress(x, sendCtx(1, t)), sendCtx(1, t), new Float64Array(x.length));
        expect(out.slice(0, 4)).toEqual(Float64Array.from([0, -0, 2 ** 127, -(2 ** -126)]));
        expect([0, 2 ** -126]).toContain(out[4]);
        expect([-0, -(2 ** -126)]).toContain(out[5]);
      }
    }
  });

  it('float32: ties of the 16-bit comparison are broken with 7 more random bits, exactly', () => {
    // mantissa 127 (top 16 bits 0): every round-up comes from a tie, P = 127/2^23.
    // mantissa 128 (top 16 bits 1, low 7 bits 0): P = 128/2^23, ties never round up.
    const n = 1 << 22;
    for (const [mant, seed] of [
      [127, 1],
      [128, 2],
    ]) {
      const x = new Float32Array(n).fill(1 + mant * 2 ** -23);
      const out = c.decompress(c.compress(x, sendCtx(seed, 0)), sendCtx(seed, 0), new Float32Array(n));
      let ups = 0;
      for (let i = 0; i < n; i++) if (out[i] === 2) ups++;
      const mean = (n * mant) / 2 ** 23; // 63.5 or 64
      expect(Math.abs(ups - mean), `mantissa ${mant}: ${ups} round-ups`).toBeLessThan(5 * Math.sqrt(mean));
    }
  });
});

import { describe, expect, it } from 'vitest';
import { BilinearProblem, DEFAULT_BILINEAR, generateBilinear } from '../src/problems/bilinear.js';
import { bilinearFromJson, bilinearToJson } from '../src/problems/bilinear-file.js';
import { ValidationError } from '../src/errors.js';
import { keyedRng } from '../src/rng/streams.js';
import type { Rng } from '../src/rng/xoshiro128.js';

function randVec(n: number, rng: Rng, scale = 1): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * rng.nextGaussian();
  return v;
}
const nsq = (v: Float64Array) => v.reduce((s, x) => s + x * x, 0);
const diff = (a: Float64Array, b: Float64Array) => a.map((x, i) => x - b[i]);
const dotp = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);

/** f_m(x, y) = xᵀA_m y + a_mᵀx + b_mᵀy + (λ/2)‖x‖² − (λ/2)‖y‖², evaluated from the raw data. */
function fm(p: BilinearProblem, m: number, z: Float64Array): number {
  const { d, lambda } = p;
  const A = p.data.A[m];
  let s = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s += z[i] * A[i * d + j] * z[d + j];
  for (let i = 0; i < d; i++) s += p.data.a[m][i] * z[i] + p.data.b[m][i] * z[d + i] + (lambda / 2) * (z[i] * z[i] - z[d + i] * z[d + i]);
  return s;
}

function meanOperator(p: BilinearProblem, z: Float64Array): Float64Array {
  const out = new Float64Array(p.dim);
  const t = new Float64Array(p.dim);
  for (let m = 0; m < p.shards; m++) {
    p.operator(m, z, t);
    for (let i = 0; i < p.dim; i++) out[i] += t[i] / p.shards;
  }
  return out;
}

describe('bilinear problem', () => {
  const small = generateBilinear({ d: 6, M: 4, lambda: 0.1, heterogeneity: 0.7, seed: 3 });

  it('F_m = (∇_x f_m, −∇_y f_m) (central finite differences, error < 1e-7)', () => {
    const rng = keyedRng(1, 0, 'test', 0);
    const z = randVec(small.dim, rng);
    const out = new Float64Array(small.dim);
    for (let m = 0; m < small.shards; m++) {
      small.operator(m, z, out);
      for (let i = 0; i < small.dim; i++) {
        const h = 1e-5;
        const zp = z.slice();
        const zm = z.slice();
        zp[i] += h;
        zm[i] -= h;
        const g = (fm(small, m, zp) - fm(small, m, zm)) / (2 * h);
        const expected = i < small.d ? g : -g;
        expect(Math.abs(out[i] - expected)).toBeLessThan(1e-7);
      }
    }
  });

  it('is exactly λ-strongly monotone: <F(z1) − F(z2), z1 − z2> = λ‖z1 − z2‖²', () => {
    const rng = keyedRng(2, 0, 'test', 0);
    for (let t = 0; t < 5; t++) {
      const z1 = randVec(small.dim, rng);
      const z2 = randVec(small.dim, rng);
      const g = dotp(diff(meanOperator(small, z1), meanOperator(small, z2)), diff(z1, z2));
      expect(g).toBeCloseTo(small.lambda * nsq(diff(z1, z2)), 10);
    }
    expect(small.strongMonotonicity).toBe(0.1);
  });

  it('closed-form solution zeroes F (relative residual < 1e-12) on the default problem', () => {
    const p = generateBilinear();
    expect(p.dim).toBe(2 * DEFAULT_BILINEAR.d);
    expect(p.shards).toBe(DEFAULT_BILINEAR.M);
    const zs = p.solution();
    expect(zs).not.toBeNull();
    const r = meanOperator(p, zs!);
    const scale = nsq(meanOperator(p, new Float64Array(p.dim)));
    expect(nsq(r) / scale).toBeLessThan(1e-24);
    // solution() hands out copies
    zs![0] = 1234;
    expect(p.solution()![0]).not.toBe(1234);
  });

  it('solution with λ = 0 and nonsingular Ā, and null when the system is singular', () => {
    const p = generateBilinear({ d: 5, M: 3, lambda: 0, seed: 9 });
    const zs = p.solution()!;
    expect(nsq(meanOperator(p, zs))).toBeLessThan(1e-20);
    const zeroA = new BilinearProblem({
      d: 2,
      M: 1,
      lambda: 0,
      A: [new Float64Array(4)],
      a: [Float64Array.of(1, 2)],
      b: [Float64Array.of(3, 4)],
    });
    expect(zeroA.solution()).toBeNull();
  });

  it('Lipschitz constants bound ‖F_m(z1) − F_m(z2)‖ and equal ‖A_m‖₂ + λ', () => {
    const rng = keyedRng(3, 0, 'test', 0);
    const [lo, hi] = [0.2, 2];
    const p = generateBilinear({ d: 12, M: 3, lambda: 0.05, spectrum: [lo, hi], seed: 4 });
    const o1 = new Float64Array(p.dim);
    const o2 = new Float64Array(p.dim);
    for (let m = 0; m < p.shards; m++) {
      const L = p.lipschitz(m);
      // Convex combinations of matrices with spectrum in [lo, hi] keep ‖A_m‖₂ ≤ hi, and ≥ lo.
      expect(L - p.lambda).toBeLessThanOrEqual(hi * (1 + 1e-6));
      expect(L - p.lambda).toBeGreaterThanOrEqual(lo);
      let best = 0;
      for (let t = 0; t < 50; t++) {
        const z1 = randVec(p.dim, rng);
        const z2 = randVec(p.dim, rng);
        p.operator(m, z1, o1);
        p.operator(m, z2, o2);
        const ratio = Math.sqrt(nsq(diff(o1, o2)) / nsq(diff(z1, z2)));
        expect(ratio).toBeLessThanOrEqual(L);
        best = Math.max(best, ratio);
      }
      expect(best).toBeGreaterThan(0.3 * L);
    }
    // A diagonal matrix with known norm: ‖diag(1..4)‖₂ = 4.
    const diag = new Float64Array(16);
    for (let i = 0; i < 4; i++) diag[i * 5] = i + 1;
    const q = new BilinearProblem({ d: 4, M: 1, lambda: 0.5, A: [diag], a: [new Float64Array(4)], b: [new Float64Array(4)] });
    expect(q.lipschitz(0)).toBeCloseTo(4.5, 5);
  });

  it('generated A_m are symmetric positive definite with spectrum in the requested range', () => {
    const p = generateBilinear({ d: 10, M: 3, spectrum: [0.3, 1.5], heterogeneity: 1, seed: 5 });
    const rng = keyedRng(4, 0, 'test', 0);
    const d = p.d;
    for (const A of p.data.A) {
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) expect(A[i * d + j]).toBe(A[j * d + i]);
      for (let t = 0; t < 20; t++) {
        const x = randVec(d, rng);
        let q = 0;
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q += x[i] * A[i * d + j] * x[j];
        const r = q / nsq(x);
        expect(r).toBeGreaterThanOrEqual(0.3 - 1e-12);
        expect(r).toBeLessThanOrEqual(1.5 + 1e-12);
      }
    }
  });

  it('heterogeneity controls how far the devices differ from each other', () => {
    const spread = (h: number) => {
      const p = generateBilinear({ d: 8, M: 5, heterogeneity: h, seed: 6 });
      const { A, a } = p.means();
      let s = 0;
      for (let m = 0; m < p.shards; m++) s += nsq(diff(p.data.A[m], A)) + nsq(diff(p.data.a[m], a));
      return s;
    };
    expect(spread(0)).toBeLessThan(1e-28); // identical devices (rounding of the mean only)
    const same = generateBilinear({ d: 8, M: 5, heterogeneity: 0, seed: 6 });
    expect(same.data.A[3]).toEqual(same.data.A[0]);
    const s1 = spread(0.25);
    const s2 = spread(0.5);
    const s3 = spread(1);
    // Deviations scale linearly in h, so the squared spread scales as h².
    expect(s2 / s1).toBeCloseTo(4, 6);
    expect(s3 / s2).toBeCloseTo(4, 6);
    expect(() => generateBilinear({ heterogeneity: 1.5 })).toThrow(ValidationError);
  });

  it('is deterministic in its seed', () => {
    const p1 = generateBilinear({ d: 7, M: 2, seed: 11 });
    const p2 = generateBilinear({ d: 7, M: 2, seed: 11 });
    const p3 = generateBilinear({ d: 7, M: 2, seed: 12 });
    expect(p1.data.A[1]).toEqual(p2.data.A[1]);
    expect(p1.data.b[0]).toEqual(p2.data.b[0]);
    expect(p1.data.A[1]).not.toEqual(p3.data.A[1]);
  });

  it('finite-sum pieces average to F_m and their differences vary across pieces', () => {
    const p = generateBilinear({ d: 6, M: 3, samples: 5, seed: 7 });
    expect(p.samples).toBe(5);
    const rng = keyedRng(5, 0, 'test', 0);
    const z = randVec(p.dim, rng);
    const w = randVec(p.dim, rng);
    const full = new Float64Array(p.dim);
    const piece = new Float64Array(p.dim);
    const pieceW = new Float64Array(p.dim);
    for (let m = 0; m < p.shards; m++) {
      p.operator(m, z, full);
      const mean = new Float64Array(p.dim);
      const diffs: Float64Array[] = [];
      for (let i = 0; i < p.samples; i++) {
        p.sampleOperator(m, i, z, piece);
        p.sampleOperator(m, i, w, pieceW);
        diffs.push(diff(piece, pieceW));
        for (let j = 0; j < p.dim; j++) mean[j] += piece[j] / p.samples;
      }
      expect(Math.sqrt(nsq(diff(mean, full)) / nsq(full))).toBeLessThan(1e-13);
      expect(nsq(diff(diffs[0], diffs[1]))).toBeGreaterThan(1e-3 * nsq(diffs[0]));
      // Mean-square Lipschitz (assumption 6) with the reported constant.
      const ms = diffs.reduce((s, v) => s + nsq(v), 0) / p.samples;
      expect(ms).toBeLessThanOrEqual(p.lipschitz(m) ** 2 * nsq(diff(z, w)));
    }
    expect(() => generateBilinear({ d: 3, M: 1 }).sampleOperator(0, 1, z.subarray(0, 6), piece.subarray(0, 6))).toThrow(RangeError);
  });
});

describe('bilinear problem files', () => {
  const p = generateBilinear({ d: 4, M: 3, lambda: 0.2, seed: 8 });
  const good = () => JSON.parse(JSON.stringify(bilinearToJson(p))) as Record<string, unknown>;

  it('round-trips through JSON text with identical operators and solution', () => {
    const q = bilinearFromJson(good());
    expect(q.d).toBe(4);
    expect(q.shards).toBe(3);
    expect(q.lambda).toBe(0.2);
    const z = randVec(8, keyedRng(6, 0, 'test', 0));
    const o1 = new Float64Array(8);
    const o2 = new Float64Array(8);
    for (let m = 0; m < 3; m++) {
      p.operator(m, z, o1);
      q.operator(m, z, o2);
      expect(o2).toEqual(o1);
    }
    expect(q.solution()).toEqual(p.solution());
  });

  const cases: [string, (j: Record<string, unknown>) => unknown, string][] = [
    ['missing lambda', (j) => ({ ...j, lambda: undefined }), 'lambda'],
    ['negative lambda', (j) => ({ ...j, lambda: -1 }), 'lambda'],
    ['wrong kind', (j) => ({ ...j, kind: 'quadratic' }), 'kind'],
    ['non-integer d', (j) => ({ ...j, d: 2.5 }), 'd'],
    ['missing M', (j) => ({ ...j, M: undefined }), 'M'],
    [
      'short row',
      (j) => {
        (j.A as number[][][])[2][3].pop();
        return j;
      },
      'A[2][3]',
    ],
    [
      'too few rows',
      (j) => {
        (j.A as number[][][])[1].pop();
        return j;
      },
      'A[1]',
    ],
    [
      'too few matrices',
      (j) => {
        (j.A as number[][][]).pop();
        return j;
      },
      'A',
    ],
    [
      'infinite entry',
      (j) => {
        (j.A as number[][][])[1][0][2] = Infinity;
        return j;
      },
      'A[1][0][2]',
    ],
    [
      'NaN entry',
      (j) => {
        (j.a as number[][])[2][1] = NaN;
        return j;
      },
      'a[2][1]',
    ],
    [
      'string entry',
      (j) => {
        (j.b as unknown[][])[0][3] = '1.0';
        return j;
      },
      'b[0][3]',
    ],
    ['missing b', (j) => ({ ...j, b: undefined }), 'b'],
    [
      'long vector',
      (j) => {
        (j.b as number[][])[1].push(0);
        return j;
      },
      'b[1]',
    ],
    ['oversize d', (j) => ({ ...j, d: 1e6 }), 'd'],
    ['not an object', () => [1, 2, 3], ''],
  ];
  for (const [name, mutate, field] of cases) {
    it(`rejects ${name} with a ValidationError naming '${field}'`, () => {
      let err: unknown;
      try {
        bilinearFromJson(mutate(good()));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(field);
    });
  }

  it('rejects problems whose matrices would exceed the size limit', () => {
    expect(() => bilinearFromJson({ kind: 'bilinear', d: 4096, M: 100, lambda: 1, A: [], a: [], b: [] })).toThrow(/exceeds the limit/);
  });
});

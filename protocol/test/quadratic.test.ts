import { describe, expect, it } from 'vitest';
import {
  computeQuadraticConstants,
  generatePermkQuadratic,
  jacobiEigenvalues,
  keyedRng,
  lanczosLargestEigenvalue,
  QuadraticProblem,
  quadraticFromJson,
  quadraticToJson,
  secondDifferenceEigenvalues,
  thomasSolve,
  tridiagEigenvalue,
  ValidationError,
} from './internals.js';

/** Dense row-major copy of device m's matrix. */
function denseOf(p: QuadraticProblem, m: number): Float64Array {
  const d = p.dim;
  const out = new Float64Array(d * d);
  const e = new Float64Array(d);
  const col = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    e.fill(0);
    e[j] = 1;
    p.hessianVec(m, e, col);
    for (let i = 0; i < d; i++) out[i * d + j] = col[i];
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) out[i * d + j] += a[i * d + k] * b[k * d + j];
  return out;
}

/** L₋, L₊, L_± and λ_min(Ā) by Jacobi on the dense matrices (the direct computation). */
function directConstants(p: QuadraticProblem) {
  const d = p.dim;
  const n = p.shards;
  const mats = Array.from({ length: n }, (_, m) => denseOf(p, m));
  const mean = new Float64Array(d * d);
  const meanSq = new Float64Array(d * d);
  let sumL2 = 0;
  for (const a of mats) {
    const ev = jacobiEigenvalues(a, d);
    const L = Math.max(Math.abs(ev[0]), Math.abs(ev[d - 1]));
    sumL2 += L * L;
    const a2 = matMul(a, a, d);
    for (let k = 0; k < d * d; k++) {
      mean[k] += a[k] / n;
      meanSq[k] += a2[k] / n;
    }
  }
  const mean2 = matMul(mean, mean, d);
  const variance = meanSq.map((v, k) => v - mean2[k]);
  const evMean = jacobiEigenvalues(mean, d);
  const evVar = jacobiEigenvalues(variance, d);
  return {
    Lminus: Math.max(Math.abs(evMean[0]), Math.abs(evMean[d - 1])),
    Lplus: Math.sqrt(sumL2 / n),
    Lpm: Math.sqrt(Math.max(0, evVar[d - 1])),
    lambdaMinMean: evMean[0],
  };
}

describe('linear algebra', () => {
  it('tridiagonal bisection and Jacobi reproduce the known spectrum of tridiag(−1, 2, −1)', () => {
    const d = 9;
    const t = secondDifferenceEigenvalues(d);
    const diag = new Float64Array(d).fill(2);
    const off = new Float64Array(d - 1).fill(-1);
    const dense = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      dense[i * d + i] = 2;
      if (i > 0) dense[i * d + i - 1] = dense[(i - 1) * d + i] = -1;
    }
    const jac = jacobiEigenvalues(dense, d);
    for (let k = 0; k < d; k++) {
      expect(tridiagEigenvalue(diag, off, k)).toBeCloseTo(t[k], 13);
      expect(jac[k]).toBeCloseTo(t[k], 13);
    }
  });

  it('Lanczos finds λ_max of a random symmetric matrix (Jacobi as reference)', () => {
    const d = 40;
    const r = keyedRng(3, 0, 'm', 0);
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = i; j < d; j++) a[i * d + j] = a[j * d + i] = r.nextGaussian();
    const ev = jacobiEigenvalues(a, d);
    const apply = (x: Float64Array, out: Float64Array) => {
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += a[i * d + j] * x[j];
        out[i] = s;
      }
    };
    expect(lanczosLargestEigenvalue(apply, d, keyedRng(1, 0, 'l', 0))).toBeCloseTo(ev[d - 1], 9);
  });

  it('the Thomas algorithm solves a tridiagonal system', () => {
    const d = 50;
    const r = keyedRng(5, 0, 't', 0);
    const diag = Float64Array.from({ length: d }, () => 4 + r.nextFloat());
    const off = Float64Array.from({ length: d - 1 }, () => r.nextFloat() - 0.5);
    const b = Float64Array.from({ length: d }, () => r.nextGaussian());
    const x = thomasSolve(diag, off, b);
    for (let i = 0; i < d; i++) {
      const ax = diag[i] * x[i] + (i > 0 ? off[i - 1] * x[i - 1] : 0) + (i < d - 1 ? off[i] * x[i + 1] : 0);
      expect(ax).toBeCloseTo(b[i], 12);
    }
  });
});

describe('PermK quadratic generator', () => {
  it('closed-form L₋, L₊, L_± match a direct eigenvalue computation (Jacobi) on small sizes', () => {
    for (const [d, n, s] of [
      [6, 4, 0],
      [8, 5, 0.3],
      [10, 7, 0.8],
      [12, 3, 2], // some ν_i < 0: nonconvex f_i, and possibly ν̄ < 0
    ]) {
      const { problem, constants } = generatePermkQuadratic({ d, n, s, seed: 11 });
      const direct = directConstants(problem);
      expect(constants.Lminus).toBeCloseTo(direct.Lminus, 10);
      expect(constants.Lplus).toBeCloseTo(direct.Lplus, 10);
      expect(constants.Lpm).toBeCloseTo(direct.Lpm, 6); // √ of a difference of squares: fewer digits
      expect(constants.lambdaMinMean).toBeCloseTo(direct.lambdaMinMean, 12);
      expect(constants.lambdaMinMean).toBeCloseTo(1e-6, 12);
    }
  });

  it('s = 0 gives identical devices: L_± = 0 and L₋ = L₊', () => {
    const { constants } = generatePermkQuadratic({ d: 100, n: 10, s: 0, seed: 1 });
    expect(constants.Lpm).toBe(0);
    expect(constants.Lplus).toBeCloseTo(constants.Lminus, 14);
  });

  it('the numeric constants (Sturm bisection + Lanczos on the bands) agree with the closed form at d = 300', () => {
    const { problem, constants } = generatePermkQuadratic({ d: 300, n: 20, s: 0.5, seed: 4 });
    const plain = new QuadraticProblem({ d: 300, n: 20, storage: problem.storage, b: problem.b });
    const numeric = computeQuadraticConstants(plain);
    expect(numeric.Lminus).toBeCloseTo(constants.Lminus, 10);
    expect(numeric.Lplus).toBeCloseTo(constants.Lplus, 10);
    expect(numeric.Lpm / constants.Lpm).toBeCloseTo(1, 6);
    expect(numeric.lambdaMinMean).toBeCloseTo(constants.lambdaMinMean, 12);
  });

  it('x⁰ = (√d, 0, …), b_i ∝ e₁, bands are O(d) per device, gradients match the dense matrices', () => {
    const d = 16;
    const n = 3;
    const { problem } = generatePermkQuadratic({ d, n, s: 0.2, seed: 2 });
    const x0 = problem.initialPoint();
    expect(x0[0]).toBeCloseTo(4, 15);
    expect(x0.slice(1).every((v) => v === 0)).toBe(true);
    expect(problem.storage.kind).toBe('bands');
    for (let m = 0; m < n; m++) expect(problem.b.slice(m * d + 1, (m + 1) * d).every((v) => v === 0)).toBe(true);
    const r = keyedRng(9, 0, 'z', 0);
    const z = Float64Array.from({ length: d }, () => r.nextGaussian());
    const g = new Float64Array(d);
    for (let m = 0; m < n; m++) {
      problem.operator(m, z, g);
      const a = denseOf(problem, m);
      for (let i = 0; i < d; i++) {
        let s = -problem.b[m * d + i];
        for (let j = 0; j < d; j++) s += a[i * d + j] * z[j];
        expect(g[i]).toBeCloseTo(s, 12);
        expect(problem.hessianVecEntry(m, z, i)).toBeCloseTo(s + problem.b[m * d + i], 12);
      }
    }
  });

  it('the closed-form minimiser solves Ā x = b̄ (∇f(x*) ≈ 0) and the objective is consistent with ∇f', () => {
    const { problem } = generatePermkQuadratic({ d: 200, n: 10, s: 0.1, seed: 3, lambda: 1e-2 });
    const xs = problem.solution() as Float64Array;
    const g = problem.gradient(xs);
    let gn = 0;
    for (const v of g) gn += v * v;
    expect(Math.sqrt(gn)).toBeLessThan(1e-10);
    // Directional finite difference of f against ∇f at x⁰.
    const x = problem.initialPoint();
    const dir = Float64Array.from({ length: 200 }, (_, i) => Math.cos(i));
    const h = 1e-5;
    const xp = x.map((v, i) => v + h * dir[i]);
    const xm = x.map((v, i) => v - h * dir[i]);
    const fd = (problem.objective(xp) - problem.objective(xm)) / (2 * h);
    const g0 = problem.gradient(x);
    let dot = 0;
    for (let i = 0; i < 200; i++) dot += g0[i] * dir[i];
    expect(fd).toBeCloseTo(dot, 5);
  });
});

describe('quadratic files', () => {
  const bandsFile = () => ({
    kind: 'quadratic',
    d: 3,
    n: 2,
    bands: {
      diag: [
        [2, 2, 2],
        [3, 3, 3],
      ],
      off: [
        [-1, -1],
        [0.5, 0.5],
      ],
    },
    b: [
      [1, 0, 0],
      [0, 1, 0],
    ],
  });

  it('reads bands and dense files; dense tridiagonal files become bands; constants from the matrices', () => {
    const p = quadraticFromJson(bandsFile());
    expect(p.storage.kind).toBe('bands');
    const dense = quadraticFromJson({
      kind: 'quadratic',
      d: 3,
      n: 2,
      A: [
        [
          [2, -1, 0],
          [-1, 2, -1],
          [0, -1, 2],
        ],
        [
          [3, 0.5, 0],
          [0.5, 3, 0.5],
          [0, 0.5, 3],
        ],
      ],
      b: bandsFile().b,
    });
    expect(dense.storage.kind).toBe('bands');
    const z = new Float64Array([0.3, -1, 2]);
    const g1 = new Float64Array(3);
    const g2 = new Float64Array(3);
    for (let m = 0; m < 2; m++) {
      p.operator(m, z, g1);
      dense.operator(m, z, g2);
      expect(Array.from(g2)).toEqual(Array.from(g1));
    }
    const c = p.constants();
    const direct = directConstants(p);
    expect(c.Lminus).toBeCloseTo(direct.Lminus, 12);
    expect(c.Lplus).toBeCloseTo(direct.Lplus, 12);
    expect(c.Lpm).toBeCloseTo(direct.Lpm, 7);
  });

  it('a general dense file keeps dense storage; constants match Jacobi; solution solves Āx = b̄', () => {
    const d = 6;
    const n = 3;
    const r = keyedRng(21, 0, 'A', 0);
    const A = Array.from({ length: n }, () => {
      const m = Array.from({ length: d }, () => new Array<number>(d).fill(0));
      for (let i = 0; i < d; i++) {
        for (let j = i; j < d; j++) m[i][j] = m[j][i] = r.nextGaussian() + (i === j ? 5 : 0);
      }
      return m;
    });
    const b = Array.from({ length: n }, () => Array.from({ length: d }, () => r.nextGaussian()));
    const p = quadraticFromJson({ kind: 'quadratic', d, n, A, b });
    expect(p.storage.kind).toBe('dense');
    const c = p.constants();
    const direct = directConstants(p);
    expect(c.Lminus).toBeCloseTo(direct.Lminus, 10);
    expect(c.Lplus).toBeCloseTo(direct.Lplus, 10);
    expect(c.Lpm).toBeCloseTo(direct.Lpm, 7);
    const xs = p.solution() as Float64Array;
    const g = p.gradient(xs);
    for (const v of g) expect(Math.abs(v)).toBeLessThan(1e-12);
    const back = quadraticFromJson(JSON.parse(JSON.stringify(quadraticToJson(p))));
    expect(back.storage).toEqual(p.storage);
    expect(back.b).toEqual(p.b);
  });

  it('round-trips a generated problem through JSON', () => {
    const { problem } = generatePermkQuadratic({ d: 20, n: 4, s: 0.3, seed: 8 });
    const back = quadraticFromJson(JSON.parse(JSON.stringify(quadraticToJson(problem))));
    expect(back.storage).toEqual(problem.storage);
    expect(back.initialPoint()).toEqual(problem.initialPoint());
    expect(back.constants().Lpm / problem.constants().Lpm).toBeCloseTo(1, 6);
  });

  it('validation errors name the offending field', () => {
    const expectField = (value: unknown, field: string) => {
      try {
        quadraticFromJson(value);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        expect((e as ValidationError).field).toBe(field);
        return;
      }
      throw new Error(`expected a ValidationError for ${field}`);
    };
    const f = bandsFile;
    expectField({ ...f(), kind: 'bilinear' }, 'kind');
    expectField({ ...f(), n: undefined }, 'n');
    expectField({ ...f(), d: 2.5 }, 'd');
    expectField(
      {
        ...f(),
        b: [
          [1, 0, 0],
          [0, 1],
        ],
      },
      'b[1]',
    );
    expectField(
      {
        ...f(),
        b: [
          [1, 0, 0],
          [0, 'x', 0],
        ],
      },
      'b[1][1]',
    );
    expectField(
      {
        ...f(),
        b: [
          [1, 0, 0],
          [0, Infinity, 0],
        ],
      },
      'b[1][1]',
    );
    const badDiag = f();
    badDiag.bands.diag[1][2] = Number.NaN;
    expectField(badDiag, 'bands.diag[1][2]');
    const badOff = f();
    badOff.bands.off[0] = [1];
    expectField(badOff, 'bands.off[0]');
    const { bands: _drop, ...noMatrix } = f();
    expectField(noMatrix, 'A');
    expectField({ ...f(), A: [] }, 'bands');
    expectField({ ...f(), x0: [1, 2] }, 'x0');
    const asym = {
      kind: 'quadratic',
      d: 3,
      n: 1,
      A: [
        [
          [1, 0, 2],
          [0, 1, 0],
          [3, 0, 1],
        ],
      ],
      b: [[0, 0, 0]],
    };
    expectField(asym, 'A[0][2][0]');
    expectField({ kind: 'quadratic', d: 5000, n: 1, A: [], b: [] }, 'd');
    expectField({ kind: 'quadratic', d: 100_000, n: 1000, bands: {}, b: [] }, 'bands');
  });
});

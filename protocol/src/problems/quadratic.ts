/**
 * Distributed quadratic minimisation (SPEC §1, PermK paper): f(x) = (1/n) Σ_i f_i(x),
 * f_i(x) = ½ xᵀA_i x − b_iᵀx with symmetric A_i (possibly indefinite: f_i may be nonconvex), so
 * F_i = ∇f_i(x) = A_i x − b_i.
 *
 * Two storages: symmetric tridiagonal bands (O(d) per device for gradients, the PermK paper's
 * problems) and dense d×d matrices (general files, O(d²) per gradient).
 *
 * Smoothness constants (PermK paper notation):
 * - L₋: f is L₋-smooth, L₋ = ‖Ā‖₂ (Ā = (1/n)ΣA_i).
 * - L_i = ‖A_i‖₂; L₊ = sqrt((1/n) Σ L_i²).
 * - L_± (Hessian variance): (1/n)Σ‖∇f_i(x)−∇f_i(y)‖² − ‖∇f(x)−∇f(y)‖² ≤ L_±²‖x−y‖², which for
 *   quadratics is L_±² = λ_max((1/n)Σ A_i² − Ā²) = λ_max((1/n)Σ (A_i − Ā)²).
 */
import { keyedRng } from '../rng/streams.js';
import { jacobiEigenvalues } from '../linalg/jacobi.js';
import { lanczosLargestEigenvalue } from '../linalg/lanczos.js';
import { thomasSolve, tridiagEigenRange } from '../linalg/tridiagonal.js';
import type { Problem } from './types.js';

export interface QuadraticConstants {
  /** L₋ = ‖Ā‖₂. */
  readonly Lminus: number;
  /** L₊ = sqrt(mean L_i²). */
  readonly Lplus: number;
  /** L_± = sqrt(λ_max((1/n)ΣA_i² − Ā²)). */
  readonly Lpm: number;
  /** L_i = ‖A_i‖₂ per device. */
  readonly L: Float64Array;
  /** λ_min(Ā) (the strong convexity of f when positive). */
  readonly lambdaMinMean: number;
}

/** Tridiagonal storage: device m's bands are diag[m·d … m·d+d), off[m·(d−1) … ). */
export interface QuadraticBands {
  readonly kind: 'bands';
  readonly diag: Float64Array;
  readonly off: Float64Array;
}

/** Dense storage: device m's matrix is a[m·d² …), row-major. */
export interface QuadraticDense {
  readonly kind: 'dense';
  readonly a: Float64Array;
}

export type QuadraticStorage = QuadraticBands | QuadraticDense;

export interface QuadraticInit {
  readonly d: number;
  readonly n: number;
  readonly storage: QuadraticStorage;
  /** b_i for every device, concatenated (length n·d). */
  readonly b: Float64Array;
  /** Starting point x⁰ (default 0). */
  readonly x0?: Float64Array;
  /** Constants when known in closed form (the generator); otherwise computed numerically. */
  readonly constants?: QuadraticConstants;
}

export class QuadraticProblem implements Problem {
  readonly kind = 'quadratic';
  readonly dim: number;
  readonly shards: number;
  readonly samples = 1;
  readonly storage: QuadraticStorage;
  /** b_i concatenated (n·d). */
  readonly b: Float64Array;
  private readonly x0: Float64Array;
  private cachedConstants: QuadraticConstants | null;
  private cachedSolution: Float64Array | null | undefined = undefined;

  constructor(init: QuadraticInit) {
    const { d, n, storage, b } = init;
    if (!(Number.isInteger(d) && d >= 1)) throw new RangeError(`quadratic: d must be a positive integer, got ${d}`);
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`quadratic: n must be a positive integer, got ${n}`);
    if (b.length !== n * d) throw new RangeError(`quadratic: b must have n·d = ${n * d} entries, got ${b.length}`);
    if (storage.kind === 'bands') {
      if (storage.diag.length !== n * d || storage.off.length !== n * (d - 1)) {
        throw new RangeError(`quadratic: bands must have n·d and n·(d−1) entries`);
      }
    } else if (storage.a.length !== n * d * d) {
      throw new RangeError(`quadratic: dense matrices must have n·d² = ${n * d * d} entries, got ${storage.a.length}`);
    }
    if (init.x0 && init.x0.length !== d) throw new RangeError(`quadratic: x0 must have d = ${d} entries`);
    this.dim = d;
    this.shards = n;
    this.storage = storage;
    this.b = b;
    this.x0 = init.x0 ? Float64Array.from(init.x0) : new Float64Array(d);
    this.cachedConstants = init.constants ?? null;
  }

  /** out ← A_m v. O(d) for bands, O(d²) dense. */
  hessianVec(m: number, v: Float64Array, out: Float64Array): Float64Array {
    const d = this.dim;
    const s = this.storage;
    if (s.kind === 'bands') {
      const dg = s.diag;
      const of = s.off;
      const o0 = m * d;
      const o1 = m * (d - 1);
      if (d === 1) {
        out[0] = dg[o0] * v[0];
        return out;
      }
      out[0] = dg[o0] * v[0] + of[o1] * v[1];
      for (let i = 1; i < d - 1; i++) out[i] = of[o1 + i - 1] * v[i - 1] + dg[o0 + i] * v[i] + of[o1 + i] * v[i + 1];
      out[d - 1] = of[o1 + d - 2] * v[d - 2] + dg[o0 + d - 1] * v[d - 1];
      return out;
    }
    const a = s.a;
    const base = m * d * d;
    for (let i = 0; i < d; i++) {
      const row = base + i * d;
      let t = 0;
      for (let j = 0; j < d; j++) t += a[row + j] * v[j];
      out[i] = t;
    }
    return out;
  }

  /** (A_m v)_j alone: O(1) for bands, O(d) dense. */
  hessianVecEntry(m: number, v: Float64Array, j: number): number {
    const d = this.dim;
    const s = this.storage;
    if (s.kind === 'bands') {
      let t = s.diag[m * d + j] * v[j];
      if (j > 0) t += s.off[m * (d - 1) + j - 1] * v[j - 1];
      if (j < d - 1) t += s.off[m * (d - 1) + j] * v[j + 1];
      return t;
    }
    const row = m * d * d + j * d;
    let t = 0;
    for (let k = 0; k < d; k++) t += s.a[row + k] * v[k];
    return t;
  }

  /** out ← ∇f_m(z) = A_m z − b_m. */
  operator(m: number, z: Float64Array, out: Float64Array): void {
    this.hessianVec(m, z, out);
    const b = this.b;
    const o = m * this.dim;
    for (let i = 0; i < this.dim; i++) out[i] -= b[o + i];
  }

  sampleOperator(m: number, _i: number, z: Float64Array, out: Float64Array): void {
    this.operator(m, z, out);
  }

  /** f_m(z) = ½ zᵀA_m z − b_mᵀz. */
  localObjective(m: number, z: Float64Array, scratch = new Float64Array(this.dim)): number {
    this.hessianVec(m, z, scratch);
    const o = m * this.dim;
    let q = 0;
    let l = 0;
    for (let i = 0; i < this.dim; i++) {
      q += z[i] * scratch[i];
      l += this.b[o + i] * z[i];
    }
    return 0.5 * q - l;
  }

  /** f(z) = (1/n) Σ f_m(z). */
  objective(z: Float64Array): number {
    const scratch = new Float64Array(this.dim);
    let s = 0;
    for (let m = 0; m < this.shards; m++) s += this.localObjective(m, z, scratch);
    return s / this.shards;
  }

  /** out ← ∇f(z) = Ā z − b̄. */
  gradient(z: Float64Array, out: Float64Array = new Float64Array(this.dim)): Float64Array {
    const tmp = new Float64Array(this.dim);
    out.fill(0);
    for (let m = 0; m < this.shards; m++) {
      this.operator(m, z, tmp);
      for (let i = 0; i < this.dim; i++) out[i] += tmp[i];
    }
    for (let i = 0; i < this.dim; i++) out[i] /= this.shards;
    return out;
  }

  lipschitz(m: number): number {
    return this.constants().L[m];
  }

  get strongMonotonicity(): number {
    return Math.max(0, this.constants().lambdaMinMean);
  }

  initialPoint(): Float64Array {
    return Float64Array.from(this.x0);
  }

  /** Mean bands (diag, off) of Ā, or the dense Ā. */
  meanMatrix(): QuadraticStorage {
    const d = this.dim;
    const n = this.shards;
    const s = this.storage;
    if (s.kind === 'bands') {
      const diag = new Float64Array(d);
      const off = new Float64Array(Math.max(0, d - 1));
      for (let m = 0; m < n; m++) {
        for (let i = 0; i < d; i++) diag[i] += s.diag[m * d + i];
        for (let i = 0; i < d - 1; i++) off[i] += s.off[m * (d - 1) + i];
      }
      for (let i = 0; i < d; i++) diag[i] /= n;
      for (let i = 0; i < d - 1; i++) off[i] /= n;
      return { kind: 'bands', diag, off };
    }
    const a = new Float64Array(d * d);
    for (let m = 0; m < n; m++) for (let k = 0; k < d * d; k++) a[k] += s.a[m * d * d + k];
    for (let k = 0; k < d * d; k++) a[k] /= n;
    return { kind: 'dense', a };
  }

  /** b̄ = (1/n) Σ b_i. */
  meanB(): Float64Array {
    const d = this.dim;
    const out = new Float64Array(d);
    for (let m = 0; m < this.shards; m++) for (let i = 0; i < d; i++) out[i] += this.b[m * d + i];
    for (let i = 0; i < d; i++) out[i] /= this.shards;
    return out;
  }

  /**
   * The minimiser x* = Ā⁻¹ b̄ when f is strongly convex (λ_min(Ā) > 0): Thomas algorithm for bands,
   * Gaussian elimination with partial pivoting for dense. Null when Ā is not positive definite
   * (f unbounded below: no minimiser).
   */
  solution(): Float64Array | null {
    if (this.cachedSolution !== undefined) return this.cachedSolution ? Float64Array.from(this.cachedSolution) : null;
    let x: Float64Array | null = null;
    if (this.constants().lambdaMinMean > 0) {
      const mean = this.meanMatrix();
      const bbar = this.meanB();
      x = mean.kind === 'bands' ? thomasSolve(mean.diag, mean.off, bbar) : gaussSolve(mean.a, this.dim, bbar);
    }
    this.cachedSolution = x;
    return x ? Float64Array.from(x) : null;
  }

  /** L₋, L₊, L_± and the L_i: closed form when the generator supplied them, else computed numerically. */
  constants(): QuadraticConstants {
    if (!this.cachedConstants) this.cachedConstants = computeQuadraticConstants(this);
    return this.cachedConstants;
  }
}

/**
 * Numerical constants from the matrices: Sturm bisection on the tridiagonal bands (exact to
 * rounding) or Jacobi on dense matrices (d ≤ 256) for the L_i and Ā; L_± by Lanczos on the
 * operator v ↦ (1/n) Σ (A_i − Ā)² v (Jacobi on the formed matrix for dense d ≤ 256).
 */
export function computeQuadraticConstants(p: QuadraticProblem): QuadraticConstants {
  const d = p.dim;
  const n = p.shards;
  const s = p.storage;
  const L = new Float64Array(n);
  const mean = p.meanMatrix();
  let lambdaMinMean: number;
  let Lminus: number;
  if (s.kind === 'bands' && mean.kind === 'bands') {
    for (let m = 0; m < n; m++) {
      const r = tridiagEigenRange(s.diag.subarray(m * d, m * d + d), s.off.subarray(m * (d - 1), (m + 1) * (d - 1)));
      L[m] = Math.max(Math.abs(r.min), Math.abs(r.max));
    }
    const r = tridiagEigenRange(mean.diag, mean.off);
    lambdaMinMean = r.min;
    Lminus = Math.max(Math.abs(r.min), Math.abs(r.max));
  } else if (s.kind === 'dense' && mean.kind === 'dense') {
    for (let m = 0; m < n; m++) L[m] = denseNorm(s.a.subarray(m * d * d, (m + 1) * d * d), d, m);
    const ev = symmetricExtremes(mean.a, d, -1);
    lambdaMinMean = ev.min;
    Lminus = Math.max(Math.abs(ev.min), Math.abs(ev.max));
  } else {
    throw new Error('unreachable');
  }
  let sumL2 = 0;
  for (let m = 0; m < n; m++) sumL2 += L[m] * L[m];
  const Lplus = Math.sqrt(sumL2 / n);
  const Lpm = Math.sqrt(Math.max(0, hessianVarianceMax(p, mean)));
  return { Lminus, Lplus, Lpm, L, lambdaMinMean };
}

/** λ_max((1/n) Σ (A_i − Ā)²). */
function hessianVarianceMax(p: QuadraticProblem, mean: QuadraticStorage): number {
  const d = p.dim;
  const n = p.shards;
  const meanVec = (v: Float64Array, out: Float64Array): void => {
    if (mean.kind === 'bands') {
      // Reuse the problem's band kernel layout by a direct loop.
      for (let i = 0; i < d; i++) {
        let t = mean.diag[i] * v[i];
        if (i > 0) t += mean.off[i - 1] * v[i - 1];
        if (i < d - 1) t += mean.off[i] * v[i + 1];
        out[i] = t;
      }
    } else {
      for (let i = 0; i < d; i++) {
        let t = 0;
        for (let j = 0; j < d; j++) t += mean.a[i * d + j] * v[j];
        out[i] = t;
      }
    }
  };
  const u = new Float64Array(d);
  const ubar = new Float64Array(d);
  const w = new Float64Array(d);
  const wbar = new Float64Array(d);
  // D_i v = A_i v − Ā v; (1/n) Σ D_i (D_i v).
  const apply = (v: Float64Array, out: Float64Array): void => {
    out.fill(0);
    meanVec(v, ubar);
    for (let m = 0; m < n; m++) {
      p.hessianVec(m, v, u);
      for (let i = 0; i < d; i++) u[i] -= ubar[i];
      p.hessianVec(m, u, w);
      meanVec(u, wbar);
      for (let i = 0; i < d; i++) out[i] += w[i] - wbar[i];
    }
    for (let i = 0; i < d; i++) out[i] /= n;
  };
  if (d <= 256 && p.storage.kind === 'dense') {
    const mat = new Float64Array(d * d);
    const e = new Float64Array(d);
    const col = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      e.fill(0);
      e[j] = 1;
      apply(e, col);
      for (let i = 0; i < d; i++) mat[i * d + j] = col[i];
    }
    symmetrise(mat, d);
    const ev = jacobiEigenvalues(mat, d);
    return ev[d - 1];
  }
  return lanczosLargestEigenvalue(apply, d, keyedRng(0, 0, 'quadratic/lanczos', -2), { maxSteps: Math.min(d, 300) });
}

function symmetrise(a: Float64Array, d: number): void {
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const v = 0.5 * (a[i * d + j] + a[j * d + i]);
      a[i * d + j] = v;
      a[j * d + i] = v;
    }
  }
}

function symmetricExtremes(a: Float64Array, d: number, salt: number): { min: number; max: number } {
  if (d <= 256) {
    const ev = jacobiEigenvalues(a, d);
    return { min: ev[0], max: ev[d - 1] };
  }
  const apply =
    (sign: number) =>
    (v: Float64Array, out: Float64Array): void => {
      for (let i = 0; i < d; i++) {
        let t = 0;
        for (let j = 0; j < d; j++) t += a[i * d + j] * v[j];
        out[i] = sign * t;
      }
    };
  const max = lanczosLargestEigenvalue(apply(1), d, keyedRng(0, 1, 'quadratic/lanczos', salt), { maxSteps: Math.min(d, 300) });
  const min = -lanczosLargestEigenvalue(apply(-1), d, keyedRng(0, 2, 'quadratic/lanczos', salt), { maxSteps: Math.min(d, 300) });
  return { min, max };
}

function denseNorm(a: Float64Array, d: number, m: number): number {
  const r = symmetricExtremes(a, d, m);
  return Math.max(Math.abs(r.min), Math.abs(r.max));
}

/** Solves A x = b (dense, row-major) by Gaussian elimination with partial pivoting. */
function gaussSolve(a0: Float64Array, d: number, b0: Float64Array): Float64Array {
  const a = Float64Array.from(a0);
  const b = Float64Array.from(b0);
  for (let k = 0; k < d; k++) {
    let piv = k;
    for (let i = k + 1; i < d; i++) if (Math.abs(a[i * d + k]) > Math.abs(a[piv * d + k])) piv = i;
    if (a[piv * d + k] === 0) throw new RangeError('quadratic: mean matrix is singular');
    if (piv !== k) {
      for (let j = 0; j < d; j++) {
        const t = a[k * d + j];
        a[k * d + j] = a[piv * d + j];
        a[piv * d + j] = t;
      }
      const t = b[k];
      b[k] = b[piv];
      b[piv] = t;
    }
    const akk = a[k * d + k];
    for (let i = k + 1; i < d; i++) {
      const f = a[i * d + k] / akk;
      if (f === 0) continue;
      for (let j = k; j < d; j++) a[i * d + j] -= f * a[k * d + j];
      b[i] -= f * b[k];
    }
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = b[i];
    for (let j = i + 1; j < d; j++) s -= a[i * d + j] * x[j];
    x[i] = s / a[i * d + i];
  }
  return x;
}

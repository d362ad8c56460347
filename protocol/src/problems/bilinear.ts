/**
 * The distributed bilinear game of the MASHA paper (seed eq. 13), SPEC §1:
 *
 *   min_x max_y (1/M) Σ_m f_m(x, y),  f_m(x, y) = xᵀA_m y + a_mᵀx + b_mᵀy + (λ/2)‖x‖² − (λ/2)‖y‖²,
 *
 * z = (x, y) ∈ R^{2d} (x first), F_m(x, y) = (A_m y + a_m + λx, −A_mᵀx − b_m + λy).
 * F is λ-strongly monotone whatever the A_m (the bilinear part is skew), each F_m is
 * (‖A_m‖₂ + λ)-Lipschitz, and the unconstrained solution solves λx + Āy = −ā, −Āᵀx + λy = b̄.
 *
 * Finite-sum variant (stochastic mode, SPEC §1): F_m = (1/r) Σ_i F_{m,i} where F_{m,i} is the
 * bilinear operator of (A_{m,i}, a_{m,i}, b_{m,i}) and the pieces are centred so that their mean is
 * exactly the device's data: A_{m,i} = A_m + s·(E_{m,i} − Ē_m), a_{m,i} = a_m + s·(ξ_{m,i} − ξ̄_m),
 * b likewise (E symmetric Gaussian, ξ Gaussian, s = `sampleSpread`). Splitting A_m as well as the
 * vectors matters: were only a_m, b_m split, F_{m,i}(z) − F_{m,i}(w) = F_m(z) − F_m(w) and the
 * stochastic mode would be the deterministic one in disguise.
 */
import type { Problem } from './types.js';
import { ValidationError } from '../errors.js';
import { keyedRng, SHARED } from '../rng/streams.js';
import type { Rng } from '../rng/xoshiro128.js';
import {
  choleskyInPlace,
  choleskySolveInPlace,
  gramOf,
  matTVec,
  matVec,
  randomOrthogonal,
  spectralNorm,
  symmetricFromSpectrum,
  symmetricMaxEigenvalue,
} from './dense.js';

/** Raw data of a bilinear problem. Matrices are d×d row-major. */
export interface BilinearData {
  readonly d: number;
  readonly M: number;
  readonly lambda: number;
  readonly A: readonly Float64Array[];
  readonly a: readonly Float64Array[];
  readonly b: readonly Float64Array[];
  /** Finite-sum pieces (r > 1): pieces.A[m][i], whose mean over i equals A[m]; same for a, b. */
  readonly pieces?: {
    readonly A: readonly (readonly Float64Array[])[];
    readonly a: readonly (readonly Float64Array[])[];
    readonly b: readonly (readonly Float64Array[])[];
  };
}

/** y ← bilinear operator of (A, a, b, λ) at z; `out` must not alias z. One pass over A. */
function applyBilinear(A: Float64Array, a: Float64Array, b: Float64Array, lambda: number, d: number, z: Float64Array, out: Float64Array): void {
  for (let j = 0; j < d; j++) out[d + j] = lambda * z[d + j] - b[j];
  for (let i = 0; i < d; i++) {
    const row = i * d;
    const xi = z[i];
    let s = 0;
    for (let j = 0; j < d; j++) {
      const aij = A[row + j];
      s += aij * z[d + j];
      out[d + j] -= aij * xi;
    }
    out[i] = s + a[i] + lambda * xi;
  }
}

function checkLen(v: Float64Array, n: number, field: string): void {
  if (v.length !== n) throw new ValidationError(field, `expected length ${n}, got ${v.length}`);
}

export class BilinearProblem implements Problem {
  readonly kind = 'bilinear';
  readonly dim: number;
  readonly shards: number;
  readonly samples: number;
  readonly strongMonotonicity: number;
  readonly d: number;
  readonly lambda: number;
  readonly data: BilinearData;
  private readonly lipschitzCache: Float64Array;
  private solutionCache: Float64Array | null | undefined = undefined;

  constructor(data: BilinearData) {
    const { d, M, lambda } = data;
    if (!Number.isSafeInteger(d) || d < 1) throw new ValidationError('d', `must be a positive integer, got ${d}`);
    if (!Number.isSafeInteger(M) || M < 1) throw new ValidationError('M', `must be a positive integer, got ${M}`);
    if (!Number.isFinite(lambda) || lambda < 0) throw new ValidationError('lambda', `must be finite and ≥ 0, got ${lambda}`);
    if (data.A.length !== M) throw new ValidationError('A', `expected ${M} matrices, got ${data.A.length}`);
    if (data.a.length !== M) throw new ValidationError('a', `expected ${M} vectors, got ${data.a.length}`);
    if (data.b.length !== M) throw new ValidationError('b', `expected ${M} vectors, got ${data.b.length}`);
    for (let m = 0; m < M; m++) {
      checkLen(data.A[m], d * d, `A[${m}]`);
      checkLen(data.a[m], d, `a[${m}]`);
      checkLen(data.b[m], d, `b[${m}]`);
    }
    let r = 1;
    if (data.pieces) {
      r = data.pieces.A[0]?.length ?? 0;
      if (r < 1) throw new ValidationError('pieces', 'at least one piece per device');
      for (let m = 0; m < M; m++) {
        for (const key of ['A', 'a', 'b'] as const) {
          const arr = data.pieces[key][m];
          if (!arr || arr.length !== r) throw new ValidationError(`pieces.${key}[${m}]`, `expected ${r} pieces`);
          for (let i = 0; i < r; i++) checkLen(arr[i], key === 'A' ? d * d : d, `pieces.${key}[${m}][${i}]`);
        }
      }
    }
    this.d = d;
    this.dim = 2 * d;
    this.shards = M;
    this.samples = r;
    this.lambda = lambda;
    this.strongMonotonicity = lambda;
    this.data = data;
    this.lipschitzCache = new Float64Array(M).fill(Number.NaN);
  }

  operator(m: number, z: Float64Array, out: Float64Array): void {
    const D = this.data;
    applyBilinear(D.A[m], D.a[m], D.b[m], this.lambda, this.d, z, out);
  }

  sampleOperator(m: number, i: number, z: Float64Array, out: Float64Array): void {
    const P = this.data.pieces;
    if (!P) {
      if (i !== 0) throw new RangeError(`sample ${i} out of range: the problem has no finite sum`);
      this.operator(m, z, out);
      return;
    }
    applyBilinear(P.A[m][i], P.a[m][i], P.b[m][i], this.lambda, this.d, z, out);
  }

  /**
   * L_m = λ + √max(λ_max((1/r)Σ_i A_iᵀA_i), λ_max((1/r)Σ_i A_iA_iᵀ)): for F_{m,i} = J_i z + c_i,
   * ‖J_i δ‖² = λ²‖δ‖² + ‖A_i δ_y‖² + ‖A_iᵀδ_x‖² (cross terms cancel), so the mean-square
   * Lipschitz constant of assumption (6) is at most this. With r = 1 it is ‖A_m‖₂ + λ (seed).
   *
   * Computed directly (dense tridiagonalisation + bisection, ~2d³ flops: ~2 ms at d = 100),
   * accurate to rounding, and inflated by a relative 1e-9 that covers it, so L_m is an upper
   * bound; an iterative estimate would approach from below and could stop short of it.
   */
  lipschitz(m: number): number {
    const cached = this.lipschitzCache[m];
    if (cached === cached) return cached;
    const d = this.d;
    let norm: number;
    if (this.data.pieces) {
      const mats = this.data.pieces.A[m];
      const s2 = Math.max(symmetricMaxEigenvalue(gramOf(mats, d, true), d), symmetricMaxEigenvalue(gramOf(mats, d, false), d));
      norm = Math.sqrt(Math.max(0, s2));
    } else {
      norm = spectralNorm(this.data.A[m], d);
    }
    const L = this.lambda + norm * (1 + 1e-9);
    this.lipschitzCache[m] = L;
    return L;
  }

  /** Closed-form unconstrained solution (Cholesky on the two normal equations); null when singular. */
  solution(): Float64Array | null {
    if (this.solutionCache === undefined) this.solutionCache = this.solve();
    return this.solutionCache ? this.solutionCache.slice() : null;
  }

  initialPoint(): Float64Array {
    return new Float64Array(this.dim);
  }

  /** Means Ā, ā, b̄ over the devices. */
  means(): { A: Float64Array; a: Float64Array; b: Float64Array } {
    const { d, M } = this.data;
    const A = new Float64Array(d * d);
    const a = new Float64Array(d);
    const b = new Float64Array(d);
    for (let m = 0; m < M; m++) {
      const Am = this.data.A[m];
      for (let i = 0; i < d * d; i++) A[i] += Am[i] / M;
      for (let i = 0; i < d; i++) {
        a[i] += this.data.a[m][i] / M;
        b[i] += this.data.b[m][i] / M;
      }
    }
    return { A, a, b };
  }

  /**
   * Eliminating one block of λx + Āy = −ā, −Āᵀx + λy = b̄ gives two symmetric positive definite
   * systems (when λ > 0 or Ā is nonsingular):
   *   (λ²I + ĀĀᵀ) x = −λā − Āb̄,   (λ²I + ĀᵀĀ) y = λb̄ − Āᵀā.
   */
  private solve(): Float64Array | null {
    const d = this.d;
    const lam = this.lambda;
    const { A, a, b } = this.means();
    const gramXX = new Float64Array(d * d); // λ²I + ĀĀᵀ
    const gramYY = new Float64Array(d * d); // λ²I + ĀᵀĀ
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        let sx = 0;
        let sy = 0;
        for (let k = 0; k < d; k++) {
          sx += A[i * d + k] * A[j * d + k];
          sy += A[k * d + i] * A[k * d + j];
        }
        if (i === j) {
          sx += lam * lam;
          sy += lam * lam;
        }
        gramXX[i * d + j] = gramXX[j * d + i] = sx;
        gramYY[i * d + j] = gramYY[j * d + i] = sy;
      }
    }
    const Ab = matVec(A, d, b, new Float64Array(d));
    const ATa = matTVec(A, d, a, new Float64Array(d));
    const rx = new Float64Array(d);
    const ry = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      rx[i] = -lam * a[i] - Ab[i];
      ry[i] = lam * b[i] - ATa[i];
    }
    if (!choleskyInPlace(gramXX, d) || !choleskyInPlace(gramYY, d)) return null;
    choleskySolveInPlace(gramXX, d, rx);
    choleskySolveInPlace(gramYY, d, ry);
    const z = new Float64Array(2 * d);
    z.set(rx, 0);
    z.set(ry, d);
    return z;
  }
}

export interface BilinearOptions {
  /** Dimension of x and of y (z has 2d coordinates). Default 100 (seed). */
  readonly d?: number;
  /** Number of devices M. Default 10. */
  readonly M?: number;
  /** Regularisation λ = strong-monotonicity μ_F. Default 0.01 (see DEFAULT_BILINEAR). */
  readonly lambda?: number;
  /**
   * How far the devices' data differ from a common draw, in [0, 1]: A_m = A⁰ + h(B_m − A⁰),
   * a_m = a⁰ + h(a'_m − a⁰), b_m likewise, with A⁰, B_m independent draws of the same random
   * symmetric positive definite law and a⁰, a'_m, b⁰, b'_m independent N(0, I). h = 0: identical
   * devices; h = 1: independent devices. Convex combinations keep every A_m positive definite with
   * its spectrum inside [spectrum[0], spectrum[1]]. Default 0.5.
   */
  readonly heterogeneity?: number;
  /** Spectrum range [lo, hi] of every A (eigenvalues evenly spaced, random eigenbasis). Default [0.1, 1]. */
  readonly spectrum?: readonly [number, number];
  /** Finite-sum size r of each F_m; default 1 (deterministic). */
  readonly samples?: number;
  /** Spread s of the finite-sum pieces around the device data (see module doc). Default 0.5. */
  readonly sampleSpread?: number;
  /** Generator seed. Default 0. */
  readonly seed?: number;
}

/**
 * Defaults chosen so that the seed's Figure 1 story reproduces: with ‖A‖ ≤ 1 and λ = 0.01 the
 * Jacobian's eigenvalues are λ ± iσ_j, so gradient descent–ascent contracts only when
 * γ < 2λ/(λ² + σ_max²) ≈ 0.02 and then by at most λ²/(λ² + σ_max²) ≈ 1e-4 per step (~1.4e5
 * iterations to 1e-6), while extragradient-type methods use γ ~ 1/L and converge in a few thousand.
 */
export const DEFAULT_BILINEAR = {
  d: 100,
  M: 10,
  lambda: 0.01,
  heterogeneity: 0.5,
  spectrum: [0.1, 1] as const,
  samples: 1,
  sampleSpread: 0.5,
  seed: 0,
} as const;

function gaussianVec(n: number, rng: Rng): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.nextGaussian();
  return v;
}

/** Symmetric positive definite matrix with eigenvalues evenly spaced in [lo, hi] and a Haar-random eigenbasis. */
function randomSpd(d: number, lo: number, hi: number, rng: Rng): Float64Array {
  const s = new Float64Array(d);
  for (let i = 0; i < d; i++) s[i] = d === 1 ? hi : lo + ((hi - lo) * i) / (d - 1);
  return symmetricFromSpectrum(randomOrthogonal(d, rng), s, d);
}

/** Symmetric Gaussian matrix (E + Eᵀ)/√(2d): spectral norm ≈ 2/√2 ≈ 1.4 for large d. */
function randomSymmetricNoise(d: number, rng: Rng): Float64Array {
  const e = new Float64Array(d * d);
  const c = 1 / Math.sqrt(2 * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const v = (i === j ? Math.SQRT2 : 1) * rng.nextGaussian() * c;
      e[i * d + j] = v;
      e[j * d + i] = v;
    }
  }
  return e;
}

/** Draws a bilinear problem (seeded, see BilinearOptions). Each device's draws come from its own keyed stream. */
export function generateBilinear(options: BilinearOptions = {}): BilinearProblem {
  const d = options.d ?? DEFAULT_BILINEAR.d;
  const M = options.M ?? DEFAULT_BILINEAR.M;
  const lambda = options.lambda ?? DEFAULT_BILINEAR.lambda;
  const h = options.heterogeneity ?? DEFAULT_BILINEAR.heterogeneity;
  const [lo, hi] = options.spectrum ?? DEFAULT_BILINEAR.spectrum;
  const r = options.samples ?? DEFAULT_BILINEAR.samples;
  const spread = options.sampleSpread ?? DEFAULT_BILINEAR.sampleSpread;
  const seed = options.seed ?? DEFAULT_BILINEAR.seed;
  if (!(h >= 0 && h <= 1)) throw new ValidationError('heterogeneity', `must be in [0, 1], got ${h}`);
  if (!(lo > 0 && hi >= lo && Number.isFinite(hi))) throw new ValidationError('spectrum', `need 0 < lo ≤ hi, got [${lo}, ${hi}]`);
  if (!Number.isSafeInteger(r) || r < 1) throw new ValidationError('samples', `must be a positive integer, got ${r}`);
  if (!(spread >= 0 && Number.isFinite(spread))) throw new ValidationError('sampleSpread', `must be finite and ≥ 0, got ${spread}`);
  if (!Number.isSafeInteger(d) || d < 1) throw new ValidationError('d', `must be a positive integer, got ${d}`);
  if (!Number.isSafeInteger(M) || M < 1) throw new ValidationError('M', `must be a positive integer, got ${M}`);

  const common = keyedRng(seed, 0, 'bilinear:common', SHARED);
  const A0 = randomSpd(d, lo, hi, common);
  const a0 = gaussianVec(d, common);
  const b0 = gaussianVec(d, common);
  const A: Float64Array[] = [];
  const a: Float64Array[] = [];
  const b: Float64Array[] = [];
  for (let m = 0; m < M; m++) {
    const rng = keyedRng(seed, 0, 'bilinear:device', m);
    const Am = A0.slice();
    const am = a0.slice();
    const bm = b0.slice();
    if (h > 0) {
      const B = randomSpd(d, lo, hi, rng);
      const av = gaussianVec(d, rng);
      const bv = gaussianVec(d, rng);
      for (let i = 0; i < d * d; i++) Am[i] += h * (B[i] - A0[i]);
      for (let i = 0; i < d; i++) {
        am[i] += h * (av[i] - a0[i]);
        bm[i] += h * (bv[i] - b0[i]);
      }
    }
    A.push(Am);
    a.push(am);
    b.push(bm);
  }
  let pieces: BilinearData['pieces'];
  if (r > 1) {
    const pA: Float64Array[][] = [];
    const pa: Float64Array[][] = [];
    const pb: Float64Array[][] = [];
    for (let m = 0; m < M; m++) {
      const rng = keyedRng(seed, 0, 'bilinear:pieces', m);
      const E = Array.from({ length: r }, () => randomSymmetricNoise(d, rng));
      const xa = Array.from({ length: r }, () => gaussianVec(d, rng));
      const xb = Array.from({ length: r }, () => gaussianVec(d, rng));
      pA.push(centre(E, A[m], spread));
      pa.push(centre(xa, a[m], spread));
      pb.push(centre(xb, b[m], spread));
    }
    pieces = { A: pA, a: pa, b: pb };
  }
  return new BilinearProblem({ d, M, lambda, A, a, b, pieces });
}

/** pieces_i = base + s·(noise_i − mean noise): their mean is `base` (up to rounding). */
function centre(noise: Float64Array[], base: Float64Array, s: number): Float64Array[] {
  const n = base.length;
  const r = noise.length;
  const mean = new Float64Array(n);
  for (const e of noise) for (let j = 0; j < n; j++) mean[j] += e[j] / r;
  return noise.map((e) => {
    const out = new Float64Array(n);
    for (let j = 0; j < n; j++) out[j] = base[j] + s * (e[j] - mean[j]);
    return out;
  });
}

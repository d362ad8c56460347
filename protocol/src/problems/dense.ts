/**
 * Small dense linear algebra for problem generation and closed-form solutions (d in the hundreds):
 * row-major square matrices in Float64Array, O(d³) factorisations. Not used in hot loops.
 */
import type { Rng } from '../rng/xoshiro128.js';

/** out ← A x for a row-major n×n matrix A. */
export function matVec(a: Float64Array, n: number, x: Float64Array, out: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    const row = i * n;
    let s = 0;
    for (let j = 0; j < n; j++) s += a[row + j] * x[j];
    out[i] = s;
  }
  return out;
}

/** out ← Aᵀ x for a row-major n×n matrix A (row-wise accumulation, cache friendly). */
export function matTVec(a: Float64Array, n: number, x: Float64Array, out: Float64Array): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const xi = x[i];
    if (xi === 0) continue;
    for (let j = 0; j < n; j++) out[j] += a[row + j] * xi;
  }
  return out;
}

/** C ← A B (all n×n, row-major). */
export function matMul(a: Float64Array, b: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      const brow = k * n;
      const orow = i * n;
      for (let j = 0; j < n; j++) out[orow + j] += aik * b[brow + j];
    }
  }
  return out;
}

/** Aᵀ (n×n). */
export function transpose(a: Float64Array, n: number, out = new Float64Array(n * n)): Float64Array {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/**
 * A random orthogonal matrix (rows orthonormal), Haar-distributed up to the sign convention:
 * modified Gram–Schmidt on Gaussian rows, re-orthogonalised once for numerical safety.
 */
export function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) q[i] = rng.nextGaussian();
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < i; k++) {
        const rk = k * n;
        let d = 0;
        for (let j = 0; j < n; j++) d += q[ri + j] * q[rk + j];
        for (let j = 0; j < n; j++) q[ri + j] -= d * q[rk + j];
      }
    }
    let s = 0;
    for (let j = 0; j < n; j++) s += q[ri + j] * q[ri + j];
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < n; j++) q[ri + j] *= inv;
  }
  return q;
}

/** Qᵀ diag(s) Q for orthogonal Q (rows orthonormal): a symmetric matrix with eigenvalues s. */
export function symmetricFromSpectrum(q: Float64Array, s: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const sk = s[k];
    const rk = k * n;
    for (let i = 0; i < n; i++) {
      const c = sk * q[rk + i];
      if (c === 0) continue;
      const ri = i * n;
      for (let j = 0; j < n; j++) out[ri + j] += c * q[rk + j];
    }
  }
  // Symmetrise exactly (rounding makes the two triangles differ in the last bit).
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (out[i * n + j] + out[j * n + i]);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}

/**
 * In-place Cholesky factorisation of a symmetric positive definite n×n matrix: on return the lower
 * triangle holds L with A = L Lᵀ. Returns false when A is not (numerically) positive definite.
 */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let s = a[rj + j];
    for (let k = 0; k < j; k++) s -= a[rj + k] * a[rj + k];
    if (!(s > 0)) return false;
    const ljj = Math.sqrt(s);
    a[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let t = a[ri + j];
      for (let k = 0; k < j; k++) t -= a[ri + k] * a[rj + k];
      a[ri + j] = t / ljj;
    }
  }
  return true;
}

/** Solves L Lᵀ x = b given the factor from `choleskyInPlace`; b is overwritten with x. */
export function choleskySolveInPlace(l: Float64Array, n: number, b: Float64Array): Float64Array {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[ri + k] * b[k];
    b[i] = s / l[ri + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
  return b;
}

/**
 * Largest eigenvalue of a symmetric positive semidefinite operator given as a mat-vec, by power
 * iteration from a seeded start, stopped when the Rayleigh quotient changes by < tol relatively.
 */
export function powerIteration(
  apply: (x: Float64Array, out: Float64Array) => void,
  n: number,
  rng: Rng,
  maxIter = 1000,
  tol = 1e-10,
): number {
  let x = new Float64Array(n);
  let y = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.nextGaussian();
  let nx = 0;
  for (let i = 0; i < n; i++) nx += x[i] * x[i];
  nx = Math.sqrt(nx);
  for (let i = 0; i < n; i++) x[i] /= nx;
  let lambda = 0;
  for (let it = 0; it < maxIter; it++) {
    apply(x, y);
    let r = 0;
    let ny = 0;
    for (let i = 0; i < n; i++) {
      r += x[i] * y[i];
      ny += y[i] * y[i];
    }
    ny = Math.sqrt(ny);
    if (ny === 0) return 0;
    for (let i = 0; i < n; i++) y[i] /= ny;
    const t = x;
    x = y;
    y = t;
    if (it > 0 && Math.abs(r - lambda) <= tol * Math.abs(r)) return ny;
    lambda = r;
  }
  // Last ‖A x‖ with ‖x‖ = 1 is a lower bound that converges to λ_max; return the larger estimate.
  apply(x, y);
  let ny = 0;
  for (let i = 0; i < n; i++) ny += y[i] * y[i];
  return Math.max(Math.sqrt(ny), lambda);
}

/**
 * Spectral norm ‖A‖₂ of a row-major n×n matrix: √λ_max(AᵀA) by power iteration. For safety as a
 * Lipschitz constant it is inflated by a relative 1e-9 (power iteration approaches from below).
 */
export function spectralNorm(a: Float64Array, n: number, rng: Rng): number {
  const tmp = new Float64Array(n);
  const lmax = powerIteration(
    (x, out) => {
      matVec(a, n, x, tmp);
      matTVec(a, n, tmp, out);
    },
    n,
    rng,
  );
  return Math.sqrt(lmax) * (1 + 1e-9);
}

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
 * Householder reduction of the symmetric n×n matrix `a` (row-major; overwritten) to a symmetric
 * tridiagonal matrix with the same eigenvalues: diagonal `diag[0..n)`, off-diagonal `off[0..n−1)`
 * (off[i] couples i and i + 1). Backward stable: the result is exactly similar to a + E with
 * ‖E‖₂ ≈ n·ε·‖a‖₂. O(4n³/3) flops, no allocation beyond two n-vectors.
 */
export function tridiagonalize(a: Float64Array, n: number, diag: Float64Array, off: Float64Array): void {
  const v = new Float64Array(n);
  const w = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Reflect column k below the diagonal onto its first entry: H = I − βvvᵀ, Hx = s·e1.
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) {
      const x = a[i * n + k];
      v[i] = x;
      norm2 += x * x;
    }
    diag[k] = a[k * n + k];
    if (norm2 === 0) {
      off[k] = 0;
      continue;
    }
    const x0 = v[k + 1];
    const s = x0 >= 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    off[k] = s;
    v[k + 1] = x0 - s;
    // ‖v‖² = ‖x‖² − 2·s·x0 + s² = 2(‖x‖² − s·x0): no cancellation since s·x0 ≤ 0.
    const beta = 1 / (norm2 - s * x0);
    // Trailing block A ← H A H = A − v wᵀ − w vᵀ with p = βAv, w = p − (β/2)(vᵀp)v.
    let vp = 0;
    for (let i = k + 1; i < n; i++) {
      const row = i * n;
      let t = 0;
      for (let j = k + 1; j < n; j++) t += a[row + j] * v[j];
      t *= beta;
      w[i] = t;
      vp += v[i] * t;
    }
    const c = 0.5 * beta * vp;
    for (let i = k + 1; i < n; i++) w[i] -= c * v[i];
    for (let i = k + 1; i < n; i++) {
      const row = i * n;
      const vi = v[i];
      const wi = w[i];
      for (let j = k + 1; j < n; j++) a[row + j] -= vi * w[j] + wi * v[j];
    }
  }
  if (n >= 2) {
    diag[n - 2] = a[(n - 2) * n + n - 2];
    off[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) diag[n - 1] = a[(n - 1) * n + n - 1];
}

/** Number of eigenvalues below x of the symmetric tridiagonal (diag, off) (Sturm sequence; IEEE infinities welcome). */
function eigenvaluesBelow(diag: Float64Array, off: Float64Array, n: number, x: number): number {
  let count = 0;
  let q = 1;
  for (let i = 0; i < n; i++) {
    const b = i > 0 ? off[i - 1] : 0;
    q = diag[i] - x - (i > 0 ? (b * b) / q : 0);
    if (q === 0) q = -Number.MIN_VALUE; // x is (numerically) an eigenvalue: count it as below
    if (q < 0) count++;
  }
  return count;
}

/**
 * The extreme eigenvalues of a symmetric tridiagonal matrix, by bisection on Sturm counts down
 * to adjacent doubles: `max` is the upper end of the final interval (≥ the largest eigenvalue of
 * the matrix as stored), `min` the lower end (≤ the smallest).
 */
export function tridiagonalExtremes(diag: Float64Array, off: Float64Array, n: number): { min: number; max: number } {
  // Gershgorin: every eigenvalue lies in [lo, hi].
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const r = (i > 0 ? Math.abs(off[i - 1]) : 0) + (i < n - 1 ? Math.abs(off[i]) : 0);
    lo = Math.min(lo, diag[i] - r);
    hi = Math.max(hi, diag[i] + r);
  }
  const bisect = (top: boolean): number => {
    let a = lo;
    let b = hi;
    for (let it = 0; it < 2200; it++) {
      const mid = 0.5 * (a + b);
      if (mid <= a || mid >= b) break;
      const below = eigenvaluesBelow(diag, off, n, mid);
      // top: is every eigenvalue below mid? bottom: is none?
      if (top ? below === n : below === 0) {
        if (top) b = mid;
        else a = mid;
      } else if (top) a = mid;
      else b = mid;
    }
    return top ? b : a;
  };
  return { min: bisect(false), max: bisect(true) };
}

/**
 * Spectral norm ‖A‖₂ of a row-major n×n matrix, from the eigenvalues of A itself when it is
 * exactly symmetric (‖A‖₂ = max |λ|), else of AᵀA (‖A‖₂² = λ_max). Dense and direct
 * (tridiagonalisation + bisection, ~2n³ flops), accurate to rounding (relative ~n·ε); no iteration
 * that can stop early.
 */
export function spectralNorm(a: Float64Array, n: number): number {
  if (n === 0) return 0;
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  if (isSymmetric(a, n)) {
    tridiagonalize(a.slice(), n, diag, off);
    const { min, max } = tridiagonalExtremes(diag, off, n);
    return Math.max(Math.abs(min), Math.abs(max));
  }
  tridiagonalize(gramOf([a], n, true), n, diag, off);
  return Math.sqrt(Math.max(0, tridiagonalExtremes(diag, off, n).max));
}

/** Largest eigenvalue of a symmetric n×n matrix (copied, not modified): dense, accurate to rounding. */
export function symmetricMaxEigenvalue(a: Float64Array, n: number): number {
  if (n === 0) return 0;
  const diag = new Float64Array(n);
  const off = new Float64Array(Math.max(0, n - 1));
  tridiagonalize(a.slice(), n, diag, off);
  return tridiagonalExtremes(diag, off, n).max;
}

/** Whether the row-major n×n matrix equals its transpose bit for bit. */
export function isSymmetric(a: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (a[i * n + j] !== a[j * n + i]) return false;
  return true;
}

/**
 * The mean Gram matrix (1/r)Σ AᵢᵀAᵢ (`transposeFirst`) or (1/r)Σ AᵢAᵢᵀ of r row-major n×n
 * matrices, exactly symmetric (each entry computed once).
 */
export function gramOf(mats: readonly Float64Array[], n: number, transposeFirst: boolean): Float64Array {
  const g = new Float64Array(n * n);
  const r = mats.length;
  for (const A of mats) {
    if (transposeFirst) {
      // (AᵀA)_ij = Σ_k A_ki A_kj: accumulate row by row (k outer) over the upper triangle.
      for (let k = 0; k < n; k++) {
        const row = k * n;
        for (let i = 0; i < n; i++) {
          const aki = A[row + i];
          if (aki === 0) continue;
          const gi = i * n;
          for (let j = i; j < n; j++) g[gi + j] += aki * A[row + j];
        }
      }
    } else {
      // (AAᵀ)_ij = Σ_k A_ik A_jk: dot products of rows.
      for (let i = 0; i < n; i++) {
        const ri = i * n;
        for (let j = i; j < n; j++) {
          const rj = j * n;
          let s = 0;
          for (let k = 0; k < n; k++) s += A[ri + k] * A[rj + k];
          g[ri + j] += s;
        }
      }
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = g[i * n + j] / r;
      g[i * n + j] = v;
      g[j * n + i] = v;
    }
  }
  return g;
}

/**
 * Symmetric tridiagonal matrices stored as bands: `diag` (length d) and `off` (length d − 1, the
 * sub- and super-diagonal). O(d) mat-vec and solve, Sturm-sequence bisection for eigenvalues.
 */
import { ValidationError } from '../errors.js';

/** out ← T x. */
export function tridiagMatVec(diag: Float64Array, off: Float64Array, x: Float64Array, out: Float64Array): Float64Array {
  const d = diag.length;
  if (d === 0) return out;
  if (d === 1) {
    out[0] = diag[0] * x[0];
    return out;
  }
  out[0] = diag[0] * x[0] + off[0] * x[1];
  for (let i = 1; i < d - 1; i++) out[i] = off[i - 1] * x[i - 1] + diag[i] * x[i] + off[i] * x[i + 1];
  out[d - 1] = off[d - 2] * x[d - 2] + diag[d - 1] * x[d - 1];
  return out;
}

/**
 * Solves T x = b by the Thomas algorithm (Gaussian elimination without pivoting, O(d)). Stable for
 * diagonally dominant or positive definite T; throws when a pivot vanishes (singular to working
 * precision). Returns a new vector.
 */
export function thomasSolve(diag: Float64Array, off: Float64Array, b: Float64Array): Float64Array {
  const d = diag.length;
  if (b.length !== d || (d > 0 && off.length !== d - 1)) {
    throw new ValidationError('b', `band lengths do not match: diag ${d}, off ${off.length}, b ${b.length}`);
  }
  const c = new Float64Array(d); // modified super-diagonal
  const x = new Float64Array(d);
  let scale = 0;
  for (let i = 0; i < d; i++) scale = Math.max(scale, Math.abs(diag[i]), i < d - 1 ? Math.abs(off[i]) : 0);
  const tiny = scale * 1e-300;
  let piv = diag[0];
  if (!(Math.abs(piv) > tiny)) throw new RangeError('thomasSolve: zero pivot at row 0');
  c[0] = d > 1 ? off[0] / piv : 0;
  x[0] = b[0] / piv;
  for (let i = 1; i < d; i++) {
    piv = diag[i] - off[i - 1] * c[i - 1];
    if (!(Math.abs(piv) > tiny)) throw new RangeError(`thomasSolve: zero pivot at row ${i}`);
    c[i] = i < d - 1 ? off[i] / piv : 0;
    x[i] = (b[i] - off[i - 1] * x[i - 1]) / piv;
  }
  for (let i = d - 2; i >= 0; i--) x[i] -= c[i] * x[i + 1];
  return x;
}

/** Number of eigenvalues of T strictly less than `t` (Sturm sequence count, LDLᵀ pivots). */
export function sturmCount(diag: Float64Array, off: Float64Array, t: number): number {
  const d = diag.length;
  let count = 0;
  let q = 1;
  // Guard against division by a zero pivot with a tiny perturbation (standard practice).
  let scale = 0;
  for (let i = 0; i < d; i++) scale = Math.max(scale, Math.abs(diag[i]), i < d - 1 ? Math.abs(off[i]) : 0);
  const eps = (scale || 1) * 1e-300;
  for (let i = 0; i < d; i++) {
    const e2 = i > 0 ? off[i - 1] * off[i - 1] : 0;
    q = diag[i] - t - (i > 0 ? e2 / q : 0);
    if (q === 0) q = -eps;
    if (q < 0) count++;
  }
  return count;
}

/** Gershgorin interval [lo, hi] containing every eigenvalue of T. */
export function gershgorin(diag: Float64Array, off: Float64Array): [number, number] {
  const d = diag.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < d; i++) {
    const r = (i > 0 ? Math.abs(off[i - 1]) : 0) + (i < d - 1 ? Math.abs(off[i]) : 0);
    lo = Math.min(lo, diag[i] - r);
    hi = Math.max(hi, diag[i] + r);
  }
  return [lo, hi];
}

/**
 * The k-th smallest eigenvalue (k = 0 … d−1) of T by bisection on the Sturm count, to absolute
 * accuracy ~ 4·ε·max|λ| (about 60 halvings of the Gershgorin interval, O(d) each).
 */
export function tridiagEigenvalue(diag: Float64Array, off: Float64Array, k: number): number {
  const d = diag.length;
  if (!(k >= 0 && k < d && Number.isInteger(k))) throw new RangeError(`tridiagEigenvalue: k must be in [0, ${d}), got ${k}`);
  let [lo, hi] = gershgorin(diag, off);
  const width = Math.max(Math.abs(lo), Math.abs(hi), Number.MIN_VALUE);
  lo -= width * 1e-12;
  hi += width * 1e-12;
  for (let it = 0; it < 200; it++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (sturmCount(diag, off, mid) > k) hi = mid;
    else lo = mid;
    if (hi - lo <= 4 * Number.EPSILON * width) break;
  }
  return 0.5 * (lo + hi);
}

/** Smallest and largest eigenvalue of T. */
export function tridiagEigenRange(diag: Float64Array, off: Float64Array): { min: number; max: number } {
  const d = diag.length;
  return { min: tridiagEigenvalue(diag, off, 0), max: tridiagEigenvalue(diag, off, d - 1) };
}

/** Eigenvalues of the d×d matrix tridiag(−1, 2, −1): t_k = 2 − 2cos(kπ/(d+1)), k = 1…d, ascending. */
export function secondDifferenceEigenvalues(d: number): Float64Array {
  const t = new Float64Array(d);
  for (let k = 1; k <= d; k++) t[k - 1] = 2 - 2 * Math.cos((k * Math.PI) / (d + 1));
  return t;
}

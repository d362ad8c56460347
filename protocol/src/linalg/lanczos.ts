/**
 * Largest eigenvalue of a symmetric operator given only as a mat-vec, by the Lanczos process with
 * full reorthogonalisation (m ≤ d steps, O(m·(matvec + m·d))). Extreme eigenvalues converge in far
 * fewer steps than power iteration; with m = d the answer is exact up to rounding.
 */
import type { Rng } from '../rng/xoshiro128.js';
import { tridiagEigenvalue } from './tridiagonal.js';

export interface LanczosOptions {
  /** Maximum Krylov dimension (default min(d, 80)). */
  readonly maxSteps?: number;
  /** Stop when the largest Ritz value changes by less than tol relatively (default 1e-12). */
  readonly tol?: number;
}

/** λ_max of the symmetric d×d operator `apply` (x ↦ out = A x), started from a seeded random vector. */
export function lanczosLargestEigenvalue(apply: (x: Float64Array, out: Float64Array) => void, d: number, rng: Rng, options: LanczosOptions = {}): number {
  if (d === 0) return 0;
  const m = Math.min(d, options.maxSteps ?? 80);
  const tol = options.tol ?? 1e-12;
  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = [];
  let v = new Float64Array(d);
  for (let i = 0; i < d; i++) v[i] = rng.nextGaussian();
  normalise(v);
  const w = new Float64Array(d);
  let previous = Number.NaN;
  for (let j = 0; j < m; j++) {
    basis.push(v);
    apply(v, w);
    let a = 0;
    for (let i = 0; i < d; i++) a += w[i] * v[i];
    alpha.push(a);
    // Full reorthogonalisation (twice is enough) against every basis vector.
    for (let pass = 0; pass < 2; pass++) {
      for (const u of basis) {
        let c = 0;
        for (let i = 0; i < d; i++) c += w[i] * u[i];
        for (let i = 0; i < d; i++) w[i] -= c * u[i];
      }
    }
    const b = Math.sqrt(dotSelf(w));
    const ritz = largestRitz(alpha, beta);
    const scale = Math.max(Math.abs(ritz), Number.MIN_VALUE);
    if (b <= 1e-14 * Math.max(scale, Math.abs(a))) return ritz; // invariant subspace found: exact
    if (j > 2 && Math.abs(ritz - previous) <= tol * scale) return ritz;
    previous = ritz;
    beta.push(b);
    v = new Float64Array(d);
    for (let i = 0; i < d; i++) v[i] = w[i] / b;
  }
  return largestRitz(alpha, beta.slice(0, alpha.length - 1));
}

function largestRitz(alpha: number[], beta: number[]): number {
  const k = alpha.length;
  const diag = Float64Array.from(alpha);
  const off = Float64Array.from(beta.slice(0, k - 1));
  return tridiagEigenvalue(diag, off, k - 1);
}

function dotSelf(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

function normalise(x: Float64Array): void {
  const n = Math.sqrt(dotSelf(x));
  for (let i = 0; i < x.length; i++) x[i] /= n;
}

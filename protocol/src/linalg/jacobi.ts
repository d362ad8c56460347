/**
 * Eigenvalues of a small dense symmetric matrix by the cyclic Jacobi method (O(d³) per sweep,
 * quadratically convergent, accurate to a few ulps of ‖A‖). Used to verify closed forms and for
 * dense problem files; not for hot loops.
 */

/**
 * Eigenvalues (ascending) of the symmetric d×d row-major matrix `a` (not modified; only the upper
 * triangle is read, the matrix is assumed symmetric).
 */
export function jacobiEigenvalues(a: Float64Array, d: number, maxSweeps = 100): Float64Array {
  if (a.length !== d * d) throw new RangeError(`jacobiEigenvalues: expected ${d * d} entries, got ${a.length}`);
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      m[i * d + j] = a[i * d + j];
      m[j * d + i] = a[i * d + j];
    }
  }
  let total = 0;
  for (let i = 0; i < d * d; i++) total += m[i] * m[i];
  const tol = total * 1e-32;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += m[p * d + q] * m[p * d + q];
    if (off <= tol) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q];
        if (apq === 0) continue;
        const app = m[p * d + p];
        const aqq = m[q * d + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // Rotate rows/columns p and q: M ← Jᵀ M J.
        for (let k = 0; k < d; k++) {
          const mkp = m[k * d + p];
          const mkq = m[k * d + q];
          m[k * d + p] = c * mkp - s * mkq;
          m[k * d + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < d; k++) {
          const mpk = m[p * d + k];
          const mqk = m[q * d + k];
          m[p * d + k] = c * mpk - s * mqk;
          m[q * d + k] = s * mpk + c * mqk;
        }
        m[p * d + q] = 0;
        m[q * d + p] = 0;
      }
    }
  }
  const ev = new Float64Array(d);
  for (let i = 0; i < d; i++) ev[i] = m[i * d + i];
  ev.sort();
  return ev;
}

/** Spectral norm max|λ| of a symmetric matrix. */
export function symmetricNorm(a: Float64Array, d: number): number {
  const ev = jacobiEigenvalues(a, d);
  return d === 0 ? 0 : Math.max(Math.abs(ev[0]), Math.abs(ev[d - 1]));
}

import { describe, expect, it } from 'vitest';
import {
  gramOf,
  isSymmetric,
  matMul,
  randomOrthogonal,
  spectralNorm,
  symmetricFromSpectrum,
  symmetricMaxEigenvalue,
  transpose,
} from '../src/problems/dense.js';
import { keyedRng } from '../src/rng/streams.js';

/** Q1 diag(s) Q2 for two random orthogonal matrices: singular values s. */
function withSingularValues(s: number[], seed: number): Float64Array {
  const n = s.length;
  const rng = keyedRng(seed, 0, 'dense-test', 0);
  const q1 = randomOrthogonal(n, rng);
  const q2 = randomOrthogonal(n, rng);
  const ds = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) ds[i * n + j] = q1[i * n + j] * s[j];
  return matMul(ds, q2, n);
}

describe('dense spectral norms (tridiagonalisation + bisection)', () => {
  it('finds the extreme eigenvalue of symmetric matrices with known spectra to rounding', () => {
    for (const [n, seed] of [
      [1, 1],
      [2, 2],
      [7, 3],
      [40, 4],
      [100, 5],
    ] as const) {
      const rng = keyedRng(seed, 0, 'dense-test', 0);
      const spec = new Float64Array(n);
      for (let i = 0; i < n; i++) spec[i] = -1 + (2.5 * i) / Math.max(1, n - 1) + 0.001 * rng.nextFloat53();
      const a = symmetricFromSpectrum(randomOrthogonal(n, rng), spec, n);
      const top = Math.max(...spec);
      const before = a.slice();
      const absMax = Math.max(...Array.from(spec, Math.abs));
      expect(Math.abs(symmetricMaxEigenvalue(a, n) - top)).toBeLessThanOrEqual(1e-12 * absMax);
      expect(a).toEqual(before);
      // Symmetric: ‖A‖₂ = max |λ|.
      expect(Math.abs(spectralNorm(a, n) - absMax)).toBeLessThanOrEqual(1e-12 * absMax);
    }
  });

  it('a negative end larger in magnitude sets the norm of a symmetric matrix', () => {
    const n = 30;
    const spec = Float64Array.from({ length: n }, (_, i) => (i === 0 ? -3 : 0.1 * i));
    const a = symmetricFromSpectrum(randomOrthogonal(n, keyedRng(9, 0, 'dense-test', 0)), spec, n);
    expect(spectralNorm(a, n)).toBeCloseTo(3, 12);
    expect(symmetricMaxEigenvalue(a, n)).toBeCloseTo(2.9, 12);
  });

  it('gives ‖A‖₂ of non-symmetric matrices (largest singular value), close singular values included', () => {
    const n = 60;
    const s = Array.from({ length: n }, (_, i) => 0.2 + i / n);
    s[n - 2] = s[n - 1] * (1 - 1e-7); // a gap power iteration would need ~10⁸ steps to resolve
    const a = withSingularValues(s, 11);
    expect(isSymmetric(a, n)).toBe(false);
    expect(Math.abs(spectralNorm(a, n) - s[n - 1]) / s[n - 1]).toBeLessThan(1e-12);
    // The two Gram matrices share their spectrum.
    const g1 = gramOf([a], n, true);
    const g2 = gramOf([a], n, false);
    expect(isSymmetric(g1, n) && isSymmetric(g2, n)).toBe(true);
    expect(Math.abs(symmetricMaxEigenvalue(g1, n) - symmetricMaxEigenvalue(g2, n))).toBeLessThan(1e-12);
    // gramOf(·, true) is AᵀA.
    const ata = matMul(transpose(a, n), a, n);
    for (let i = 0; i < n * n; i++) expect(Math.abs(g1[i] - ata[i])).toBeLessThan(1e-12);
  });

  it('averages Gram matrices over pieces, and handles zero and 1×1 matrices', () => {
    const n = 5;
    const a = withSingularValues([1, 1, 1, 1, 2], 3);
    const b = withSingularValues([1, 1, 1, 1, 1], 4);
    const g = gramOf([a, b], n, true);
    const ga = gramOf([a], n, true);
    const gb = gramOf([b], n, true);
    for (let i = 0; i < n * n; i++) expect(g[i]).toBeCloseTo((ga[i] + gb[i]) / 2, 14);
    expect(spectralNorm(new Float64Array(16), 4)).toBe(0);
    expect(spectralNorm(Float64Array.of(-2.5), 1)).toBe(2.5);
  });
});

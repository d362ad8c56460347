/**
 * The PermK paper's synthetic nonconvex quadratics (SPEC §1):
 *
 *   f_i(x) = ½ xᵀA_i x − b_iᵀx,   A_i = (ν_i/4)·T,   b_i = (ν_i/4)(−1 + ν'_i) e₁,
 *   ν_i = 1 + s ξ_i,  ν'_i = s ξ'_i,  ξ, ξ' ~ N(0, 1) i.i.d.,  T = tridiag(−1, 2, −1),
 *
 * then every A_i += (λ − λ_min(Ā)) I so that λ_min(Ā) = λ (default 1e−6); x⁰ = (√d, 0, …, 0).
 * s controls the Hessian variance. ξ_i, ξ'_i are drawn from the keyed stream
 * (seed, 0, 'quadratic/xi', i) so a device's data does not depend on n.
 *
 * Closed-form constants. Every A_i = α_i T + c I with α_i = ν_i/4 and one shift c, so all A_i are
 * polynomials in T and share its eigenvectors; T has eigenvalues t_k = 2 − 2cos(kπ/(d+1)),
 * k = 1…d, in (0, 4). Hence, with t₁ = t_min and t_d = t_max and ᾱ = mean α_i:
 *   λ_min(Ā) = min(ᾱ t₁, ᾱ t_d) (before the shift), c = λ − that;
 *   L₋ = ‖Ā‖ = max(|ᾱ t₁ + c|, |ᾱ t_d + c|);
 *   L_i = ‖A_i‖ = max(|α_i t₁ + c|, |α_i t_d + c|),  L₊ = sqrt(mean L_i²);
 *   (1/n)ΣA_i² − Ā² = (mean α² − ᾱ²) T²  (the shift cancels), so L_± = sqrt(var α)·t_d
 *   with var α the population variance (1/n)Σ(α_i − ᾱ)².
 */
import { keyedRng } from '../rng/streams.js';
import { QuadraticProblem } from './quadratic.js';
import type { QuadraticConstants } from './quadratic.js';

export interface PermkQuadraticOptions {
  readonly d: number;
  readonly n: number;
  /** Heterogeneity knob s ≥ 0. */
  readonly s: number;
  readonly seed: number;
  /** Target λ_min(Ā) after the shift (default 1e−6). */
  readonly lambda?: number;
}

/** The structure the generator knows: A_i = alpha[i]·T + shift·I. */
export interface PermkQuadraticStructure {
  readonly alpha: Float64Array;
  readonly shift: number;
}

export interface PermkQuadratic {
  readonly problem: QuadraticProblem;
  readonly structure: PermkQuadraticStructure;
  readonly constants: QuadraticConstants;
}

export function generatePermkQuadratic(options: PermkQuadraticOptions): PermkQuadratic {
  const { d, n, s, seed } = options;
  const lambda = options.lambda ?? 1e-6;
  if (!(Number.isInteger(d) && d >= 2)) throw new RangeError(`permk quadratic: d must be an integer ≥ 2, got ${d}`);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`permk quadratic: n must be a positive integer, got ${n}`);
  if (!(Number.isFinite(s) && s >= 0)) throw new RangeError(`permk quadratic: s must be finite and ≥ 0, got ${s}`);
  if (!Number.isFinite(lambda)) throw new RangeError(`permk quadratic: lambda must be finite`);

  const alpha = new Float64Array(n);
  const bFirst = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const rng = keyedRng(seed, 0, 'quadratic/xi', i);
    const xi = rng.nextGaussian();
    const xiPrime = rng.nextGaussian();
    const nu = 1 + s * xi;
    const nuPrime = s * xiPrime;
    alpha[i] = nu / 4;
    bFirst[i] = (nu / 4) * (-1 + nuPrime);
  }
  let alphaMean = 0;
  for (let i = 0; i < n; i++) alphaMean += alpha[i];
  alphaMean /= n;
  let alphaVar = 0;
  for (let i = 0; i < n; i++) alphaVar += (alpha[i] - alphaMean) * (alpha[i] - alphaMean);
  alphaVar /= n;

  const tMin = 2 - 2 * Math.cos(Math.PI / (d + 1));
  const tMax = 2 + 2 * Math.cos(Math.PI / (d + 1));
  const shift = lambda - Math.min(alphaMean * tMin, alphaMean * tMax);

  const diag = new Float64Array(n * d);
  const off = new Float64Array(n * (d - 1));
  const b = new Float64Array(n * d);
  const L = new Float64Array(n);
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const a = alpha[i];
    diag.fill(2 * a + shift, i * d, (i + 1) * d);
    off.fill(-a, i * (d - 1), (i + 1) * (d - 1));
    b[i * d] = bFirst[i];
    L[i] = Math.max(Math.abs(a * tMin + shift), Math.abs(a * tMax + shift));
    sumL2 += L[i] * L[i];
  }
  const constants: QuadraticConstants = {
    Lminus: Math.max(Math.abs(alphaMean * tMin + shift), Math.abs(alphaMean * tMax + shift)),
    Lplus: Math.sqrt(sumL2 / n),
    Lpm: Math.sqrt(alphaVar) * tMax,
    L,
    lambdaMinMean: Math.min(alphaMean * tMin, alphaMean * tMax) + shift,
  };
  const x0 = new Float64Array(d);
  x0[0] = Math.sqrt(d);
  const problem = new QuadraticProblem({ d, n, storage: { kind: 'bands', diag, off }, b, x0, constants });
  return { problem, structure: { alpha, shift }, constants };
}

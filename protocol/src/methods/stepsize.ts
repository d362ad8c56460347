/**
 * Theory stepsizes from the problem's and compressors' constants.
 *
 * MASHA1 (seed Theorem 1, SPEC §3.1):
 *   γ ≤ min{ √(1−τ)/(4C_q), (1−τ)/(4(μ_F+μ_h)) },  C_q = √( q^serv/M² · Σ_m (q_m^dev + M − 1) L_m² ),
 *   and γ ≤ √(1−τ)/(4C_q) in the monotone case (μ_F + μ_h = 0).
 * MASHA2 (reconstructed; the seed's Theorem for Algorithm 2 is not in our copy): the same form with
 *   C_q replaced by C_δ = a(δ^dev)·a(δ^serv)·√((1/M)Σ_m L_m²), a(δ) = (1+ρ)/(1−ρ), ρ = √(1 − 1/δ).
 *   Why: with error feedback the message c_k differs from the true (scaled) difference x_k by
 *   e_k − e_{k+1}; a δ-contractive C gives ‖e_{k+1}‖ ≤ ρ(‖x_k‖ + ‖e_k‖), hence ‖e‖ ≤ ρ/(1−ρ)·max‖x‖ and
 *   ‖c_k‖ ≤ (1 + 2ρ/(1−ρ))·max‖x‖ = a(δ)·max‖x‖: the compressed differences behave like differences
 *   of an operator a(δ) times more Lipschitz. With identity compressors (δ = 1, a = 1) C_δ equals
 *   MASHA1's C_q with q = 1, so the two bounds coincide. Tests check convergence at this stepsize.
 * EG: γ = 1/L with L = (1/M)Σ L_m ≥ Lipschitz constant of F. QEG: 1/(L√q) (heuristic: the second
 *   moment of the compressed operator grows by q).
 * QGDA / EF-GDA: γ = μ/(L²·q) resp. μ/(L²·δ) with μ = μ_F + μ_h: for q = δ = 1 it is the stepsize
 *   that makes z − γF(z) a contraction by 1 − μ²/L² (heuristic otherwise); they need μ > 0.
 */
import type { Compressor } from '../compress/types.js';
import { ValidationError } from '../errors.js';
import type { Problem } from '../problems/types.js';
import type { Prox } from '../prox/types.js';
import { FULL } from './common.js';
import { defaultTau } from './masha-base.js';
import { marinaTheoryStepsize } from './marina-stepsize.js';
import type { MethodName } from './types.js';

export interface StepsizeInput {
  readonly problem: Problem;
  readonly device: Compressor;
  readonly server?: Compressor;
  /** τ; default as in the method (1 − β, or 1 − min(1/r, β) stochastic). */
  readonly tau?: number;
  readonly prox?: Prox;
  readonly stochastic?: boolean;
}

function lipschitzAll(problem: Problem): Float64Array {
  const L = new Float64Array(problem.shards);
  for (let m = 0; m < problem.shards; m++) L[m] = problem.lipschitz(m);
  return L;
}

function mu(input: StepsizeInput): number {
  return input.problem.strongMonotonicity + (input.prox?.strongConvexity ?? 0);
}

function unbiasedQ(c: Compressor, d: number, M: number, field: string): number {
  const k = c.constants(d, M);
  if (k.kind !== 'unbiased' || k.q === undefined) throw new ValidationError(field, `'${c.spec}' is not unbiased: no variance constant q`);
  return k.q;
}

function contractiveDelta(c: Compressor, d: number, M: number, field: string): number {
  const k = c.constants(d, M);
  if (k.kind === 'contractive' && k.delta !== undefined) return k.delta;
  if (k.kind === 'unbiased' && k.q === 1) return 1; // identity
  throw new ValidationError(field, `'${c.spec}' is ${k.kind}: no contraction constant δ`);
}

/** C_q of seed Theorem 1. */
export function masha1Cq(problem: Problem, device: Compressor, server: Compressor = FULL): number {
  const M = problem.shards;
  const qd = unbiasedQ(device, problem.dim, M, 'device');
  const qs = unbiasedQ(server, problem.dim, M, 'server');
  const L = lipschitzAll(problem);
  let s = 0;
  for (let m = 0; m < M; m++) s += (qd + M - 1) * L[m] * L[m];
  return Math.sqrt((qs / (M * M)) * s);
}

/** Error-feedback amplification a(δ) = (1+ρ)/(1−ρ), ρ = √(1 − 1/δ). */
export function efAmplification(delta: number): number {
  if (!(delta >= 1)) throw new RangeError(`δ must be ≥ 1, got ${delta}`);
  const rho = Math.sqrt(1 - 1 / delta);
  return (1 + rho) / (1 - rho);
}

/** C_δ of the MASHA2 bound (see module doc). */
export function masha2Cdelta(problem: Problem, device: Compressor, server: Compressor = FULL): number {
  const M = problem.shards;
  const dd = contractiveDelta(device, problem.dim, M, 'device');
  const ds = contractiveDelta(server, problem.dim, M, 'server');
  const L = lipschitzAll(problem);
  let s = 0;
  for (let m = 0; m < M; m++) s += L[m] * L[m];
  return efAmplification(dd) * efAmplification(ds) * Math.sqrt(s / M);
}

function mashaBound(C: number, tau: number, muSum: number): number {
  const a = Math.sqrt(1 - tau) / (4 * C);
  return muSum > 0 ? Math.min(a, (1 - tau) / (4 * muSum)) : a;
}

function tauOf(input: StepsizeInput): number {
  const tau = input.tau ?? defaultTau(input.device, input.problem, input.stochastic ?? false);
  if (!(tau >= 0 && tau < 1)) throw new ValidationError('tau', `τ must be in [0, 1), got ${tau}`);
  return tau;
}

export function masha1Stepsize(input: StepsizeInput): number {
  return mashaBound(masha1Cq(input.problem, input.device, input.server), tauOf(input), mu(input));
}

export function masha2Stepsize(input: StepsizeInput): number {
  return mashaBound(masha2Cdelta(input.problem, input.device, input.server), tauOf(input), mu(input));
}

/** L = (1/M)Σ L_m, an upper bound on the Lipschitz constant of F. */
export function meanLipschitz(problem: Problem): number {
  const L = lipschitzAll(problem);
  return L.reduce((a, b) => a + b, 0) / problem.shards;
}

export function egStepsize(input: StepsizeInput, compressed = false): number {
  const L = meanLipschitz(input.problem);
  const q = compressed ? unbiasedQ(input.device, input.problem.dim, input.problem.shards, 'device') : 1;
  return 1 / (L * Math.sqrt(q));
}

export function gdaStepsize(input: StepsizeInput, errorFeedback: boolean): number {
  const m = mu(input);
  if (!(m > 0)) throw new ValidationError('problem', 'descent–ascent has a theory stepsize only for strongly monotone problems');
  const L = meanLipschitz(input.problem);
  const { dim, shards } = input.problem;
  const c = errorFeedback ? contractiveDelta(input.device, dim, shards, 'device') : unbiasedQ(input.device, dim, shards, 'device');
  return m / (L * L * c);
}

/** The theory stepsize of a method (see the module doc for each). */
export function theoryStepsize(name: MethodName, input: StepsizeInput): number {
  switch (name) {
    case 'masha1':
      return masha1Stepsize(input);
    case 'masha2':
      return masha2Stepsize(input);
    case 'eg':
      return egStepsize(input, false);
    case 'qeg':
      return egStepsize(input, true);
    case 'qgda':
      return gdaStepsize(input, false);
    case 'ef-gda':
      return gdaStepsize(input, true);
    case 'marina':
      return marinaTheoryStepsize(input);
    default: {
      const unknown: never = name;
      throw new ValidationError('method', `no theory stepsize for '${String(unknown)}' here`);
    }
  }
}

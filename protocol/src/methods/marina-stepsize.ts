/**
 * MARINA's theory stepsize (PermK paper, SPEC §3.4):
 *
 *   γ = [ L₋ + sqrt( ((1 − p)/p) · ((A − B)·L₊² + B·L_±²) ) ]⁻¹
 *
 * for compressors satisfying the AB inequality
 *   E‖(1/n)Σ C_i(a_i) − ā‖² ≤ A·(1/n)Σ‖a_i‖² − B·‖ā‖²;
 * independent unbiased compressors with variance ω (q = 1 + ω) have A = ω/n, B = 0.
 * p = ζ/d, ζ the expected number of nonzeros a device sends per compressed round.
 */
import type { Compressor } from '../compress/types.js';
import { ValidationError } from '../errors.js';

export interface MarinaSmoothness {
  /** L₋: smoothness of f. */
  readonly Lminus: number;
  /** L₊ = sqrt(mean L_i²). */
  readonly Lplus: number;
  /** L_±: Hessian variance. */
  readonly Lpm: number;
}

export interface AbConstants {
  readonly A: number;
  readonly B: number;
}

/** (A, B) of n independent unbiased compressors with variance ω: A = ω/n, B = 0. */
export function abFromOmega(omega: number, n: number): AbConstants {
  if (!(omega >= 0 && Number.isFinite(omega))) throw new ValidationError('omega', `ω must be finite and ≥ 0, got ${omega}`);
  if (!(Number.isInteger(n) && n >= 1)) throw new ValidationError('n', `n must be a positive integer, got ${n}`);
  return { A: omega / n, B: 0 };
}

/** p = ζ/d. */
export function marinaP(zeta: number, d: number): number {
  if (!(zeta > 0 && zeta <= d)) throw new ValidationError('zeta', `ζ must be in (0, d = ${d}], got ${zeta}`);
  return zeta / d;
}

/** The theory stepsize for given smoothness constants, refresh probability p and AB constants. */
export function marinaStepsize(s: MarinaSmoothness, p: number, ab: AbConstants): number {
  if (!(p > 0 && p <= 1)) throw new ValidationError('p', `p must be in (0, 1], got ${p}`);
  for (const [k, v] of [
    ['Lminus', s.Lminus],
    ['Lplus', s.Lplus],
    ['Lpm', s.Lpm],
  ] as const) {
    if (!(v >= 0 && Number.isFinite(v))) throw new ValidationError(k, `${k} must be finite and ≥ 0, got ${v}`);
  }
  if (!(ab.A >= 0 && ab.B >= 0 && Number.isFinite(ab.A) && Number.isFinite(ab.B))) {
    throw new ValidationError('ab', `A and B must be finite and ≥ 0, got A = ${ab.A}, B = ${ab.B}`);
  }
  const inner = Math.max(0, (ab.A - ab.B) * s.Lplus * s.Lplus + ab.B * s.Lpm * s.Lpm);
  const denom = s.Lminus + Math.sqrt(((1 - p) / p) * inner);
  if (!(denom > 0)) throw new ValidationError('Lminus', 'the stepsize bound is infinite (L₋ = 0 and no compression variance)');
  return 1 / denom;
}

/**
 * The AB constants MARINA's theory uses for a compressor on (d, n): its own `ab` when it states
 * them (PermK, RandK, identity), else A = (q − 1)/n, B = 0 for unbiased ones. Contractive
 * compressors (TopK) have no AB constants: they are given those of an unbiased compressor with the
 * same density, ω = δ − 1 (a heuristic, not a theorem; MARINA's theory does not cover them).
 */
export function marinaAb(c: Compressor, d: number, n: number): AbConstants {
  const k = c.constants(d, n);
  if (k.ab) return k.ab;
  if (k.kind === 'unbiased' && k.q !== undefined) return abFromOmega(k.q - 1, n);
  if (k.kind === 'contractive' && k.delta !== undefined) return abFromOmega(k.delta - 1, n);
  throw new ValidationError('compressor', `'${c.spec}' states neither AB constants, q nor δ: no MARINA stepsize`);
}

/** A problem that knows its MARINA smoothness constants (the quadratics). */
interface WithSmoothness {
  constants(): MarinaSmoothness;
}

function hasSmoothness(p: object): p is WithSmoothness {
  const c = (p as Partial<WithSmoothness>).constants;
  if (typeof c !== 'function') return false;
  const v = c.call(p) as Partial<MarinaSmoothness> | undefined;
  return !!v && typeof v.Lminus === 'number' && typeof v.Lplus === 'number' && typeof v.Lpm === 'number';
}

/**
 * MARINA's theory stepsize for a problem and device compressor: L₋, L₊, L_± from the problem when
 * it states them (quadratics), else the safe bounds L₋ ≤ (1/n)Σ L_i, L₊ = sqrt((1/n)Σ L_i²),
 * L_± ≤ L₊ from the per-shard Lipschitz constants. p defaults to the compressor's density β (= ζ/d
 * for payloads of values only), as `Marina` does.
 */
export function marinaTheoryStepsize(input: {
  readonly problem: { readonly dim: number; readonly shards: number; lipschitz(m: number): number };
  readonly device: Compressor;
  readonly p?: number;
}): number {
  const { problem, device } = input;
  const d = problem.dim;
  const n = problem.shards;
  const p = input.p ?? Math.min(1, device.constants(d, n).beta);
  let s: MarinaSmoothness;
  if (hasSmoothness(problem)) {
    s = problem.constants();
  } else {
    let sum = 0;
    let sumSq = 0;
    for (let m = 0; m < n; m++) {
      const L = problem.lipschitz(m);
      sum += L;
      sumSq += L * L;
    }
    const Lplus = Math.sqrt(sumSq / n);
    s = { Lminus: sum / n, Lplus, Lpm: Lplus };
  }
  return marinaStepsize(s, p, marinaAb(device, d, n));
}

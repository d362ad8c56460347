/**
 * Euclidean projection onto the simplex {u ≥ 0, Σu = s} (SPEC §1), sort-based, O(d log d)
 * (Held, Wolfe & Crowder 1974; Duchi et al. 2008): sort v descending as u₁ ≥ … ≥ u_d, take the
 * largest ρ with u_ρ − (Σ_{i≤ρ} u_i − s)/ρ > 0, θ = (Σ_{i≤ρ} u_i − s)/ρ, then out = max(v − θ, 0).
 */
import type { Prox } from './types.js';
import { ValidationError } from '../errors.js';

export class SimplexProx implements Prox {
  readonly spec: string;
  readonly strongConvexity = 0;
  /** Sort scratch, reused across calls of the same dimension. */
  private scratch = new Float64Array(0);

  constructor(readonly sum = 1) {
    if (!(sum > 0 && Number.isFinite(sum))) throw new ValidationError('s', `simplex sum must be finite and > 0, got ${sum}`);
    this.spec = sum === 1 ? 'simplex' : `simplex:s=${sum}`;
  }

  apply(v: Float64Array, _gamma: number, out: Float64Array): Float64Array {
    const n = v.length;
    if (out.length !== n) throw new ValidationError('out', `prox: output length ${out.length} differs from input length ${n}`);
    if (n === 0) throw new ValidationError('v', 'cannot project onto the simplex of dimension 0');
    if (this.scratch.length !== n) this.scratch = new Float64Array(n);
    const u = this.scratch;
    u.set(v);
    u.sort(); // ascending, numeric (typed-array sort)
    let cum = 0;
    let theta = 0;
    for (let j = 1; j <= n; j++) {
      const uj = u[n - j];
      cum += uj;
      const t = (cum - this.sum) / j;
      if (uj - t > 0) theta = t;
    }
    for (let i = 0; i < n; i++) {
      const x = v[i] - theta;
      out[i] = x > 0 ? x : 0;
    }
    return out;
  }
}

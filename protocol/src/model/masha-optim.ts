/**
 * The optimizer inside MASHA (model runs): how SGD with momentum, Adam and LAMB compose with
 * MASHA's reference point w and extrapolation z^{k+½}.
 *
 * Plain MASHA takes two steps of length γ from the anchor z̄ = τz + (1−τ)w:
 *   z^{k+½} = z̄ − γ F(w),          z^{k+1} = z̄ − γ ĝ,   ĝ = F(w) + g   (g the decoded aggregate).
 * With an optimizer, each "− γ·direction" becomes the optimizer's step U_s(direction; z̄) taken from
 * the anchor z̄ with the optimizer state s = (m, v) of the replica and step number t = k + 1:
 *   z^{k+½} = z̄ − U_s(F(w); z̄)     a *peek*: s is not changed (every peer computes the same point)
 *   z^{k+1} = z̄ − U_s(ĝ; z̄),  then s ← S(s, ĝ)   the only state update of the iteration
 * The reference point w and its refresh are MASHA's, untouched (w ← z^{k+1} when b_k = 1). So the
 * moments see exactly one direction per iteration (the method's estimate of F(z^{k+½})), the
 * extrapolation uses the same preconditioner as the step (Extra-Adam style, Gidel et al. 2019),
 * and the state lives in the replica: a failover or a joiner copies it with z, w, F(w).
 *
 * U per tensor, with lr_t from the schedule (warm-up, linear decay) and weight decay wd on the
 * layout's matrices only:
 *   none  U(d) = γ·d                                         (plain MASHA1/MASHA2)
 *   sgd   m' = μm + (d + wd·z̄);  U = lr_t·m'
 *   adam  m' = β₁m + (1−β₁)d;  v' = β₂v + (1−β₂)d²;  r = m̂'/(√v̂' + ε) + wd·z̄;  U = lr_t·r
 *   lamb  as adam, U = lr_t·(‖z̄_T‖/‖r_T‖)·r per tensor T (trust ratio 1 when either norm is 0)
 * with m̂' = m'/(1−β₁ᵗ), v̂' = v'/(1−β₂ᵗ), moments stored in float32. SGD with μ = 0, wd = 0 and
 * lr = γ is plain MASHA up to the float32 rounding of the direction.
 */
import type { ParamLayout } from './albert/params.js';
import { learningRate, type OptimizerConfig } from './optim.js';

/** The optimizer part of a model method: null is plain MASHA with stepsize γ. */
export interface MashaOptimizer {
  readonly config: OptimizerConfig | null;
  readonly gamma: number;
  readonly tau: number;
  readonly layout: ParamLayout;
}

/** Optimizer state vectors a replica carries (float32, 4 bytes per parameter each). */
export function optimizerVectors(config: OptimizerConfig | null): readonly ('om' | 'ov')[] {
  if (config === null) return [];
  return config.name === 'sgd' ? ['om'] : ['om', 'ov'];
}

interface StepVectors {
  readonly z: Float32Array;
  readonly w: Float32Array;
  /** Direction d (F(w) for the extrapolation). */
  readonly d: Float32Array;
  /** Second direction term added to d (the decoded aggregate g), or null. */
  readonly d2: Float32Array | null;
  readonly om: Float32Array | null;
  readonly ov: Float32Array | null;
  readonly out: Float32Array;
}

/**
 * out ← z̄ − U_s(d [+ d2]; z̄) for iteration k (optimizer step t = k + 1). `commit`: write the new
 * moments into om/ov (the update); otherwise only read them (the extrapolation's peek). `out` may
 * be z (the update writes z^{k+1} in place: z̄ is read element by element before it is replaced).
 */
export function mashaStep(o: MashaOptimizer, k: number, v: StepVectors, commit: boolean): void {
  const { z, w, d, d2, om, ov, out } = v;
  const tau = o.tau;
  const c = o.config;
  const specs = o.layout.specs;
  if (c === null) {
    const g = o.gamma;
    const n = out.length;
    for (let i = 0; i < n; i++) {
      const zb = tau * z[i] + (1 - tau) * w[i];
      const di = d2 === null ? d[i] : d[i] + d2[i];
      out[i] = zb - g * di;
    }
    return;
  }
  const lr = learningRate(c, k);
  switch (c.name) {
    case 'sgd': {
      const mu = c.momentum;
      const m = om as Float32Array;
      for (const s of specs) {
        const wd = s.decay ? c.weightDecay : 0;
        const end = s.offset + s.size;
        for (let i = s.offset; i < end; i++) {
          const zb = tau * z[i] + (1 - tau) * w[i];
          const di = (d2 === null ? d[i] : d[i] + d2[i]) + wd * zb;
          const mi = Math.fround(mu * m[i] + di);
          if (commit) m[i] = mi;
          out[i] = zb - lr * mi;
        }
      }
      return;
    }
    case 'adam':
    case 'lamb': {
      const m = om as Float32Array;
      const vv = ov as Float32Array;
      const b1 = c.beta1;
      const b2 = c.beta2;
      const t = k + 1;
      const c1 = 1 / (1 - b1 ** t);
      const c2 = 1 / (1 - b2 ** t);
      const lamb = c.name === 'lamb';
      for (const s of specs) {
        const wd = s.decay ? c.weightDecay : 0;
        const end = s.offset + s.size;
        let scale = lr;
        if (lamb) {
          // Trust ratio ‖z̄_T‖/‖r_T‖ of the tensor, from the moments this step would have.
          let zn = 0;
          let rn = 0;
          for (let i = s.offset; i < end; i++) {
            const zb = tau * z[i] + (1 - tau) * w[i];
            const di = d2 === null ? d[i] : d[i] + d2[i];
            const mi = Math.fround(b1 * m[i] + (1 - b1) * di);
            const vi = Math.fround(b2 * vv[i] + (1 - b2) * di * di);
            const r = (mi * c1) / (Math.sqrt(vi * c2) + c.eps) + wd * zb;
            zn += zb * zb;
            rn += r * r;
          }
          scale = lr * (zn > 0 && rn > 0 ? Math.sqrt(zn) / Math.sqrt(rn) : 1);
        }
        for (let i = s.offset; i < end; i++) {
          const zb = tau * z[i] + (1 - tau) * w[i];
          const di = d2 === null ? d[i] : d[i] + d2[i];
          const mi = Math.fround(b1 * m[i] + (1 - b1) * di);
          const vi = Math.fround(b2 * vv[i] + (1 - b2) * di * di);
          if (commit) {
            m[i] = mi;
            vv[i] = vi;
          }
          out[i] = zb - scale * ((mi * c1) / (Math.sqrt(vi * c2) + c.eps) + wd * zb);
        }
      }
      return;
    }
    default: {
      const never: never = c.name;
      throw new RangeError(`unknown optimizer ${String(never)}`);
    }
  }
}

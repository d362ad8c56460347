/**
 * Per-example projected normalised ascent on the embedding perturbation ρ (FreeLB, Zhu et al.
 * 2020): ρ_n ← Π_{‖ρ_n‖ ≤ ε}(ρ_n + α·u_n/‖u_n‖) with u_n = ∂/∂ρ_n [ℓ̄ − (β/2)‖ρ‖²] = g_n − βρ_n,
 * restricted to the example's real tokens (padding stays 0). In-place on typed arrays.
 */
import type { Rng } from '../rng/xoshiro128.js';
import type { AdversarialConfig } from './task.js';

type F = Float32Array | Float64Array;

/** ρ⁰: zeros, or FreeLB's uniform start U(−1,1)·ε/√(len·E) on real tokens, projected. */
export function initPerturbation(rho: F, mask: F, batch: number, seqLen: number, embed: number, adv: AdversarialConfig, rng: Rng): void {
  rho.fill(0);
  if (adv.init === 'zero') return;
  for (let b = 0; b < batch; b++) {
    let len = 0;
    for (let s = 0; s < seqLen; s++) len += mask[b * seqLen + s] > 0 ? 1 : 0;
    if (len === 0) continue;
    const mag = adv.epsilon / Math.sqrt(len * embed);
    for (let s = 0; s < seqLen; s++) {
      if (!(mask[b * seqLen + s] > 0)) continue;
      const o = (b * seqLen + s) * embed;
      for (let e = 0; e < embed; e++) rho[o + e] = (rng.nextFloat() * 2 - 1) * mag;
    }
  }
  project(rho, batch, seqLen * embed, adv.epsilon);
}

/** One ascent step; `grad` is ∂ℓ̄/∂ρ from the graph. */
export function ascend(rho: F, grad: F, mask: F, batch: number, seqLen: number, embed: number, adv: AdversarialConfig): void {
  const row = seqLen * embed;
  for (let b = 0; b < batch; b++) {
    let nn = 0;
    for (let s = 0; s < seqLen; s++) {
      if (!(mask[b * seqLen + s] > 0)) continue;
      const o = b * row + s * embed;
      for (let e = 0; e < embed; e++) {
        const u = grad[o + e] - adv.beta * rho[o + e];
        nn += u * u;
      }
    }
    if (!(nn > 0) || !Number.isFinite(nn)) continue;
    const k = adv.stepSize / Math.sqrt(nn);
    for (let s = 0; s < seqLen; s++) {
      if (!(mask[b * seqLen + s] > 0)) continue;
      const o = b * row + s * embed;
      for (let e = 0; e < embed; e++) rho[o + e] += k * (grad[o + e] - adv.beta * rho[o + e]);
    }
  }
  project(rho, batch, row, adv.epsilon);
}

/** Projects each example's block of `row` values onto the ε-ball. */
export function project(rho: F, batch: number, row: number, epsilon: number): void {
  for (let b = 0; b < batch; b++) {
    let nn = 0;
    for (let i = b * row; i < (b + 1) * row; i++) nn += rho[i] * rho[i];
    const n = Math.sqrt(nn);
    if (n > epsilon) {
      const k = epsilon / n;
      for (let i = b * row; i < (b + 1) * row; i++) rho[i] *= k;
    }
  }
}

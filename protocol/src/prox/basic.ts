/**
 * Closed-form proximal operators (SPEC §1). Each is a pure function of (v, γ) writing into `out`,
 * which may alias `v`; O(d), no allocation.
 */
import type { Prox } from './types.js';
import { ValidationError } from '../errors.js';

function expectSameLength(v: Float64Array, out: Float64Array): void {
  if (v.length !== out.length) throw new ValidationError('out', `prox: output length ${out.length} differs from input length ${v.length}`);
}

/** h = 0: prox is the identity. */
export class IdentityProx implements Prox {
  readonly spec = 'identity';
  readonly strongConvexity = 0;
  apply(v: Float64Array, _gamma: number, out: Float64Array): Float64Array {
    expectSameLength(v, out);
    if (out !== v) out.set(v);
    return out;
  }
}

/** h = indicator of the Euclidean ball ‖u‖ ≤ r (centre 0): radial projection. */
export class BallProx implements Prox {
  readonly spec: string;
  readonly strongConvexity = 0;
  constructor(readonly radius: number) {
    if (!(radius >= 0 && Number.isFinite(radius))) throw new ValidationError('r', `ball radius must be finite and ≥ 0, got ${radius}`);
    this.spec = `ball:r=${radius}`;
  }
  apply(v: Float64Array, _gamma: number, out: Float64Array): Float64Array {
    expectSameLength(v, out);
    const n = v.length;
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i] * v[i];
    const nv = Math.sqrt(s);
    const f = nv > this.radius ? this.radius / nv : 1;
    for (let i = 0; i < n; i++) out[i] = f * v[i];
    return out;
  }
}

/** h = indicator of the box [lo, hi]^d: coordinatewise clamp. */
export class BoxProx implements Prox {
  readonly spec: string;
  readonly strongConvexity = 0;
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) throw new ValidationError('lo', `box needs finite lo ≤ hi, got [${lo}, ${hi}]`);
    this.spec = `box:lo=${lo},hi=${hi}`;
  }
  apply(v: Float64Array, _gamma: number, out: Float64Array): Float64Array {
    expectSameLength(v, out);
    const { lo, hi } = this;
    const n = v.length;
    for (let i = 0; i < n; i++) {
      const t = v[i];
      out[i] = t < lo ? lo : t > hi ? hi : t;
    }
    return out;
  }
}

/** h = λ‖u‖₁: soft-thresholding at γλ. */
export class L1Prox implements Prox {
  readonly spec: string;
  readonly strongConvexity = 0;
  constructor(readonly lambda: number) {
    if (!(lambda >= 0 && Number.isFinite(lambda))) throw new ValidationError('lambda', `l1 weight must be finite and ≥ 0, got ${lambda}`);
    this.spec = `l1:lambda=${lambda}`;
  }
  apply(v: Float64Array, gamma: number, out: Float64Array): Float64Array {
    expectSameLength(v, out);
    const t = gamma * this.lambda;
    const n = v.length;
    for (let i = 0; i < n; i++) {
      const x = v[i];
      out[i] = x > t ? x - t : x < -t ? x + t : 0;
    }
    return out;
  }
}

/** h = (μ/2)‖u‖²: prox is the shrink v/(1 + γμ); μ-strongly convex (μ_h = μ in the theory). */
export class SquaredNormProx implements Prox {
  readonly spec: string;
  readonly strongConvexity: number;
  constructor(readonly mu: number) {
    if (!(mu >= 0 && Number.isFinite(mu))) throw new ValidationError('mu', `l2 weight must be finite and ≥ 0, got ${mu}`);
    this.spec = `l2:mu=${mu}`;
    this.strongConvexity = mu;
  }
  apply(v: Float64Array, gamma: number, out: Float64Array): Float64Array {
    expectSameLength(v, out);
    const f = 1 / (1 + gamma * this.mu);
    const n = v.length;
    for (let i = 0; i < n; i++) out[i] = f * v[i];
    return out;
  }
}

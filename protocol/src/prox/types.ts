/**
 * Proximal operator of a proper closed convex h (SPEC §1): prox_{γh}(v) = argmin_u h(u) + ‖u − v‖²/(2γ).
 * Pure: writes into `out` (which may alias `v`) and returns it.
 */
export interface Prox {
  /** e.g. `identity`, `ball:r=1`, `box:lo=-1,hi=1`, `simplex`, `l1:lambda=0.1`. */
  readonly spec: string;
  /** Strong-convexity modulus μ_h of h (0 for indicators and L1). */
  readonly strongConvexity: number;
  apply(v: Float64Array, gamma: number, out: Float64Array): Float64Array;
}

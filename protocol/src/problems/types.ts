/**
 * A distributed operator problem (SPEC §1): F(z) = (1/M) Σ_m F_m(z), each F_m optionally a finite
 * sum (1/r) Σ_i F_{m,i}. Saddle-point problems expose F = (∇_x f, −∇_y f); minimisation problems
 * expose F = ∇f and an objective.
 */
export interface Problem {
  readonly kind: string;
  /** Dimension of z. */
  readonly dim: number;
  /** Number of operators / shards M. */
  readonly shards: number;
  /** Finite-sum size r of each F_m (1 when there is no finite sum). */
  readonly samples: number;
  /** out ← F_m(z). */
  operator(m: number, z: Float64Array, out: Float64Array): void;
  /** out ← F_{m,i}(z), i in [0, samples). */
  sampleOperator(m: number, i: number, z: Float64Array, out: Float64Array): void;
  /** Lipschitz constant L_m of F_m (in mean, for finite sums). */
  lipschitz(m: number): number;
  /** Strong-monotonicity constant μ_F of F (0 when merely monotone). */
  readonly strongMonotonicity: number;
  /** The solution z* when known in closed form (unconstrained), else null. */
  solution(): Float64Array | null;
  /** Default starting point z⁰. */
  initialPoint(): Float64Array;
  /** Objective value for minimisation problems. */
  objective?(z: Float64Array): number;
}

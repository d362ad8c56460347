import type { Compressor, Payload } from '../compress/types.js';
import type { Vec } from '../vec/kernels.js';

export type { Vec };

/**
 * Methods are split into device logic and server logic so that the single-process reference
 * runner, the simulator and the real network all drive the *same* functions.
 *
 * One iteration k is a short sequence of *phases*. Each phase is one exchange:
 *   1. every shard holder computes an uplink payload in two steps around the operator
 *      evaluations, which are an effect the caller carries out (synchronously from the problem, or
 *      later: ONNX Runtime, a worker): `planUplink` says which evaluations F_m(x) / F_{m,i}(x) the
 *      step needs, the caller writes their values, and `finishUplink` turns them into the payload
 *      (pure: it returns the shard's would-be new memory instead of mutating it). The replica must
 *      not change between the two calls (the engine drops an evaluation whose base state moved on),
 *   2. the aggregator adds what arrived into a sum (`accumulateUplink`, in ascending shard order),
 *      turns it into a `Downlink` with `serverAggregate` and broadcasts it,
 *   3. every peer applies the downlink to its replica with `deviceApply`, which returns the next
 *      phase of the iteration or null when the iteration is complete; shard memories returned in
 *      step 1 are adopted only for shards listed in `downlink.included`.
 *
 * The replica (z, w, F(w), …) is identical on every peer after every applied downlink, which is
 * what lets any peer become the aggregator and lets joiners copy it from anyone.
 */

export type MethodName = 'masha1' | 'masha2' | 'eg' | 'qeg' | 'qgda' | 'ef-gda' | 'marina';

/** Every phase any method has (a method accepts its own and refuses the others). */
export const PHASE_NAMES = ['init', 'diff', 'refresh', 'full', 'extra1', 'extra2', 'step'] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export function isPhaseName(name: string): name is PhaseName {
  return (PHASE_NAMES as readonly string[]).includes(name);
}

/**
 * State replicated on every peer. All vectors are named so that it can be serialised generically.
 * Synthetic problems use float64 vectors; model methods float32 (`V`).
 */
export interface ReplicaState<V extends Vec = Float64Array> {
  /** Completed iterations. */
  iteration: number;
  /** False until the initial full exchange (e.g. F(w⁰)) has been applied. */
  initialized: boolean;
  /** Named dense vectors (z, w, Fw, x, g, …), all of length `dim` unless the method says otherwise. */
  readonly vectors: Record<string, V>;
}

/** Per-shard memory held by the shard's current holder (e.g. F_m(w), error-feedback memory e_m). */
export interface ShardState<V extends Vec = Float64Array> {
  readonly vectors: Record<string, V>;
}

/** Aggregator-only memory (e.g. MASHA2's server error e). Reset when the aggregator changes. */
export interface ServerState<V extends Vec = Float64Array> {
  readonly vectors: Record<string, V>;
}

/**
 * One operator evaluation a device step needs: F_m(point) when `sample` is null, else the
 * finite-sum term (minibatch) F_{m,sample}(point), written into `value`. Both buffers belong to
 * the shard's work state (`initWork`) and stay untouched until the step finishes.
 */
export interface Evaluation<V extends Vec = Float64Array> {
  readonly sample: number | null;
  /** The point (a work buffer; model methods may name a replica vector, read only). */
  readonly point: V;
  readonly value: V;
  /** value −= F(point) instead of value ← F(point) (after the request's earlier evaluations). */
  readonly subtract?: boolean;
}

/** Per-holder buffers of a shard's device step: evaluation points and values (never replicated or sent). */
export interface ShardWork<V extends Vec = Float64Array> {
  readonly vectors: Record<string, V>;
}

export interface UplinkResult<V extends Vec = Float64Array> {
  readonly payload: Payload;
  /** Shard memory to adopt if the commit includes this shard; null when unchanged. */
  readonly shard: ShardState<V> | null;
}

/**
 * The server's sum of one round's uplinks: sum = (1/M) Σ decompress(payload_m) over `included`
 * (ascending), added in ascending shard order (`accumulateUplink`).
 */
export interface UplinkSum {
  readonly sum: Float64Array;
  readonly included: readonly number[];
}

export interface ShardUplink {
  readonly shard: number;
  readonly payload: Payload;
}

export interface Downlink {
  /** Broadcast vector (possibly compressed by the server compressor); null when none. */
  readonly payload: Payload | null;
  /** Small integer flags broadcast with the commit: bit 0 = b_k / c_k (refresh). */
  readonly flags: number;
  /** Shards whose uplinks were aggregated, ascending. */
  readonly included: readonly number[];
}

export const FLAG_REFRESH = 1;

export interface PhaseInfo {
  /** Compressor that decodes this phase's uplink payloads. */
  readonly uplink: Compressor;
  /** Compressor that decodes this phase's downlink payload. */
  readonly downlink: Compressor;
  /** True when every shard must answer (full exchanges such as F(w) refreshes). */
  readonly requiresAll: boolean;
  /** Bits of the downlink besides the payload (e.g. 1 for b_k). */
  readonly flagBits: number;
}

export interface AggregateOptions {
  /** Force the refresh flag (a shard changed holder: F(w) must come from the current holders). */
  readonly forceRefresh: boolean;
}

/**
 * What an honest uplink of a phase is, for the aggregator's bounds and audits (engine/guard.ts):
 * the same for every shard of a round. `scale` multiplies the compressed vector (MASHA2-style γ),
 * `sampled` says F_{m,π} (a finite-sum term) instead of F_m.
 *  - difference: C(F_m(x₀) − F_m(x₁)) with ‖x₀ − x₁‖ = distance, max(‖x₀‖, ‖x₁‖) = pointNorm;
 *  - value: C(F_m(x)) with ‖x‖ = norm;
 *  - opaque: depends on the holder's own memory (error feedback, telescoped differences): it can
 *    be neither bounded from the replica nor recomputed by another holder.
 * `codec` is the compressor of the payload (its `maxGain`).
 */
export type UplinkShape =
  | {
      readonly kind: 'difference';
      readonly distance: number;
      readonly pointNorm: number;
      readonly sampled: boolean;
      readonly scale: number;
    }
  | { readonly kind: 'value'; readonly norm: number; readonly sampled: boolean; readonly scale: number }
  | { readonly kind: 'opaque' };

/**
 * A method over vectors of type V (float64 for synthetic problems, float32 for models). The
 * engine drives any method as a `MethodInstance<Vec>`.
 */
export interface MethodInstance<V extends Vec = Float64Array> {
  readonly name: MethodName;
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  readonly tau: number;
  initReplica(z0: V): ReplicaState<V>;
  initShard(m: number): ShardState<V>;
  initServer(): ServerState<V>;
  /** Phase that opens the next iteration (an init phase while `!replica.initialized`). */
  startPhase(replica: ReplicaState<V>): PhaseName;
  phase(name: PhaseName): PhaseInfo;
  /** Evaluation buffers of a holder of shard m. */
  initWork(m: number): ShardWork<V>;
  /** The operator evaluations the device step of shard m in `phase` needs (points written into `work`). */
  planUplink(replica: ReplicaState<V>, shard: ShardState<V>, work: ShardWork<V>, m: number, phase: PhaseName): readonly Evaluation<V>[];
  /** The device step of shard m once the planned evaluations' values are in `work`. */
  finishUplink(replica: ReplicaState<V>, shard: ShardState<V>, work: ShardWork<V>, m: number, phase: PhaseName): UplinkResult<V>;
  /** sum += (1/M)·decompress(shard m's uplink payload of `phase`). Throws on a payload of the wrong shape. */
  accumulateUplink(replica: ReplicaState<V>, phase: PhaseName, m: number, payload: Payload, sum: Float64Array): void;
  /** The server step from the sum of the uplinks. Mutates `server` (and may overwrite `uplinks.sum`); must not mutate the replica. */
  serverAggregate(server: ServerState<V>, replica: ReplicaState<V>, phase: PhaseName, uplinks: UplinkSum, options: AggregateOptions): Downlink;
  /** Mutates `replica`; returns the next phase, or null when the iteration is complete. */
  deviceApply(replica: ReplicaState<V>, phase: PhaseName, downlink: Downlink): PhaseName | null;
  /** The current iterate to report (z for VIs, x for minimisation). */
  iterate(replica: ReplicaState<V>): V;
  /**
   * Optional: what every shard's honest uplink of `phase` is on `replica` (the round's base
   * state). Without it no Lipschitz bound applies and no answer is audited.
   */
  uplinkShape?(replica: ReplicaState<V>, phase: PhaseName): UplinkShape;
}

/** Any method, as the engine drives it. */
export type AnyMethod = MethodInstance<Vec>;

/**
 * What MASHA1 and MASHA2 share (SPEC §3.1–3.2): the replica (z, w, F(w)), the initial and refresh
 * full exchanges of F_m(w), the extrapolation point z^{k+½}, and the shard cache of F_m(w).
 *
 * Phases of one iteration k:
 *   'init'    (once, before iteration 0): every device sends F_m(w⁰) uncompressed; the server
 *             broadcasts F(w⁰). requiresAll.
 *   'diff'    every device sends a compressed difference; the server broadcasts its aggregate and
 *             the bit b_k (flag bit 0). Devices compute z^{k+1}; if b_k = 1 they set w^{k+1} = z^{k+1}
 *             and continue with 'refresh', else the iteration ends. Missing shards are allowed.
 *   'refresh' every device sends F_m(w^{k+1}) uncompressed; the server broadcasts F(w^{k+1}).
 *             requiresAll.
 *
 * Replica vectors: z, w, Fw (= F(w) as broadcast), wStamp (length 1: the iteration at which w was
 * last set, 0 for w⁰). Shard vectors: Fw (F_m(w) computed at `stamp`), stamp (length 1),
 * FwSpare (a second buffer so that uplinks can return new shard memory without allocating).
 * A shard whose stamp does not match the replica's wStamp (a new holder, a holder that missed a
 * refresh) recomputes F_m(w) from the replica's w, which is the same value.
 */
import type { Compressor, Payload } from '../compress/types.js';
import type { PhaseName } from './types.js';
import { ValidationError } from '../errors.js';
import type { Problem } from '../problems/types.js';
import type { Prox } from '../prox/types.js';
import { IdentityProx } from '../prox/basic.js';
import { twoEvaluationWork } from './evaluate.js';
import type {
  AggregateOptions,
  Downlink,
  Evaluation,
  MethodInstance,
  MethodName,
  PhaseInfo,
  ReplicaState,
  ServerState,
  ShardState,
  UplinkSum,
  ShardWork,
  UplinkResult,
  UplinkShape,
} from './types.js';
import { norm } from '../vec/kernels.js';
import { FLAG_REFRESH } from './types.js';
import {
  accumulateUplink,
  broadcast,
  Contexts,
  expectAll,
  FULL,
  type MethodConfig,
  phaseInfo,
  PURPOSE,
  receive,
  unknownPhase,
  validateCommon,
  vector,
} from './common.js';

/**
 * Default τ (seed Corollaries 1–2): 1 − β deterministic, 1 − min(1/r, β) stochastic, β the device
 * density; clamped at 0 when a compressor is no cheaper than the dense vector (β ≥ 1).
 */
export function defaultTau(device: Compressor, problem: Problem, stochastic: boolean): number {
  const beta = device.constants(problem.dim, problem.shards).beta;
  if (!(beta > 0 && Number.isFinite(beta))) {
    throw new ValidationError('tau', `cannot derive τ from the density β = ${beta} of '${device.spec}'; give τ explicitly`);
  }
  const keep = Math.min(1, stochastic ? Math.min(1 / problem.samples, beta) : beta);
  return 1 - keep;
}

export abstract class MashaBase implements MethodInstance {
  abstract readonly name: MethodName;
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  readonly tau: number;
  readonly problem: Problem;
  readonly prox: Prox;
  readonly device: Compressor;
  readonly server: Compressor;
  readonly stochastic: boolean;
  protected readonly ctx: Contexts;
  // Work vectors (instance-local scratch; never handed out).
  protected readonly zbar: Float64Array;
  protected readonly t1: Float64Array;
  protected readonly t2: Float64Array;
  protected readonly g: Float64Array;
  private readonly phases: Record<string, PhaseInfo>;

  constructor(label: string, config: MethodConfig) {
    validateCommon(label, config);
    this.problem = config.problem;
    this.dim = config.problem.dim;
    this.shards = config.problem.shards;
    this.gamma = config.gamma;
    this.device = config.device;
    this.server = config.server ?? FULL;
    this.prox = config.prox ?? new IdentityProx();
    this.stochastic = config.stochastic ?? false;
    this.tau = config.tau ?? defaultTau(this.device, this.problem, this.stochastic);
    this.ctx = new Contexts(config.seed, this.shards);
    const n = this.dim;
    this.zbar = new Float64Array(n);
    this.t1 = new Float64Array(n);
    this.t2 = new Float64Array(n);
    this.g = new Float64Array(n);
    this.phases = {
      init: phaseInfo(FULL, FULL, true),
      diff: phaseInfo(this.device, this.server, false, 1),
      refresh: phaseInfo(FULL, FULL, true),
    };
  }

  initReplica(z0: Float64Array): ReplicaState {
    if (z0.length !== this.dim) throw new ValidationError('z0', `expected length ${this.dim}, got ${z0.length}`);
    return {
      iteration: 0,
      initialized: false,
      vectors: { z: z0.slice(), w: z0.slice(), Fw: new Float64Array(this.dim), wStamp: new Float64Array(1) },
    };
  }

  initShard(_m: number): ShardState {
    return { vectors: { Fw: new Float64Array(this.dim), FwSpare: new Float64Array(this.dim), stamp: Float64Array.of(-1) } };
  }

  initServer(): ServerState {
    return { vectors: {} };
  }

  startPhase(replica: ReplicaState): PhaseName {
    return replica.initialized ? 'diff' : 'init';
  }

  phase(name: PhaseName): PhaseInfo {
    const p = this.phases[name];
    if (!p) unknownPhase(this.name, name);
    return p;
  }

  iterate(replica: ReplicaState): Float64Array {
    return vector(replica, 'z');
  }

  /** init/refresh: F_m(w), uncompressed. diff: the method's (MASHA1 a difference, MASHA2 opaque). */
  uplinkShape(replica: ReplicaState, phase: PhaseName): UplinkShape {
    switch (phase) {
      case 'init':
      case 'refresh':
        return { kind: 'value', norm: norm(vector(replica, 'w')), sampled: false, scale: 1 };
      case 'diff':
        return this.diffShape(replica);
      default:
        unknownPhase(this.name, phase);
    }
  }

  /** The shape of a 'diff' uplink on `replica`. */
  protected abstract diffShape(replica: ReplicaState): UplinkShape;

  /** ‖z^{k+½} − w^k‖ and max(‖z^{k+½}‖, ‖w^k‖) (into a scratch buffer of its own). */
  protected halfStepGeometry(replica: ReplicaState): { distance: number; pointNorm: number } {
    const zh = this.zHalf(replica, (this.shapeBuf ??= new Float64Array(this.dim)));
    const w = vector(replica, 'w');
    let d2 = 0;
    for (let i = 0; i < zh.length; i++) {
      const t = zh[i] - w[i];
      d2 += t * t;
    }
    return { distance: Math.sqrt(d2), pointNorm: Math.max(norm(zh), norm(w)) };
  }
  private shapeBuf: Float64Array | null = null;

  /** out ← z̄^k = τz^k + (1−τ)w^k. */
  protected zBar(replica: ReplicaState, out: Float64Array): Float64Array {
    const z = vector(replica, 'z');
    const w = vector(replica, 'w');
    const tau = this.tau;
    const n = this.dim;
    for (let i = 0; i < n; i++) out[i] = tau * z[i] + (1 - tau) * w[i];
    return out;
  }

  /** zbar ← z̄^k and out ← z^{k+½} = prox_{γh}(z̄^k − γF(w^k)). */
  protected zHalf(replica: ReplicaState, out: Float64Array): Float64Array {
    const zb = this.zBar(replica, this.zbar);
    const Fw = vector(replica, 'Fw');
    const gamma = this.gamma;
    const n = this.dim;
    for (let i = 0; i < n; i++) out[i] = zb[i] - gamma * Fw[i];
    return this.prox.apply(out, gamma, out);
  }

  initWork(_m: number): ShardWork {
    return twoEvaluationWork(this.dim);
  }

  /** True when the shard's cached F_m(w) is the one of the replica's current w. */
  private fwCached(replica: ReplicaState, shard: ShardState): boolean {
    return vector(shard, 'stamp')[0] === vector(replica, 'wStamp')[0];
  }

  /**
   * Evaluations of shard m's step. init/refresh: F_m(w) (x0 → v0). diff: F_m(z^{k+½}) (x0 → v0) and,
   * when the shard's cached F_m(w) is stale (a new holder, a holder that missed a refresh), F_m(w)
   * (x1 → v1); stochastic: the sampled F_{m,π} at both points.
   */
  planUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number, phase: PhaseName): readonly Evaluation[] {
    this.checkShard(m);
    const x0 = vector(work, 'x0');
    const v0 = vector(work, 'v0');
    switch (phase) {
      case 'init':
      case 'refresh':
        x0.set(vector(replica, 'w'));
        return [{ sample: null, point: x0, value: v0 }];
      case 'diff': {
        this.zHalf(replica, x0);
        const x1 = vector(work, 'x1');
        const v1 = vector(work, 'v1');
        if (this.stochastic) {
          const pi = this.ctx.sample(replica.iteration, m, this.problem.samples);
          x1.set(vector(replica, 'w'));
          return [
            { sample: pi, point: x0, value: v0 },
            { sample: pi, point: x1, value: v1 },
          ];
        }
        if (this.fwCached(replica, shard)) return [{ sample: null, point: x0, value: v0 }];
        x1.set(vector(replica, 'w'));
        return [
          { sample: null, point: x0, value: v0 },
          { sample: null, point: x1, value: v1 },
        ];
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  /**
   * out ← the uncompressed difference D_m = F_m(z^{k+½}) − F_m(w^k) (or its sampled F_{m,π}
   * version) from the planned evaluations; returns the shard memory to adopt when F_m(w) was
   * recomputed (into the spare buffer), else null.
   */
  protected difference(replica: ReplicaState, shard: ShardState, work: ShardWork, out: Float64Array): ShardState | null {
    const n = this.dim;
    const v0 = vector(work, 'v0');
    if (this.stochastic) {
      const v1 = vector(work, 'v1');
      for (let i = 0; i < n; i++) out[i] = v0[i] - v1[i];
      return null;
    }
    let Fw = vector(shard, 'Fw');
    let updated: ShardState | null = null;
    if (!this.fwCached(replica, shard)) {
      Fw = vector(shard, 'FwSpare');
      Fw.set(vector(work, 'v1'));
      updated = { vectors: { ...shard.vectors, Fw, FwSpare: vector(shard, 'Fw'), stamp: Float64Array.of(vector(replica, 'wStamp')[0]) } };
    }
    for (let i = 0; i < n; i++) out[i] = v0[i] - Fw[i];
    return updated;
  }

  finishUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number, phase: PhaseName): UplinkResult {
    this.checkShard(m);
    switch (phase) {
      case 'init':
      case 'refresh': {
        // Full F_m(w): into the spare buffer, which becomes the shard's cached F_m(w) on commit.
        const spare = vector(shard, 'FwSpare');
        spare.set(vector(work, 'v0'));
        const payload = FULL.compress(spare, this.ctx.sender(replica.iteration, PURPOSE.up(phase), m));
        const stamp = Float64Array.of(vector(replica, 'wStamp')[0]);
        return { payload, shard: { vectors: { ...shard.vectors, Fw: spare, FwSpare: vector(shard, 'Fw'), stamp } } };
      }
      case 'diff':
        return this.diffUplink(replica, shard, work, m);
      default:
        unknownPhase(this.name, phase);
    }
  }

  accumulateUplink(replica: ReplicaState, phase: PhaseName, m: number, payload: Payload, sum: Float64Array): void {
    accumulateUplink(this.ctx, this.phase(phase).uplink, replica.iteration, phase, m, payload, sum);
  }

  serverAggregate(server: ServerState, replica: ReplicaState, phase: PhaseName, uplinks: UplinkSum, options: AggregateOptions): Downlink {
    const k = replica.iteration;
    switch (phase) {
      case 'init':
      case 'refresh': {
        const { sum, included } = uplinks;
        expectAll(this.name, phase, included, this.shards);
        return { payload: broadcast(this.ctx, FULL, k, phase, sum), flags: 0, included };
      }
      case 'diff': {
        const { sum, included } = uplinks;
        const payload = this.diffBroadcast(server, k, sum);
        const refresh = options.forceRefresh || this.ctx.coin(k, 1 - this.tau);
        return { payload, flags: refresh ? FLAG_REFRESH : 0, included };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  deviceApply(replica: ReplicaState, phase: PhaseName, downlink: Downlink): PhaseName | null {
    const k = replica.iteration;
    switch (phase) {
      case 'init':
      case 'refresh': {
        receive(this.ctx, FULL, k, phase, downlink, vector(replica, 'Fw'));
        if (phase === 'init') replica.initialized = true;
        else replica.iteration = k + 1;
        return null;
      }
      case 'diff': {
        if (!replica.initialized) throw new ValidationError('phase', `${this.name}: 'diff' before 'init'`);
        this.zBar(replica, this.zbar);
        receive(this.ctx, this.server, k, phase, downlink, this.g);
        const z = vector(replica, 'z');
        this.diffStep(replica, this.zbar, this.g, z);
        if (downlink.flags & FLAG_REFRESH) {
          vector(replica, 'w').set(z);
          vector(replica, 'wStamp')[0] = k + 1;
          return 'refresh';
        }
        replica.iteration = k + 1;
        return null;
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  private checkShard(m: number): void {
    if (!Number.isSafeInteger(m) || m < 0 || m >= this.shards) throw new ValidationError('shard', `${this.name}: no shard ${m}`);
  }

  /** Device side of 'diff', once F_m(z^{k+½}) (and F_m(w) where needed) are in `work`. */
  protected abstract diffUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number): UplinkResult;
  /** Server side of 'diff': turns the average of the received messages into the broadcast payload. */
  protected abstract diffBroadcast(server: ServerState, round: number, mean: Float64Array): Downlink['payload'];
  /** z ← z^{k+1} from z̄^k and the decoded broadcast g (z may be overwritten; z̄ is scratch). */
  protected abstract diffStep(replica: ReplicaState, zbar: Float64Array, g: Float64Array, z: Float64Array): void;
}

/**
 * MASHA1 / MASHA2 for model runs (seed §5.2): the methods of methods/masha1.ts and masha2.ts over
 * the w-part of the adversarial operator, in stochastic mode, with float32 replicas, per-tensor
 * compression, and an optimizer inside the step (see masha-optim.ts for how it composes with the
 * reference point and the extrapolation).
 *
 * Phases as MASHA (masha-base.ts): 'init' (every shard sends F̃_m(w⁰) as float32, the server
 * broadcasts their mean), then per iteration k a compressed 'diff' round and, when the shared coin
 * b_k = 1 (probability 1 − τ), a full 'refresh' round of F̃_m(w^{k+1}).
 *
 * Minibatches come from the run's shared seed: the evaluation of shard m with sample index s is the
 * operator on minibatch s of shard m (a keyed stream of (task seed, s, shard)), and
 *   diff of iteration k:       s = 2k + 1  at z^{k+½} and at w^k   (the same minibatch at both)
 *   refresh after iteration k: s = 2(k + 1) at w^{k+1};  init: s = 0 at w⁰
 * so F̃(w) is a minibatch estimate of F(w) (an M-shard batch), fixed until the next refresh, and
 * every holder of a shard computes the same values.
 *
 * Device step of 'diff': D_m = F_{m,s}(z^{k+½}) − F_{m,s}(w^k) (one buffer: the second evaluation
 * is subtracted in place).
 *   MASHA1: send Q(D_m)                       (unbiased compressors)
 *   MASHA2: p_m = D_m + e_m; send C(p_m); e_m ← p_m − C(p_m)
 *           — error feedback in gradient units, the learning rate and momentum applied after
 *           aggregation: the modified formulation of Vogels et al. (2019, Alg. 2), which the seed
 *           uses for PowerSGD. With a constant stepsize and a positively homogeneous compressor it
 *           is seed MASHA2 with its errors divided by γ.
 * Server: g = (1/M) Σ received (float32 on the wire: the server compressor is identity); then every
 * peer sets ĝ = F̃(w) + g and z^{k+1} = z̄ − U_s(ĝ).
 *
 * Memory (float32, 4 bytes per parameter each): replica z, w, F̃(w), optimizer moments (0–2); a
 * MASHA2 shard memory e_m (and the engine's spare copy of it); evaluation buffers z^{k+½} and D_m
 * (the F(w) evaluation reads the replica's w); one decode buffer for the broadcast.
 */
import type { Compressor, Payload } from '../compress/types.js';
import { ValidationError } from '../errors.js';
import { SERVER, type Streams } from '../rng/streams.js';
import { accumulateUplink, Contexts, expectAll, FULL, phaseInfo, PURPOSE, receive, unknownPhase } from '../methods/common.js';
import type {
  AggregateOptions,
  Downlink,
  Evaluation,
  MethodInstance,
  PhaseInfo,
  PhaseName,
  ReplicaState,
  ServerState,
  ShardState,
  ShardWork,
  UplinkResult,
  UplinkShape,
  UplinkSum,
} from '../methods/types.js';
import { FLAG_REFRESH } from '../methods/types.js';
import type { ParamLayout } from './albert/params.js';
import { mashaStep, optimizerVectors, type MashaOptimizer } from './masha-optim.js';
import type { OptimizerConfig } from './optim.js';

export type ModelMethodVariant = 'masha1' | 'masha2';

export interface ModelMethodConfig {
  readonly variant: ModelMethodVariant;
  readonly layout: ParamLayout;
  readonly shards: number;
  /** Run seed (coins, compressor randomness). */
  readonly seed: number;
  /** Stepsize of plain MASHA (optimizer null); ignored otherwise. */
  readonly gamma: number;
  /** τ ∈ [0, 1): refresh probability 1 − τ per iteration. */
  readonly tau: number;
  /** Device compressor (per tensor, over the layout). */
  readonly device: Compressor;
  /**
   * Server compressor of the 'diff' broadcast (default identity: float32). Compressed, MASHA2
   * keeps the server's error e (seed MASHA2 step 2, in gradient units): p = mean + e, broadcast
   * C(p), e ← p − C(p); e is the aggregator's and starts at 0 with each new aggregator.
   */
  readonly server?: Compressor;
  readonly optimizer: OptimizerConfig | null;
}

type F32 = Float32Array;

/** Sample index of the evaluations of a phase (see the module doc). */
export function modelSample(phase: PhaseName, iteration: number): number {
  switch (phase) {
    case 'init':
      return 0;
    case 'diff':
      return 2 * iteration + 1;
    case 'refresh':
      return 2 * (iteration + 1);
    default:
      throw new ValidationError('phase', `model methods have no phase '${phase}'`);
  }
}

export class ModelMethod implements MethodInstance<F32> {
  readonly name: ModelMethodVariant;
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  readonly tau: number;
  readonly device: Compressor;
  readonly server: Compressor;
  readonly optimizer: MashaOptimizer;
  private readonly ctx: Contexts;
  private readonly phases: Record<'init' | 'diff' | 'refresh', PhaseInfo>;
  private readonly moments: readonly ('om' | 'ov')[];
  /** Decode buffer of the broadcast (scratch). */
  private readonly g: F32;
  /** z^{k+½} for `uplinkShape` (the aggregator's; allocated on first use). */
  private shapeBuf: F32 | null = null;

  constructor(config: ModelMethodConfig) {
    const { layout, shards, seed, gamma, tau, device, variant } = config;
    if (!(shards >= 1 && Number.isSafeInteger(shards))) throw new ValidationError('shards', `must be a positive integer, got ${shards}`);
    if (!(gamma > 0 && Number.isFinite(gamma))) throw new ValidationError('gamma', `must be finite and > 0, got ${gamma}`);
    if (!(tau >= 0 && tau < 1)) throw new ValidationError('tau', `τ must be in [0, 1), got ${tau}`);
    const server = config.server ?? FULL;
    for (const [field, c] of [
      ['compressors.device', device],
      ['compressors.server', server],
    ] as const) {
      if (variant === 'masha1' && c.kind !== 'unbiased') {
        throw new ValidationError(field, `masha1 needs an unbiased compressor, '${c.spec}' is ${c.kind} (use masha2: error feedback)`);
      }
    }
    this.server = server;
    this.name = variant;
    this.dim = layout.size;
    this.shards = shards;
    this.gamma = gamma;
    this.tau = tau;
    this.device = device;
    this.optimizer = { config: config.optimizer, gamma, tau, layout };
    this.moments = optimizerVectors(config.optimizer);
    this.ctx = new Contexts(seed, shards);
    this.g = new Float32Array(this.dim);
    this.phases = {
      init: phaseInfo(FULL, FULL, true),
      diff: phaseInfo(device, server, false, 1),
      refresh: phaseInfo(FULL, FULL, true),
    };
  }

  initReplica(w0: F32): ReplicaState<F32> {
    if (w0.length !== this.dim) throw new ValidationError('z0', `expected ${this.dim} parameters, got ${w0.length}`);
    const vectors: Record<string, F32> = { z: w0.slice(), w: w0.slice(), Fw: new Float32Array(this.dim), wStamp: new Float32Array(1) };
    for (const name of this.moments) vectors[name] = new Float32Array(this.dim);
    return { iteration: 0, initialized: false, vectors };
  }

  initShard(_m: number): ShardState<F32> {
    return { vectors: this.name === 'masha2' ? { e: new Float32Array(this.dim) } : {} };
  }

  initServer(): ServerState<F32> {
    return { vectors: this.name === 'masha2' && this.server !== FULL ? { e: new Float32Array(this.dim) } : {} };
  }

  startPhase(replica: ReplicaState<F32>): PhaseName {
    return replica.initialized ? 'diff' : 'init';
  }

  phase(name: PhaseName): PhaseInfo {
    if (name === 'init' || name === 'diff' || name === 'refresh') return this.phases[name];
    unknownPhase(this.name, name);
  }

  iterate(replica: ReplicaState<F32>): F32 {
    return vec(replica, 'z');
  }

  initWork(_m: number): ShardWork<F32> {
    return { vectors: { x0: new Float32Array(this.dim), v0: new Float32Array(this.dim) } };
  }

  /** The run's keyed streams (compressor randomness, coins). */
  get streams(): Streams {
    return this.ctx.streams;
  }

  private check(m: number): void {
    if (!Number.isSafeInteger(m) || m < 0 || m >= this.shards) throw new ValidationError('shard', `${this.name}: no shard ${m}`);
  }

  /** z^{k+½} = z̄ − U_s(F̃(w); z̄), the optimizer's peek (the state is not changed). */
  extrapolate(replica: ReplicaState<F32>, out: F32): F32 {
    const v = replica.vectors;
    mashaStep(this.optimizer, replica.iteration, { z: v.z, w: v.w, d: v.Fw, d2: null, om: v.om ?? null, ov: v.ov ?? null, out }, false);
    return out;
  }

  /**
   * What an honest answer of `phase` is (engine/guard.ts: a model has no L_m, so this feeds the
   * running bounds, which judge a difference per unit of ‖x₀ − x₁‖, and says what can be audited):
   *   init/refresh: the value F̃_{m,s}(w) (a minibatch estimate, float32);
   *   diff, MASHA1: the compressed difference Q(F_{m,s}(z^{k+½}) − F_{m,s}(w^k)) over the w-part,
   *     with distance ‖z^{k+½} − w^k‖ (z^{k+½} the optimizer's peek, as `planUplink` computes it);
   *   diff, MASHA2: opaque — C(D_m + e_m) depends on the holder's error-feedback memory e_m.
   */
  uplinkShape(replica: ReplicaState<F32>, phase: PhaseName): UplinkShape {
    switch (phase) {
      case 'init':
      case 'refresh':
        return { kind: 'value', norm: norm32(vec(replica, 'w')), sampled: true, scale: 1 };
      case 'diff': {
        if (this.name === 'masha2' || !replica.initialized) return { kind: 'opaque' };
        const zh = this.extrapolate(replica, (this.shapeBuf ??= new Float32Array(this.dim)));
        const w = vec(replica, 'w');
        let d2 = 0;
        for (let i = 0; i < zh.length; i++) {
          const t = zh[i] - w[i];
          d2 += t * t;
        }
        return { kind: 'difference', distance: Math.sqrt(d2), pointNorm: Math.max(norm32(zh), norm32(w)), sampled: true, scale: 1 };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  planUplink(replica: ReplicaState<F32>, _shard: ShardState<F32>, work: ShardWork<F32>, m: number, phase: PhaseName): readonly Evaluation<F32>[] {
    this.check(m);
    const k = replica.iteration;
    const x0 = vec(work, 'x0');
    const v0 = vec(work, 'v0');
    const w = vec(replica, 'w');
    switch (phase) {
      case 'init':
      case 'refresh':
        return [{ sample: modelSample(phase, k), point: w, value: v0 }];
      case 'diff': {
        if (!replica.initialized) throw new ValidationError('phase', `${this.name}: 'diff' before 'init'`);
        const s = modelSample('diff', k);
        this.extrapolate(replica, x0);
        return [
          { sample: s, point: x0, value: v0 },
          { sample: s, point: w, value: v0, subtract: true },
        ];
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  finishUplink(replica: ReplicaState<F32>, shard: ShardState<F32>, work: ShardWork<F32>, m: number, phase: PhaseName): UplinkResult<F32> {
    this.check(m);
    const k = replica.iteration;
    const v0 = vec(work, 'v0');
    switch (phase) {
      case 'init':
      case 'refresh':
        return { payload: FULL.compress(v0, this.ctx.sender(k, PURPOSE.up(phase), m)), shard: null };
      case 'diff': {
        const purpose = PURPOSE.up('diff');
        if (this.name === 'masha1') return { payload: this.device.compress(v0, this.ctx.sender(k, purpose, m)), shard: null };
        // MASHA2, Vogels' error feedback: p = D + e; send C(p); e ← p − C(p) (in place, into v0).
        const e = vec(shard, 'e');
        const n = this.dim;
        for (let i = 0; i < n; i++) v0[i] += e[i];
        const payload = this.device.compress(v0, this.ctx.sender(k, purpose, m));
        this.device.accumulate(payload, this.ctx.shared(k, purpose, m), -1, v0);
        return { payload, shard: { vectors: { e: v0 } } };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  accumulateUplink(replica: ReplicaState<F32>, phase: PhaseName, m: number, payload: Payload, sum: Float64Array): void {
    accumulateUplink(this.ctx, this.phase(phase).uplink, replica.iteration, phase, m, payload, sum);
  }

  serverAggregate(server: ServerState<F32>, replica: ReplicaState<F32>, phase: PhaseName, uplinks: UplinkSum, options: AggregateOptions): Downlink {
    const k = replica.iteration;
    const { sum, included } = uplinks;
    const purpose = PURPOSE.down(phase);
    switch (phase) {
      case 'init':
      case 'refresh':
        expectAll(this.name, phase, included, this.shards);
        return { payload: FULL.compress(sum, this.ctx.sender(k, purpose, SERVER)), flags: 0, included };
      case 'diff': {
        const refresh = options.forceRefresh || this.ctx.coin(k, 1 - this.tau);
        const e = server.vectors.e;
        let payload: Payload;
        if (e === undefined) payload = this.server.compress(sum, this.ctx.sender(k, purpose, SERVER));
        else {
          // MASHA2's server error feedback: p = mean + e; send C(p); e ← p − C(p) (float32 e).
          const n = this.dim;
          for (let i = 0; i < n; i++) sum[i] += e[i];
          payload = this.server.compress(sum, this.ctx.sender(k, purpose, SERVER));
          this.server.accumulate(payload, this.ctx.shared(k, purpose, SERVER), -1, sum);
          e.set(sum);
        }
        return { payload, flags: refresh ? FLAG_REFRESH : 0, included };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  deviceApply(replica: ReplicaState<F32>, phase: PhaseName, downlink: Downlink): PhaseName | null {
    const k = replica.iteration;
    const v = replica.vectors;
    switch (phase) {
      case 'init':
      case 'refresh':
        receive(this.ctx, FULL, k, phase, downlink, v.Fw);
        if (phase === 'init') replica.initialized = true;
        else replica.iteration = k + 1;
        return null;
      case 'diff': {
        if (!replica.initialized) throw new ValidationError('phase', `${this.name}: 'diff' before 'init'`);
        const g = receive(this.ctx, this.server, k, phase, downlink, this.g);
        // z^{k+1} = z̄ − U_s(F̃(w) + g; z̄), committing the optimizer state.
        mashaStep(this.optimizer, k, { z: v.z, w: v.w, d: v.Fw, d2: g, om: v.om ?? null, ov: v.ov ?? null, out: v.z }, true);
        if (downlink.flags & FLAG_REFRESH) {
          v.w.set(v.z);
          v.wStamp[0] = k + 1;
          return 'refresh';
        }
        replica.iteration = k + 1;
        return null;
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  /** Bytes of float32 state per parameter: the replica and one held shard (with the engine's spare copy). */
  stateBytesPerParam(): { replica: number; shard: number; work: number; scratch: number } {
    return { replica: 4 * (3 + this.moments.length), shard: this.name === 'masha2' ? 8 : 0, work: 8, scratch: 4 };
  }
}

function norm32(x: F32): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

function vec(state: { readonly vectors: Record<string, F32> }, name: string): F32 {
  const v = state.vectors[name];
  if (!v) throw new ValidationError(name, `state has no vector '${name}'`);
  return v;
}

export function createModelMethod(config: ModelMethodConfig): ModelMethod {
  return new ModelMethod(config);
}

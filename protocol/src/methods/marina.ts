/**
 * MARINA (Gorbunov et al. 2021; PermK paper, SPEC §3.4) for minimisation, F = ∇f:
 *
 *   g⁰ = ∇f(x⁰);  x^{k+1} = x^k − γ g^k;  shared coin c_k ~ Be(p);
 *   c_k = 1: g^{k+1} = (1/n) Σ ∇f_i(x^{k+1})                         (full round)
 *   c_k = 0: g^{k+1} = g^k + (1/n) Σ C_i(∇f_i(x^{k+1}) − ∇f_i(x^k))   (compressed round)
 *
 * The coin is drawn from the keyed stream (seed, k, 'coin', SERVER), so every peer knows c_k before
 * sending and a device sends either the full gradient or the compressed difference, never both.
 *
 * Phases:
 *   'init'  (once): every device sends ∇f_m(x⁰) uncompressed; the server broadcasts g⁰. requiresAll.
 *   'diff'  (c_k = 0): device m sends C_m(∇f_m(x^{k+1}) − ∇f_m(x^k)) with the device compressor
 *           (PermK, RandK, TopK…; compression context purpose `up:diff`, so correlated compressors
 *           share their per-round draws); the server broadcasts the average (weight 1/n each) with
 *           the server compressor (default identity); devices set x ← x^{k+1}, g ← g + received.
 *           Missing shards are allowed. `forceRefresh` (a shard changed holder) makes the server
 *           answer with FLAG_REFRESH and no payload instead, and the iteration continues with 'full'.
 *   'full'  (c_k = 1, or forced): every device sends ∇f_m(x^{k+1}); the server broadcasts the mean
 *           with FLAG_REFRESH; devices set x ← x^{k+1}, g ← received. requiresAll.
 *
 * Replica vectors: x, g. Shard vectors: grad (∇f_m at iteration `stamp`), gradSpare (second buffer,
 * so uplinks allocate nothing), stamp (length 1, −1 for a fresh holder). Each device computes one
 * gradient per iteration. A shard's difference is taken against its memory, so a shard left out of
 * a commit keeps its old memory and its next difference telescopes over the rounds it missed; a
 * fresh holder (stamp −1) recomputes ∇f_m(x^k) from the replica (and the engine forces a refresh).
 *
 * `tau` reports 1 − p, the probability of a compressed round (MASHA's τ plays the same role).
 */
import type { Compressor, Payload } from '../compress/types.js';
import type { PhaseName } from './types.js';
import { ValidationError } from '../errors.js';
import type {
  AggregateOptions,
  Downlink,
  MethodInstance,
  PhaseInfo,
  ReplicaState,
  ServerState,
  ShardState,
  UplinkSum,
  ShardWork,
  UplinkResult,
  UplinkShape,
  Evaluation,
} from './types.js';
import { norm } from '../vec/kernels.js';
import { FLAG_REFRESH } from './types.js';
import { twoEvaluationWork } from './evaluate.js';
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

export interface MarinaConfig extends MethodConfig {
  /** Probability p of a full round; default ζ/d with ζ = β·d the device compressor's expected kept values (= β). */
  readonly p?: number;
}

export class Marina implements MethodInstance {
  readonly name = 'marina' as const;
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  /** 1 − p. */
  readonly tau: number;
  readonly p: number;
  readonly device: Compressor;
  readonly server: Compressor;
  private readonly ctx: Contexts;
  private readonly diff: Float64Array;
  private readonly received: Float64Array;
  private readonly phases: Record<string, PhaseInfo>;

  constructor(config: MarinaConfig) {
    validateCommon('marina', config);
    if (config.prox) throw new ValidationError('prox', 'marina: only unconstrained minimisation (h = 0) is supported');
    if (config.stochastic) throw new ValidationError('stochastic', 'marina: the finite-sum (stochastic) variant is not implemented');
    this.dim = config.problem.dim;
    this.shards = config.problem.shards;
    this.gamma = config.gamma;
    this.device = config.device;
    this.server = config.server ?? FULL;
    const p = config.p ?? Math.min(1, this.device.constants(this.dim, this.shards).beta);
    if (!(p > 0 && p <= 1)) throw new ValidationError('p', `marina: p must be in (0, 1], got ${p}`);
    this.p = p;
    this.tau = 1 - p;
    this.ctx = new Contexts(config.seed, this.shards);
    this.diff = new Float64Array(this.dim);
    this.received = new Float64Array(this.dim);
    this.phases = {
      init: phaseInfo(FULL, FULL, true),
      diff: phaseInfo(this.device, this.server, false, 1),
      full: phaseInfo(FULL, FULL, true, 1),
    };
  }

  initReplica(x0: Float64Array): ReplicaState {
    if (x0.length !== this.dim) throw new ValidationError('x0', `marina: expected length ${this.dim}, got ${x0.length}`);
    return { iteration: 0, initialized: false, vectors: { x: x0.slice(), g: new Float64Array(this.dim) } };
  }

  initShard(m: number): ShardState {
    this.checkShard(m);
    return { vectors: { grad: new Float64Array(this.dim), gradSpare: new Float64Array(this.dim), stamp: Float64Array.of(-1) } };
  }

  initServer(): ServerState {
    return { vectors: {} };
  }

  /** c_k for iteration k: true means a full round. */
  coin(k: number): boolean {
    return this.ctx.coin(k, this.p);
  }

  startPhase(replica: ReplicaState): PhaseName {
    if (!replica.initialized) return 'init';
    return this.coin(replica.iteration) ? 'full' : 'diff';
  }

  phase(name: PhaseName): PhaseInfo {
    const p = this.phases[name];
    if (!p) unknownPhase(this.name, name);
    return p;
  }

  /**
   * init: ∇f_m(x⁰); full: ∇f_m(x^{k+1}) (values). diff: a difference against the holder's own
   * memory, which may be older than x^k (a shard left out telescopes): opaque.
   */
  uplinkShape(replica: ReplicaState, phase: PhaseName): UplinkShape {
    switch (phase) {
      case 'init':
        return { kind: 'value', norm: norm(vector(replica, 'x')), sampled: false, scale: 1 };
      case 'full':
        return { kind: 'value', norm: norm(this.nextPoint(replica, (this.shapeBuf ??= new Float64Array(this.dim)))), sampled: false, scale: 1 };
      case 'diff':
        return { kind: 'opaque' };
      default:
        unknownPhase(this.name, phase);
    }
  }
  private shapeBuf: Float64Array | null = null;

  iterate(replica: ReplicaState): Float64Array {
    return vector(replica, 'x');
  }

  /** out ← x^{k+1} = x^k − γ g^k. */
  private nextPoint(replica: ReplicaState, out: Float64Array): Float64Array {
    const x = vector(replica, 'x');
    const g = vector(replica, 'g');
    const gamma = this.gamma;
    for (let i = 0; i < this.dim; i++) out[i] = x[i] - gamma * g[i];
    return out;
  }

  initWork(m: number): ShardWork {
    this.checkShard(m);
    return twoEvaluationWork(this.dim);
  }

  /**
   * Evaluations of shard m's step. init: ∇f_m(x⁰); full: ∇f_m(x^{k+1}); diff: ∇f_m(x^{k+1}) (x0 → v0)
   * and, for a fresh holder without ∇f_m(x^k), that too (x1 → v1).
   */
  planUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number, phase: PhaseName): readonly Evaluation[] {
    this.checkShard(m);
    const x0 = vector(work, 'x0');
    const v0 = vector(work, 'v0');
    switch (phase) {
      case 'init':
        x0.set(vector(replica, 'x'));
        return [{ sample: null, point: x0, value: v0 }];
      case 'full':
        this.nextPoint(replica, x0);
        return [{ sample: null, point: x0, value: v0 }];
      case 'diff': {
        if (!replica.initialized) throw new ValidationError('phase', `marina: 'diff' before 'init'`);
        this.nextPoint(replica, x0);
        if (vector(shard, 'stamp')[0] >= 0) return [{ sample: null, point: x0, value: v0 }];
        // Fresh holder: ∇f_m(x^k) from the replica (the engine forces a refresh after a handover).
        const x1 = vector(work, 'x1');
        x1.set(vector(replica, 'x'));
        return [
          { sample: null, point: x0, value: v0 },
          { sample: null, point: x1, value: vector(work, 'v1') },
        ];
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  finishUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number, phase: PhaseName): UplinkResult {
    this.checkShard(m);
    const k = replica.iteration;
    const spare = vector(shard, 'gradSpare');
    spare.set(vector(work, 'v0'));
    switch (phase) {
      case 'init': {
        const payload = FULL.compress(spare, this.ctx.sender(k, PURPOSE.up(phase), m));
        return { payload, shard: this.memory(shard, spare, k) };
      }
      case 'full': {
        const payload = FULL.compress(spare, this.ctx.sender(k, PURPOSE.up(phase), m));
        return { payload, shard: this.memory(shard, spare, k + 1) };
      }
      case 'diff': {
        const prev = vector(shard, 'stamp')[0] < 0 ? vector(work, 'v1') : vector(shard, 'grad');
        const d = this.diff;
        for (let i = 0; i < this.dim; i++) d[i] = spare[i] - prev[i];
        const payload = this.device.compress(d, this.ctx.sender(k, PURPOSE.up(phase), m));
        return { payload, shard: this.memory(shard, spare, k + 1) };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  /** New shard memory: `grad` becomes the freshly computed buffer, the old one the spare. */
  private memory(shard: ShardState, fresh: Float64Array, stamp: number): ShardState {
    return { vectors: { grad: fresh, gradSpare: vector(shard, 'grad'), stamp: Float64Array.of(stamp) } };
  }

  accumulateUplink(replica: ReplicaState, phase: PhaseName, m: number, payload: Payload, sum: Float64Array): void {
    accumulateUplink(this.ctx, this.phase(phase).uplink, replica.iteration, phase, m, payload, sum);
  }

  serverAggregate(_server: ServerState, replica: ReplicaState, phase: PhaseName, uplinks: UplinkSum, options: AggregateOptions): Downlink {
    const k = replica.iteration;
    switch (phase) {
      case 'init':
      case 'full': {
        const { sum, included } = uplinks;
        expectAll(this.name, phase, included, this.shards);
        return { payload: broadcast(this.ctx, FULL, k, phase, sum), flags: phase === 'full' ? FLAG_REFRESH : 0, included };
      }
      case 'diff': {
        const { sum, included } = uplinks;
        if (options.forceRefresh) return { payload: null, flags: FLAG_REFRESH, included };
        return { payload: broadcast(this.ctx, this.server, k, phase, sum), flags: 0, included };
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  deviceApply(replica: ReplicaState, phase: PhaseName, downlink: Downlink): PhaseName | null {
    const k = replica.iteration;
    const x = vector(replica, 'x');
    const g = vector(replica, 'g');
    switch (phase) {
      case 'init': {
        receive(this.ctx, FULL, k, phase, downlink, g);
        replica.initialized = true;
        return null;
      }
      case 'full': {
        receive(this.ctx, FULL, k, phase, downlink, this.received);
        this.step(x, g);
        g.set(this.received);
        replica.iteration = k + 1;
        return null;
      }
      case 'diff': {
        if (!replica.initialized) throw new ValidationError('phase', `marina: 'diff' before 'init'`);
        if (downlink.flags & FLAG_REFRESH) return 'full';
        receive(this.ctx, this.server, k, phase, downlink, this.received);
        this.step(x, g);
        for (let i = 0; i < this.dim; i++) g[i] += this.received[i];
        replica.iteration = k + 1;
        return null;
      }
      default:
        unknownPhase(this.name, phase);
    }
  }

  /** x ← x − γ g. */
  private step(x: Float64Array, g: Float64Array): void {
    const gamma = this.gamma;
    for (let i = 0; i < this.dim; i++) x[i] -= gamma * g[i];
  }

  private checkShard(m: number): void {
    if (!Number.isSafeInteger(m) || m < 0 || m >= this.shards) throw new ValidationError('shard', `marina: no shard ${m}`);
  }
}

export function marina(config: MarinaConfig): Marina {
  return new Marina(config);
}

export function createMarina(config: MarinaConfig): Marina {
  return new Marina(config);
}

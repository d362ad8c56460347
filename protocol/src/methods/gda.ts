/**
 * Gradient descent–ascent baselines (SPEC §3.3), one exchange per iteration ('step', every shard):
 *   QGDA:   devices send Q(F_m(z)) (natural dithering in the seed's comparison); the server
 *           broadcasts g = (1/M)Σ; z ← prox_{γh}(z − γg).
 *   EF-GDA: devices form p_m = γF_m(z) + e_m, send C(p_m) (Top 30% in the seed's comparison) and keep
 *           e_m ← p_m − C(p_m); the server broadcasts (1/M)Σ C(p_m); z ← prox_{γh}(z − that).
 * Both are plain descent–ascent, which on bilinear games contracts only for γ < 2μ/(μ² + σ_max²)
 * and then very slowly: they are in the comparison to show exactly that.
 * Replica vectors: z. EF-GDA shard vectors: e, eSpare.
 */
import { ValidationError } from '../errors.js';
import type { PhaseName } from './types.js';
import type { Compressor, Payload } from '../compress/types.js';
import type { Problem } from '../problems/types.js';
import type { Prox } from '../prox/types.js';
import { IdentityProx } from '../prox/basic.js';
import type {
  AggregateOptions,
  Downlink,
  MethodInstance,
  PhaseInfo,
  ReplicaState,
  ServerState,
  ShardState,
  UplinkSum,
  UplinkResult,
  UplinkShape,
  Evaluation,
  ShardWork,
} from './types.js';
import { norm } from '../vec/kernels.js';
import { oneEvaluationWork } from './evaluate.js';
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

export class DescentAscent implements MethodInstance {
  readonly name: 'qgda' | 'ef-gda';
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  readonly tau = 0;
  readonly problem: Problem;
  readonly prox: Prox;
  readonly device: Compressor;
  readonly server: Compressor;
  private readonly errorFeedback: boolean;
  private readonly ctx: Contexts;
  private readonly t: Float64Array;
  private readonly q: Float64Array;
  private readonly g: Float64Array;
  private readonly info: PhaseInfo;

  constructor(name: 'qgda' | 'ef-gda', config: MethodConfig) {
    validateCommon(name, config);
    if (config.stochastic) throw new ValidationError('stochastic', `${name} has no stochastic mode`);
    this.name = name;
    this.errorFeedback = name === 'ef-gda';
    this.problem = config.problem;
    this.dim = config.problem.dim;
    this.shards = config.problem.shards;
    this.gamma = config.gamma;
    this.prox = config.prox ?? new IdentityProx();
    this.device = config.device;
    this.server = config.server ?? FULL;
    this.ctx = new Contexts(config.seed, this.shards);
    this.t = new Float64Array(this.dim);
    this.q = new Float64Array(this.dim);
    this.g = new Float64Array(this.dim);
    this.info = phaseInfo(this.device, this.server, true);
  }

  initReplica(z0: Float64Array): ReplicaState {
    if (z0.length !== this.dim) throw new ValidationError('z0', `expected length ${this.dim}, got ${z0.length}`);
    return { iteration: 0, initialized: true, vectors: { z: z0.slice() } };
  }
  initShard(_m: number): ShardState {
    if (!this.errorFeedback) return { vectors: {} };
    return { vectors: { e: new Float64Array(this.dim), eSpare: new Float64Array(this.dim) } };
  }
  initServer(): ServerState {
    return { vectors: {} };
  }
  startPhase(_replica: ReplicaState): PhaseName {
    return 'step';
  }
  phase(name: PhaseName): PhaseInfo {
    if (name !== 'step') unknownPhase(this.name, name);
    return this.info;
  }
  iterate(replica: ReplicaState): Float64Array {
    return vector(replica, 'z');
  }

  /** QGDA: C(F_m(z)), a value. EF-GDA: C(γF_m(z) + e_m), opaque (the holder's error memory). */
  uplinkShape(replica: ReplicaState, phase: PhaseName): UplinkShape {
    this.phase(phase);
    if (this.errorFeedback) return { kind: 'opaque' };
    return { kind: 'value', norm: norm(vector(replica, 'z')), sampled: false, scale: 1 };
  }

  initWork(_m: number): ShardWork {
    return oneEvaluationWork(this.dim);
  }

  /** F_m(z). */
  planUplink(replica: ReplicaState, _shard: ShardState, work: ShardWork, m: number, phase: PhaseName): readonly Evaluation[] {
    this.phase(phase);
    if (!Number.isSafeInteger(m) || m < 0 || m >= this.shards) throw new ValidationError('shard', `${this.name}: no shard ${m}`);
    const x0 = vector(work, 'x0');
    x0.set(vector(replica, 'z'));
    return [{ sample: null, point: x0, value: vector(work, 'v0') }];
  }

  finishUplink(replica: ReplicaState, shard: ShardState, work: ShardWork, m: number, phase: PhaseName): UplinkResult {
    this.phase(phase);
    const k = replica.iteration;
    const purpose = PURPOSE.up(phase);
    const t = this.t;
    t.set(vector(work, 'v0'));
    if (!this.errorFeedback) {
      return { payload: this.device.compress(t, this.ctx.sender(k, purpose, m)), shard: null };
    }
    const e = vector(shard, 'e');
    const eNext = vector(shard, 'eSpare');
    const gamma = this.gamma;
    const n = this.dim;
    for (let i = 0; i < n; i++) t[i] = gamma * t[i] + e[i];
    const payload = this.device.compress(t, this.ctx.sender(k, purpose, m));
    this.device.decompress(payload, this.ctx.shared(k, purpose, m), this.q);
    for (let i = 0; i < n; i++) eNext[i] = t[i] - this.q[i];
    return { payload, shard: { vectors: { e: eNext, eSpare: e } } };
  }

  accumulateUplink(replica: ReplicaState, phase: PhaseName, m: number, payload: Payload, sum: Float64Array): void {
    accumulateUplink(this.ctx, this.phase(phase).uplink, replica.iteration, phase, m, payload, sum);
  }

  serverAggregate(_server: ServerState, replica: ReplicaState, phase: PhaseName, uplinks: UplinkSum, _options: AggregateOptions): Downlink {
    this.phase(phase);
    const k = replica.iteration;
    const { sum, included } = uplinks;
    expectAll(this.name, phase, included, this.shards);
    return { payload: broadcast(this.ctx, this.server, k, phase, sum), flags: 0, included };
  }

  deviceApply(replica: ReplicaState, phase: PhaseName, downlink: Downlink): PhaseName | null {
    this.phase(phase);
    const k = replica.iteration;
    receive(this.ctx, this.server, k, phase, downlink, this.g);
    const z = vector(replica, 'z');
    // QGDA broadcasts the mean operator (step γg); EF-GDA broadcasts the mean of γF_m + e_m (step g).
    const a = this.errorFeedback ? 1 : this.gamma;
    const g = this.g;
    for (let i = 0; i < this.dim; i++) z[i] -= a * g[i];
    this.prox.apply(z, this.gamma, z);
    replica.iteration = k + 1;
    return null;
  }
}

export function createQgda(config: MethodConfig): DescentAscent {
  return new DescentAscent('qgda', config);
}

export function createEfGda(config: MethodConfig): DescentAscent {
  return new DescentAscent('ef-gda', config);
}

/**
 * Extragradient baselines (SPEC §3.3): two exchanges per iteration, both requiring every shard.
 *   'extra1': devices send Q(F_m(z^k)); server broadcasts g = (1/M)Σ (through the server codec);
 *             devices set z^{k+½} = prox_{γh}(z^k − γg).
 *   'extra2': devices send Q(F_m(z^{k+½})); devices set z^{k+1} = prox_{γh}(z^k − γg').
 * EG: Q = identity (32 bits/element each way). QEG: Q = natural compression by default
 * ("quantized extra step with natural rounding"), which compresses the operator itself, not a
 * difference, so its noise does not vanish at the solution when the F_m(z*) differ.
 * Replica vectors: z, zhalf. No initial exchange (the replica starts initialized).
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

export class Extragradient implements MethodInstance {
  readonly name: 'eg' | 'qeg';
  readonly dim: number;
  readonly shards: number;
  readonly gamma: number;
  readonly tau = 0;
  readonly problem: Problem;
  readonly prox: Prox;
  readonly device: Compressor;
  readonly server: Compressor;
  private readonly ctx: Contexts;
  private readonly g: Float64Array;
  private readonly info: PhaseInfo;

  constructor(name: 'eg' | 'qeg', config: MethodConfig) {
    validateCommon(name, config);
    if (config.stochastic) throw new ValidationError('stochastic', `${name} has no stochastic mode`);
    this.name = name;
    this.problem = config.problem;
    this.dim = config.problem.dim;
    this.shards = config.problem.shards;
    this.gamma = config.gamma;
    this.prox = config.prox ?? new IdentityProx();
    this.device = name === 'eg' ? FULL : config.device;
    if (name === 'eg' && config.device.spec !== 'identity') {
      throw new ValidationError('device', `eg is uncompressed: its device compressor must be identity, got '${config.device.spec}' (use qeg)`);
    }
    this.server = config.server ?? FULL;
    this.ctx = new Contexts(config.seed, this.shards);
    this.g = new Float64Array(this.dim);
    this.info = phaseInfo(this.device, this.server, true);
  }

  initReplica(z0: Float64Array): ReplicaState {
    if (z0.length !== this.dim) throw new ValidationError('z0', `expected length ${this.dim}, got ${z0.length}`);
    return { iteration: 0, initialized: true, vectors: { z: z0.slice(), zhalf: z0.slice() } };
  }
  initShard(_m: number): ShardState {
    return { vectors: {} };
  }
  initServer(): ServerState {
    return { vectors: {} };
  }
  startPhase(_replica: ReplicaState): PhaseName {
    return 'extra1';
  }
  phase(name: PhaseName): PhaseInfo {
    if (name !== 'extra1' && name !== 'extra2') unknownPhase(this.name, name);
    return this.info;
  }
  iterate(replica: ReplicaState): Float64Array {
    return vector(replica, 'z');
  }

  /** C(F_m(z)) (extra1) or C(F_m(z^{k+½})) (extra2): values. */
  uplinkShape(replica: ReplicaState, phase: PhaseName): UplinkShape {
    this.phase(phase);
    return { kind: 'value', norm: norm(vector(replica, phase === 'extra1' ? 'z' : 'zhalf')), sampled: false, scale: 1 };
  }

  initWork(_m: number): ShardWork {
    return oneEvaluationWork(this.dim);
  }

  /** F_m at z (extra1) or at z^{k+½} (extra2). */
  planUplink(replica: ReplicaState, _shard: ShardState, work: ShardWork, m: number, phase: PhaseName): readonly Evaluation[] {
    this.phase(phase);
    if (!Number.isSafeInteger(m) || m < 0 || m >= this.shards) throw new ValidationError('shard', `${this.name}: no shard ${m}`);
    const x0 = vector(work, 'x0');
    x0.set(vector(replica, phase === 'extra1' ? 'z' : 'zhalf'));
    return [{ sample: null, point: x0, value: vector(work, 'v0') }];
  }

  finishUplink(replica: ReplicaState, _shard: ShardState, work: ShardWork, m: number, phase: PhaseName): UplinkResult {
    this.phase(phase);
    const payload = this.device.compress(vector(work, 'v0'), this.ctx.sender(replica.iteration, PURPOSE.up(phase), m));
    return { payload, shard: null };
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
    const out = phase === 'extra1' ? vector(replica, 'zhalf') : z;
    const gamma = this.gamma;
    const g = this.g;
    for (let i = 0; i < this.dim; i++) out[i] = z[i] - gamma * g[i];
    this.prox.apply(out, gamma, out);
    if (phase === 'extra1') return 'extra2';
    replica.iteration = k + 1;
    return null;
  }
}

export function createEg(config: MethodConfig): Extragradient {
  return new Extragradient('eg', config);
}

export function createQeg(config: MethodConfig): Extragradient {
  return new Extragradient('qeg', config);
}

/**
 * The reference runner of a model run: one process plays every shard holder, the aggregator and the
 * replica, as runner/reference.ts does for synthetic problems, with the evaluations done by a
 * `SampledOperator` (awaited when asynchronous). Every payload goes through its codec's wire form
 * and back, and uplinks are summed in ascending shard order, so the iterates are bit for bit those
 * of a swarm without failures.
 */
import { sumUplinks } from '../methods/common.js';
import type { PhaseName, ReplicaState, ServerState, ShardState, ShardUplink, ShardWork } from '../methods/types.js';
import { throughWire } from '../runner/reference.js';
import { ValidationError } from '../errors.js';
import type { ModelMethod } from './masha-model.js';
import type { SampledOperator } from './sampled.js';

type F32 = Float32Array;

export interface ModelRoundRecord {
  /** Iterations completed after this round. */
  readonly iteration: number;
  readonly phase: PhaseName;
  /** Payload bits of this round: every uplink, and the broadcast (with its flag bits). */
  readonly uplinkBits: number;
  readonly downlinkBits: number;
}

export class ModelReferenceDriver {
  readonly replica: ReplicaState<F32>;
  readonly shards: ShardState<F32>[];
  private readonly work: ShardWork<F32>;
  private readonly server: ServerState<F32>;
  private readonly sum: Float64Array;
  uplinkBits = 0;
  downlinkBits = 0;
  evaluations = 0;

  constructor(
    readonly method: ModelMethod,
    readonly operator: SampledOperator,
    w0: F32,
  ) {
    if (operator.dim !== method.dim || operator.shards !== method.shards) {
      throw new ValidationError('operator', `operator is ${operator.dim} × ${operator.shards} shards, method ${method.dim} × ${method.shards}`);
    }
    this.replica = method.initReplica(w0);
    this.shards = Array.from({ length: method.shards }, (_, m) => method.initShard(m));
    this.work = method.initWork(0);
    this.server = method.initServer();
    this.sum = new Float64Array(method.dim);
  }

  /** Runs one phase with every shard; returns its record and the next phase. */
  async runPhase(phase: PhaseName): Promise<{ record: ModelRoundRecord; next: PhaseName | null }> {
    const { method, replica } = this;
    const info = method.phase(phase);
    const uplinks: ShardUplink[] = [];
    const memories = new Map<number, ShardState<F32>>();
    let up = 0;
    for (let m = 0; m < method.shards; m++) {
      for (const e of method.planUplink(replica, this.shards[m], this.work, m, phase)) {
        if (e.sample === null) throw new ValidationError('sample', 'model evaluations are minibatches');
        this.evaluations++;
        await this.operator.evaluate(m, e.sample, e.point, e.value, e.subtract === true);
      }
      const res = method.finishUplink(replica, this.shards[m], this.work, m, phase);
      up += res.payload.bits;
      uplinks.push({ shard: m, payload: throughWire(info.uplink, res.payload) });
      // The memory may live in the work buffer (reused by the next shard): copy it.
      if (res.shard) memories.set(m, { vectors: Object.fromEntries(Object.entries(res.shard.vectors).map(([k, v]) => [k, v.slice()])) });
    }
    const down = method.serverAggregate(this.server, replica, phase, sumUplinks(method, replica, phase, uplinks, this.sum), { forceRefresh: false });
    for (const m of down.included) {
      const mem = memories.get(m);
      if (mem) this.shards[m] = mem;
    }
    const downBits = (down.payload ? down.payload.bits : 0) + info.flagBits;
    this.uplinkBits += up;
    this.downlinkBits += downBits;
    const payload = down.payload ? throughWire(info.downlink, down.payload) : null;
    const next = method.deviceApply(replica, phase, { payload, flags: down.flags, included: down.included });
    return { record: { iteration: replica.iteration, phase, uplinkBits: up, downlinkBits: downBits }, next };
  }

  /** Runs the phases of one iteration (or the initial exchange); returns their records. */
  async runIteration(): Promise<ModelRoundRecord[]> {
    const out: ModelRoundRecord[] = [];
    let phase: PhaseName | null = this.method.startPhase(this.replica);
    while (phase !== null) {
      const r = await this.runPhase(phase);
      out.push(r.record);
      phase = r.next;
      if (out.length > 16) throw new ValidationError('phase', 'an iteration did not complete in 16 phases');
    }
    return out;
  }
}

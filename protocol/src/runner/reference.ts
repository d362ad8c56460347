/**
 * The single-process reference runner (no network): one loop that plays every shard holder, the
 * aggregator and the replicas, driving a MethodInstance exactly as the simulator and the network do:
 *
 *   for each phase of an iteration:
 *     every shard m: planUplink → evaluate from the problem → finishUplink → payload → encode →
 *                    bytes → decode (so what the server sees is
 *                    what the wire carries, and the bit counts are the payloads' real sizes)
 *     serverAggregate → downlink payload → encode → decode
 *     adopt the shard memories of the included shards; deviceApply on the (single) replica
 *
 * Bits are payload bits: uplink = Σ over devices of their payload bits; downlink = the broadcast
 * payload's bits plus the phase's flag bits, counted once per broadcast. The metric (SPEC §4) is the
 * relative squared distance ‖z^k − z*‖²/‖z⁰ − z*‖² when z* is known, and ‖F(z^k)‖² always.
 */
import type { Compressor, Payload } from '../compress/types.js';
import { MashaError, ValidationError } from '../errors.js';
import { sumUplinks } from '../methods/common.js';
import { uplinkFromProblem } from '../methods/evaluate.js';
import type { MethodInstance, ReplicaState, ServerState, ShardState, ShardUplink, ShardWork } from '../methods/types.js';
import type { Problem } from '../problems/types.js';
import type { IterationRecord, ReferenceRunOptions, ReferenceRunResult } from './types.js';

/** ‖F(z)‖² with F = (1/M)Σ F_m; `t` and `acc` are scratch of length dim. */
export function operatorNormSq(problem: Problem, z: Float64Array, t: Float64Array, acc: Float64Array): number {
  acc.fill(0);
  const M = problem.shards;
  for (let m = 0; m < M; m++) {
    problem.operator(m, z, t);
    for (let i = 0; i < acc.length; i++) acc[i] += t[i];
  }
  let s = 0;
  for (let i = 0; i < acc.length; i++) {
    const v = acc[i] / M;
    s += v * v;
  }
  return s;
}

function distSq(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

/** Sends a payload through its codec's wire form and back, checking the byte count. */
export function throughWire(codec: Compressor, payload: Payload): Payload {
  const bytes = codec.encode(payload);
  const expected = Math.ceil(payload.bits / 8);
  if (bytes.length !== expected) {
    throw new ValidationError('payload.bits', `${codec.spec}: encoded ${bytes.length} bytes for a ${payload.bits}-bit payload (expected ${expected})`);
  }
  return codec.decode(bytes, payload.d);
}

/** A single-process driver of a method: the state of all shards, the server and one replica. */
export class ReferenceDriver {
  readonly replica: ReplicaState;
  readonly shards: ShardState[];
  /** Evaluation buffers: one for every shard (its step finishes before the next one's is planned). */
  private readonly work: ShardWork;
  server: ServerState;
  /** The server's sum of a round's uplinks. */
  private readonly sum: Float64Array;
  uplinkBits = 0;
  downlinkBits = 0;

  constructor(
    readonly method: MethodInstance,
    readonly problem: Problem,
    z0: Float64Array,
  ) {
    this.replica = method.initReplica(z0);
    this.shards = Array.from({ length: method.shards }, (_, m) => method.initShard(m));
    this.work = method.initWork(0);
    this.sum = new Float64Array(method.dim);
    this.server = method.initServer();
  }

  /**
   * Runs one phase with the given responders (default: all shards) and returns the next phase.
   * Phases that require every shard ignore `responders`.
   */
  runPhase(phase: string, responders?: readonly number[], forceRefresh = false): string | null {
    const { method, replica } = this;
    const info = method.phase(phase);
    const who = info.requiresAll || !responders ? this.shards.map((_, m) => m) : responders;
    const uplinks: ShardUplink[] = [];
    const memories = new Map<number, ShardState | null>();
    for (const m of who) {
      const res = uplinkFromProblem(method, this.problem, replica, this.shards[m], this.work, m, phase);
      this.uplinkBits += res.payload.bits;
      uplinks.push({ shard: m, payload: throughWire(info.uplink, res.payload) });
      memories.set(m, res.shard);
    }
    const down = method.serverAggregate(this.server, replica, phase, sumUplinks(method, replica, phase, uplinks, this.sum), { forceRefresh });
    for (const m of down.included) {
      const mem = memories.get(m);
      if (mem) this.shards[m] = mem;
    }
    this.downlinkBits += (down.payload ? down.payload.bits : 0) + info.flagBits;
    const payload = down.payload ? throughWire(info.downlink, down.payload) : null;
    return method.deviceApply(replica, phase, { payload, flags: down.flags, included: down.included });
  }

  /** Runs phases until the current iteration (or the initial exchange) completes. */
  runIteration(responders?: readonly number[]): void {
    const start = this.replica.iteration;
    let phase: string | null = this.method.startPhase(this.replica);
    let guard = 0;
    while (phase !== null) {
      phase = this.runPhase(phase, responders);
      if (++guard > 1000) throw new ValidationError('phase', `${this.method.name}: iteration ${start} did not complete in 1000 phases`);
    }
  }

  /** Runs the initial exchange(s) until the replica is initialized. */
  initialize(): void {
    let guard = 0;
    while (!this.replica.initialized) {
      this.runIteration();
      if (++guard > 10) throw new ValidationError('phase', `${this.method.name}: replica not initialized after 10 exchanges`);
    }
  }
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (!(a <= m)) m = a; // NaN propagates
  }
  return m;
}

export function runReference(options: ReferenceRunOptions): ReferenceRunResult {
  const { problem, method } = options;
  const K = options.iterations;
  if (!Number.isSafeInteger(K) || K < 0) throw new ValidationError('iterations', `must be a non-negative integer, got ${K}`);
  const recordEvery = options.recordEvery ?? 1;
  if (!Number.isSafeInteger(recordEvery) || recordEvery < 1) throw new ValidationError('recordEvery', `must be a positive integer, got ${recordEvery}`);
  const divergence = options.divergenceFactor ?? 1e12;
  const target = options.target;
  if (method.dim !== problem.dim || method.shards !== problem.shards) {
    throw new ValidationError('method', `method is for dim ${method.dim} × ${method.shards} shards, problem is ${problem.dim} × ${problem.shards}`);
  }
  const z0 = options.z0 ?? problem.initialPoint();
  const driver = new ReferenceDriver(method, problem, z0);
  const zStar = problem.solution();
  const r0 = zStar ? distSq(z0, zStar) : 0;
  const t = new Float64Array(problem.dim);
  const acc = new Float64Array(problem.dim);
  const opNorm0 = operatorNormSq(problem, z0, t, acc);
  const relDistOf = (z: Float64Array): number | null => {
    if (!zStar) return null;
    const d = distSq(z, zStar);
    return r0 > 0 ? d / r0 : d;
  };

  const records: IterationRecord[] = [];
  const record = (iteration: number, z: Float64Array, relDist: number | null, opNormSq?: number): void => {
    const rec: IterationRecord = {
      iteration,
      relDist,
      opNormSq: opNormSq ?? operatorNormSq(problem, z, t, acc),
      uplinkBits: driver.uplinkBits,
      downlinkBits: driver.downlinkBits,
    };
    records.push(rec);
    options.onRecord?.(rec);
  };

  driver.initialize();
  let z = method.iterate(driver.replica);
  record(0, z, relDistOf(z), opNorm0);
  let reached = false;
  let uplinkBitsToTarget: number | null = null;
  let diverged = false;
  const meets = (relDist: number | null, opNormSq: number | null): boolean =>
    target !== undefined && (relDist !== null ? relDist <= target : opNormSq !== null && opNormSq <= target * opNorm0);
  if (meets(records[0].relDist, opNorm0)) {
    reached = true;
    uplinkBitsToTarget = driver.uplinkBits;
  }

  let k = 0;
  while (k < K && !reached) {
    try {
      driver.runIteration();
    } catch (e) {
      // A diverging method overflows float32 on the wire; anything else is a real error.
      if (e instanceof MashaError && !(maxAbs(method.iterate(driver.replica)) < 1e30)) {
        diverged = true;
        k = driver.replica.iteration;
        break;
      }
      throw e;
    }
    k = driver.replica.iteration;
    z = method.iterate(driver.replica);
    const relDist = relDistOf(z);
    const atRecord = k % recordEvery === 0 || k === K;
    const opNormSq = relDist === null && (target !== undefined || atRecord) ? operatorNormSq(problem, z, t, acc) : null;
    if (meets(relDist, opNormSq)) {
      reached = true;
      uplinkBitsToTarget = driver.uplinkBits;
    }
    const metric = relDist ?? (opNormSq !== null ? opNormSq / (opNorm0 > 0 ? opNorm0 : 1) : null);
    if ((metric !== null && !(metric <= divergence)) || !(maxAbs(z) < Infinity)) diverged = true;
    if (atRecord || reached || diverged) record(k, z, relDist, opNormSq ?? undefined);
    if (diverged) break;
  }
  if (records[records.length - 1].iteration !== k) record(k, z, relDistOf(z));
  return {
    records,
    iterations: k,
    uplinkBits: driver.uplinkBits,
    downlinkBits: driver.downlinkBits,
    z: method.iterate(driver.replica).slice(),
    reached,
    uplinkBitsToTarget,
    diverged,
  };
}

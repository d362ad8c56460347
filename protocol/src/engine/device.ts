/**
 * The device role: the shards this peer holds and their memories, the round it was asked to
 * answer, its answers (computed once per round and kept until the commit, so a re-opened attempt
 * is answered from them), assignment deltas, and heartbeats to the aggregator.
 *
 * A shard whose holder changed has *fresh* memory: in a compressed phase its holder answers with a
 * "fresh" marker instead of a difference against a memory it does not have (see peer.ts).
 */
import type { Vec, AnyMethod, ShardState, ShardWork } from '../methods/types.js';
import type { PhaseName } from '../methods/types.js';
import type { RunContext } from './context.js';
import { digestEquals } from './digest.js';
import { ValidationError } from '../errors.js';
import type { Election } from './election.js';
import type { Lineage } from './lineage.js';
import {
  DeltaView,
  type DeltaEntry,
  encodeHeartbeat,
  encodeUplink,
  HB_DONE,
  HB_LEAF,
  HB_RESET,
  MSG,
  UP_AUDIT,
  UP_FRESH,
  type UplinkEntry,
} from './messages.js';
import type { Outbox } from './outbox.js';
import { phaseCode } from './phase-code.js';
import type { EvaluationRequest, PeerId } from './types.js';

interface HeldShard {
  state: ShardState<Vec>;
  /** Second buffer: the would-be memory of the last uplink is copied here until its commit. */
  spare: ShardState<Vec>;
  /** Memory (re)initialised and not yet adopted from a committed round. */
  fresh: boolean;
  /** The evaluation request computing this shard's answer, if one is in flight. */
  inflight: Inflight | null;
  /** Its answer to the pending round, ready to send (see `Device.pendingRound`), or null. */
  pending: Pending | null;
}

/** An evaluation request in flight: the round it answers, the state it was planned on, and the buffers lent to it. */
interface Inflight {
  readonly id: number;
  readonly round: number;
  readonly phase: PhaseName;
  readonly baseDigest: Uint8Array;
  readonly shards: readonly number[];
  readonly works: readonly ShardWork<Vec>[];
  /** An audit's request: the fresh shard memories it computes with (one per shard), else null. */
  readonly audit: readonly ShardState<Vec>[] | null;
}

/** An audit this peer was asked for (guard.ts): shards it does not hold, for one round. */
export interface AuditRequest {
  readonly epoch: number;
  readonly round: number;
  readonly attempt: number;
  readonly baseDigest: Uint8Array;
  readonly shards: readonly number[];
}

interface Pending {
  readonly bytes: Uint8Array;
  readonly flags: number;
  /** Would-be memory (held.spare, or a clone when the method's shape differs), null if unchanged. */
  readonly memory: ShardState<Vec> | null;
}

/** The round a device was asked to answer. */
export interface DeviceOpen {
  readonly epoch: number;
  readonly round: number;
  readonly attempt: number;
  /** Phase of the round; null when the device has not yet applied the round's parent (implicit opens). */
  readonly phase: PhaseName | null;
  readonly baseEpoch: number;
  readonly baseDigest: Uint8Array;
  /** Held shards asked for (null: every held shard). */
  readonly wanted: ReadonlySet<number> | null;
}

/** Where the aggregator's own answers go (instead of the network). */
export interface SelfUplink {
  /** True when this peer aggregates the round; then it takes the entries. */
  ingestOwn(entries: readonly UplinkEntry[]): boolean;
}

export class Device {
  open: DeviceOpen | null = null;
  /** Set by the state role when a snapshot reset the shard memories (reported in the next heartbeat). */
  resetSinceReport = false;
  lastSentToAgg = Number.NEGATIVE_INFINITY;
  /** What heartbeats report for the relay trees: upload rate (kbit/s, 0 = unknown), never relay. */
  capacity: { upKbps: number; leaf: boolean } = { upKbps: 0, leaf: false };
  private readonly held = new Map<number, HeldShard>();
  private heldSorted: number[] | null = [];
  /** The attempt answered last, the shards sent for it, and whether it was refused (phase mismatch). */
  private answeredEpoch = -1;
  private answeredRound = -1;
  private answeredAttempt = -1;
  /**
   * Shards sent for that attempt: shard → the serial of the attempt it was sent in. A new attempt
   * bumps the serial instead of clearing a set (which allocated a new table every round).
   */
  private readonly sent = new Map<number, number>();
  private sentSerial = 0;
  private refused = false;
  private pendingRound = -1;
  /**
   * Evaluation requests in flight: the newest one, and older ones (rare: an evaluator still
   * working on a superseded request) by id. Most peers have one at a time, and a Map's set/delete
   * per request reallocated its table (allocation churn at 1,000 simulated peers).
   */
  private newest: Inflight | null = null;
  private readonly older = new Map<number, Inflight>();
  private nextRequestId = 1;
  /** Held shards with a pending answer (`HeldShard.pending`), all for `pendingRound`. */
  private pendingCount = 0;
  private assignStamp = { epoch: -1, round: -1, attempt: -1 };
  /** The audit asked for last, and whether its evaluation was requested. */
  private audit: AuditRequest | null = null;
  private auditRequested = false;
  private readonly method: AnyMethod;
  private readonly M: number;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly lineage: Lineage,
    private readonly election: Election,
    private readonly self: SelfUplink,
    private readonly token: Uint8Array | null = null,
  ) {
    this.method = ctx.method;
    this.M = ctx.shards;
  }

  get id(): PeerId {
    return this.outbox.id;
  }

  get heldCount(): number {
    return this.held.size;
  }

  holds(m: number): boolean {
    return this.held.has(m);
  }

  heldList(): number[] {
    if (this.heldSorted === null) this.heldSorted = [...this.held.keys()].sort((a, b) => a - b);
    return this.heldSorted;
  }

  // ---------------------------------------------------------------- heartbeats

  sendHeartbeat(): void {
    const to = this.election.aggregator;
    if (to === null || to === this.id || this.outbox.role === 'observer') return;
    const L = this.lineage;
    const flags = (this.resetSinceReport ? HB_RESET : 0) | (L.doneReason !== null ? HB_DONE : 0) | (this.capacity.leaf ? HB_LEAF : 0);
    this.resetSinceReport = false;
    const body = encodeHeartbeat(
      {
        round: L.committed,
        commitEpoch: L.commitEpoch,
        digest: L.digest,
        flags,
        held: this.heldList(),
        cert: L.cert,
        token: this.token,
        upKbps: this.capacity.upKbps,
      },
      this.M,
    );
    this.outbox.send(to, this.outbox.message(MSG.HEARTBEAT, this.election.epoch, L.committed, 0, body));
    this.lastSentToAgg = this.outbox.now;
  }

  /** The heartbeat period of a device: report unless an uplink said it all recently. */
  tick(): void {
    if (this.election.aggregator !== null && this.outbox.now - this.lastSentToAgg >= this.ctx.timing.heartbeatMs) this.sendHeartbeat();
  }

  // ---------------------------------------------------------------- assignment

  /**
   * Applies assignment changes stamped (epoch, round, attempt) unless newer ones were applied
   * already (a new aggregator's deltas supersede the old one's; replays of old rounds do not undo
   * newer deltas).
   */
  applyDelta(delta: readonly DeltaEntry[] | DeltaView, epoch: number, round: number, attempt: number): void {
    const s = this.assignStamp;
    if (epoch < s.epoch || (epoch === s.epoch && (round < s.round || (round === s.round && attempt <= s.attempt)))) return;
    this.assignStamp = { epoch, round, attempt };
    if (delta instanceof DeltaView) {
      // Received (it may list every shard): one pass picks out what concerns this peer. Each shard
      // appears once in a delta, so applying the two lists is applying the entries in order.
      const { mine, lost } = delta.split(delta.refsOf(this.id), this.heldList());
      for (const m of lost) this.assign(m, false);
      for (const m of mine) this.assign(m, true);
    } else {
      for (const e of delta) this.assign(e.shard, e.holder === this.id);
    }
  }

  /** One delta entry: shard m is this peer's (`mine`) or not. */
  private assign(m: number, mine: boolean): void {
    if (mine) {
      if (!this.held.has(m)) {
        this.held.set(m, { state: this.method.initShard(m), spare: this.method.initShard(m), fresh: true, inflight: null, pending: null });
        this.heldSorted = null;
      }
    } else {
      const h = this.held.get(m);
      if (h === undefined) return;
      this.held.delete(m);
      this.heldSorted = null;
      if (h.pending !== null) this.pendingCount--;
    }
  }

  /** Drops every pending answer. */
  private clearPending(): void {
    if (this.pendingCount === 0) return;
    for (const h of this.held.values()) h.pending = null;
    this.pendingCount = 0;
  }

  /** The replica was replaced by a snapshot: every shard memory is fresh again. */
  resetShards(): void {
    this.clearPending();
    this.pendingRound = -1;
    for (const [m, hs] of this.held) {
      hs.state = this.method.initShard(m);
      hs.fresh = true;
    }
    if (this.held.size > 0) this.resetSinceReport = true;
  }

  // ---------------------------------------------------------------- answering a round

  /**
   * Answers the open round with every wanted shard whose answer is ready and not yet sent in this
   * attempt, and asks for the evaluations of those that need one (one request for all of them).
   */
  tryAnswer(): void {
    if (this.audit !== null) this.tryAudit();
    const o = this.open;
    const L = this.lineage;
    if (o === null || this.held.size === 0 || o.epoch !== this.election.epoch || L.doneReason !== null || this.election.aggregator === null) return;
    if (L.committed !== o.round - 1 || !digestEquals(L.digest, o.baseDigest)) return;
    if (this.answeredEpoch !== o.epoch || this.answeredRound !== o.round || this.answeredAttempt !== o.attempt) {
      this.answeredEpoch = o.epoch;
      this.answeredRound = o.round;
      this.answeredAttempt = o.attempt;
      this.sentSerial++;
      this.refused = (o.phase ?? L.expectedPhase()) !== L.expectedPhase();
      if (this.refused) this.outbox.count('phase-mismatch');
    }
    if (this.refused) return;
    const phase = L.expectedPhase();
    if (this.pendingRound !== o.round) {
      this.clearPending();
      this.pendingRound = o.round;
    }
    const info = this.method.phase(phase);
    const entries: UplinkEntry[] = [];
    let toEvaluate: number[] | null = null;
    for (const m of this.heldList()) {
      if ((o.wanted !== null && !o.wanted.has(m)) || this.sent.get(m) === this.sentSerial) continue;
      const h = this.held.get(m) as HeldShard;
      let p = h.pending;
      if (p === null) {
        if (h.fresh && !info.requiresAll) {
          p = { bytes: EMPTY_BYTES, flags: UP_FRESH, memory: null };
          h.pending = p;
          this.pendingCount++;
        } else {
          const f = h.inflight;
          if (f === null || f.round !== o.round || !digestEquals(f.baseDigest, o.baseDigest)) (toEvaluate ??= []).push(m);
          continue;
        }
      }
      entries.push({ shard: m, flags: p.flags, payload: p.bytes });
      this.sent.set(m, this.sentSerial);
    }
    if (toEvaluate !== null) this.requestEvaluations(toEvaluate, o.round, phase, o.baseDigest);
    if (entries.length === 0) return;
    if (this.self.ingestOwn(entries)) return;
    const body = encodeUplink({ attempt: o.attempt, entries });
    this.outbox.send(this.election.aggregator, this.outbox.message(MSG.UPLINK, this.election.epoch, o.round, phaseCode(phase), body));
    this.lastSentToAgg = this.outbox.now;
  }

  // ---------------------------------------------------------------- audits

  /**
   * The aggregator (or this peer, aggregating) asks for an audit; answered once this peer is at its
   * base state. A repeated request (a retry of its round) is answered once, unless `force` (the
   * aggregator settling a dispute computes again).
   */
  requestAudit(req: AuditRequest, force = false): void {
    const a = this.audit;
    if (!force && a !== null && a.epoch === req.epoch && a.round === req.round && a.attempt >= req.attempt && a.shards.length === req.shards.length) {
      // The same audit again (a retry of its round): the answer computed once is enough.
      if (a.shards.every((s, i) => s === req.shards[i])) return;
    }
    this.audit = req;
    this.auditRequested = false;
    this.tryAudit();
  }

  private tryAudit(): void {
    const a = this.audit as AuditRequest;
    const L = this.lineage;
    if (L.committed >= a.round || a.epoch !== this.election.epoch) {
      if (L.committed >= a.round || a.epoch < this.election.epoch) this.audit = null;
      return;
    }
    if (this.auditRequested || L.committed !== a.round - 1 || !digestEquals(L.digest, a.baseDigest) || L.doneReason !== null) return;
    this.auditRequested = true;
    const phase = L.expectedPhase();
    const memories = a.shards.map((m) => this.method.initShard(m));
    this.requestEvaluations(a.shards, a.round, phase, a.baseDigest, memories);
  }

  /** Finishes an audit's steps with fresh memories and sends the answers (UP_AUDIT) to the aggregator. */
  private finishAudit(f: Inflight, memories: readonly ShardState<Vec>[]): void {
    const L = this.lineage;
    const info = this.method.phase(f.phase);
    const entries: UplinkEntry[] = [];
    for (let i = 0; i < f.shards.length; i++) {
      const res = this.method.finishUplink(L.replica, memories[i], f.works[i], f.shards[i], f.phase);
      entries.push({ shard: f.shards[i], flags: UP_AUDIT, payload: info.uplink.encode(res.payload) });
      info.uplink.release?.(res.payload);
    }
    this.outbox.count('audit-served');
    const to = this.election.aggregator;
    if (this.self.ingestOwn(entries) || to === null) return;
    const body = encodeUplink({ attempt: this.audit?.attempt ?? 0, entries });
    this.outbox.send(to, this.outbox.message(MSG.UPLINK, this.election.epoch, f.round, phaseCode(f.phase), body));
  }

  /** Plans the device steps of `shards` and asks for their evaluations in one request. */
  /** `baseDigest`: the digest the round opened on, equal to the lineage's now (never modified: the open's or audit's own). */
  private requestEvaluations(
    shards: readonly number[],
    round: number,
    phase: PhaseName,
    baseDigest: Uint8Array,
    audit: readonly ShardState<Vec>[] | null = null,
  ): void {
    const L = this.lineage;
    const id = this.nextRequestId++;
    const pool = this.ctx.workPool;
    const works = shards.map((m) => pool.take(m));
    const f: Inflight = { id, round, phase, baseDigest, shards, works, audit };
    const items: EvaluationRequest['items'][number][] = [];
    for (let i = 0; i < shards.length; i++) {
      const m = shards[i];
      if (audit !== null) {
        items.push({ shard: m, evaluations: this.method.planUplink(L.replica, audit[i], works[i], m, phase) });
        continue;
      }
      const h = this.held.get(m) as HeldShard;
      h.inflight = f;
      items.push({ shard: m, evaluations: this.method.planUplink(L.replica, h.state, works[i], m, phase) });
    }
    if (this.newest !== null) this.older.set(this.newest.id, this.newest);
    this.newest = f;
    this.outbox.push({ type: 'evaluate', request: { id, iteration: L.replica.iteration, phase, items } });
  }

  /**
   * Request `id` is done: finish the device steps of its shards that are still current (same base
   * state, still held, not re-requested) and answer. An answer for a state that has moved on is
   * dropped and counted; a failed evaluation leaves its shards unanswered (they miss the deadline
   * and move to another holder if it keeps failing).
   */
  onEvaluated(id: number, error: string | null): void {
    let f: Inflight | undefined;
    if (this.newest !== null && this.newest.id === id) {
      f = this.newest;
      this.newest = null;
    } else {
      f = this.older.get(id);
      if (f === undefined) {
        this.outbox.count('stale-evaluation');
        return;
      }
      this.older.delete(id);
    }
    const L = this.lineage;
    const current = L.committed === f.round - 1 && digestEquals(L.digest, f.baseDigest) && L.doneReason === null;
    if (error !== null) this.outbox.count('evaluation-failed');
    else if (!current) this.outbox.count('stale-evaluation');
    if (f.audit !== null) {
      if (current && error === null) this.finishAudit(f, f.audit);
      for (const w of f.works) this.ctx.workPool.give(w);
      return;
    }
    const info = this.method.phase(f.phase);
    for (let i = 0; i < f.shards.length; i++) {
      const m = f.shards[i];
      const h = this.held.get(m);
      if (h === undefined || h.inflight !== f) continue;
      h.inflight = null;
      if (error !== null || !current) continue;
      let res: ReturnType<typeof this.method.finishUplink>;
      let bytes: Uint8Array;
      try {
        res = this.method.finishUplink(L.replica, h.state, f.works[i], m, f.phase);
        bytes = info.uplink.encode(res.payload);
        info.uplink.release?.(res.payload);
      } catch (e) {
        // Values that cannot be sent (±∞, NaN, beyond float32: a diverged model, a float16
        // overflow): no answer for this shard in this attempt, as for a failed evaluation (marked
        // sent, so that it is not evaluated again at once). The shard's state is untouched: a
        // step's new memory is adopted only with its commit.
        if (!(e instanceof ValidationError)) throw e;
        this.outbox.count('evaluation-failed');
        this.sent.set(m, this.sentSerial);
        continue;
      }
      if (this.pendingRound !== f.round) {
        this.clearPending();
        this.pendingRound = f.round;
      }
      if (h.pending === null) this.pendingCount++;
      h.pending = { bytes, flags: 0, memory: res.shard === null ? null : copyShard(res.shard, h.spare) };
    }
    // The evaluator is done with the buffers.
    for (const w of f.works) this.ctx.workPool.give(w);
    if (current && error === null) this.tryAnswer();
  }

  /**
   * Adopts the would-be shard memories of this peer's answers to `round` for the shards the commit
   * included. O(held shards · log M): the included list is not scanned.
   */
  adoptPending(round: number, included: readonly number[]): void {
    if (this.pendingCount === 0) {
      this.pendingRound = -1;
      return;
    }
    const adopt = this.pendingRound === round;
    const all = included.length === this.M;
    for (const [m, h] of this.held) {
      const p = h.pending;
      if (p === null) continue;
      h.pending = null;
      if (!adopt || p.flags & UP_FRESH || !(all || sortedHas(included, m))) continue;
      if (p.memory !== null) {
        if (p.memory === h.spare) {
          h.spare = h.state;
          h.state = p.memory;
        } else h.state = p.memory;
      }
      h.fresh = false;
    }
    this.pendingCount = 0;
    this.pendingRound = -1;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** Binary search in an ascending list. */
function sortedHas(list: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = list[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Copies a shard memory into `dst` when shapes match (no allocation); otherwise returns a clone. */
function copyShard(src: ShardState<Vec>, dst: ShardState<Vec>): ShardState<Vec> {
  const names = Object.keys(src.vectors);
  let same = names.length === Object.keys(dst.vectors).length;
  if (same) {
    for (const n of names) {
      const d = dst.vectors[n];
      if (d === undefined || d.length !== src.vectors[n].length) {
        same = false;
        break;
      }
    }
  }
  if (same) {
    for (const n of names) dst.vectors[n].set(src.vectors[n]);
    return dst;
  }
  const vectors: Record<string, Vec> = {};
  for (const n of names) vectors[n] = src.vectors[n].slice();
  return { vectors };
}

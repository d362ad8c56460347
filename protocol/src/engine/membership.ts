/**
 * The aggregator's membership table and shard assignment: who is alive (heartbeats and uplinks),
 * how far each member lags, which shards each holds, and the published successor list.
 *
 * Per heartbeat O(1) (plus O(held shards)); the O(peers) scan, rebalancing and successor ranking
 * run only at round boundaries (`boundary`). Only synchronised peers get shards: a member whose
 * last report lags by more than `syncSlack` rounds loses its shards until it catches up; one that
 * let `missLimit` deadlines in a row pass (a slow link or CPU, or a mute identity) — one, in a
 * round that needs every shard, if it never answered before — or whose answer was refused, is
 * benched for
 * leaseMs·2^(strikes−1) (guard.ts), its strikes cleared by its next accepted answer; benches are
 * remembered across this peer's epochs.
 */
import type { RunContext } from './context.js';
import { DIGEST_BYTES } from './digest.js';
import { rebalance } from './assignment.js';
import type { DeltaEntry } from './messages.js';
import type { Outbox } from './outbox.js';
import { peerBaseHash, topByWeight } from './rendezvous.js';
import { benchMs } from './guard.js';
import type { PeerId } from './types.js';
import { rateClass } from '../tree/roster.js';

export interface Member {
  readonly id: PeerId;
  readonly base: number;
  lastHeard: number;
  /** Last reported committed round / commit epoch / digest. */
  round: number;
  commitEpoch: number;
  readonly digest: Uint8Array;
  /** Rounds the member lagged behind the aggregator when it last reported (0 after a valid uplink). */
  lag: number;
  done: boolean;
  disconnected: boolean;
  /** Shards the aggregator has it hold. */
  readonly holding: Set<number>;
  /** Consecutive deadlines at which it held a wanted shard that did not answer. */
  missed: number;
  lastMissAt: number;
  /** Benches since its last accepted answer, and when the current one ends (ms). */
  strikes: number;
  benchedUntil: number;
  /** Whether the member counted as eligible at the last rebalance. */
  eligible: boolean;
  /** Reported upload rate class (kbit/s, 0 = unknown) and leaf flag, for the relay trees' roster. */
  upKbps: number;
  leaf: boolean;
  /** Its last reported version is certified (a signed commit behind it) or not better than ours. */
  verified: boolean;
}

export class Membership {
  readonly members = new Map<PeerId, Member>();
  readonly holders: (PeerId | null)[];
  /** Shards whose holder changed since the last broadcast delta. */
  readonly unsent = new Set<number>();
  /** Membership or eligibility changed since the last rebalance. */
  dirty = true;
  /** Some shard changed holder since the last full refresh. */
  holdersChanged = false;
  successors: string[] = [];
  /** The successor list changed since it was last broadcast. */
  successorsChanged = false;
  /** Shards with a holder (cached at round boundaries). */
  assigned = 0;
  /** The members or their reported capacities changed since the roster was last built. */
  rosterDirty = true;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly epoch: number,
    private readonly selfBase: number,
    /** Benches of earlier epochs of this peer (guard.ts): a re-elected aggregator remembers them. */
    private readonly benches: Map<PeerId, { strikes: number; until: number }> = new Map(),
    /** Peers whose answers this peer has accepted before (guard.ts). */
    private readonly proven: Set<PeerId> = new Set(),
  ) {
    this.holders = new Array<PeerId | null>(ctx.shards).fill(null);
  }

  get id(): PeerId {
    return this.outbox.id;
  }

  private lastCapScan = Number.NEGATIVE_INFINITY;

  /**
   * The record of member `id`, created on first contact; marks it heard now. Null when the table
   * is full (`ctx.maxMembers`): a newcomer is admitted only once a member has expired. Expired
   * members are looked for at most once per heartbeat period, so a flood of newcomers costs O(1)
   * each.
   */
  admit(id: PeerId): Member | null {
    if (id === this.id || this.members.has(id) || this.members.size < this.ctx.maxMembers) return this.touch(id);
    const now = this.outbox.now;
    if (now - this.lastCapScan >= this.ctx.timing.heartbeatMs) {
      this.lastCapScan = now;
      for (const m of this.members.values()) {
        if (m.id !== this.id && (now - m.lastHeard > this.ctx.timing.leaseMs || m.disconnected) && m.holding.size === 0) {
          this.members.delete(m.id);
          this.dirty = true;
          this.outbox.count('member-expired');
        }
      }
    }
    if (this.members.size < this.ctx.maxMembers) return this.touch(id);
    this.outbox.count('member-cap');
    return null;
  }

  /** Whether `id` is a member heard within a lease. */
  isMember(id: PeerId): boolean {
    const m = this.members.get(id);
    return m !== undefined && this.outbox.now - m.lastHeard <= this.ctx.timing.leaseMs;
  }

  /** The record of member `id`, created on first contact (callers outside `admit` only touch existing members or this peer); marks it heard now. */
  touch(id: PeerId): Member {
    let m = this.members.get(id);
    if (m === undefined) {
      m = {
        id,
        base: id === this.id ? this.selfBase : peerBaseHash(this.ctx.runId, id),
        lastHeard: this.outbox.now,
        round: 0,
        commitEpoch: 0,
        digest: new Uint8Array(DIGEST_BYTES),
        lag: Number.POSITIVE_INFINITY,
        done: false,
        disconnected: false,
        holding: new Set<number>(),
        missed: 0,
        lastMissAt: 0,
        strikes: this.benches.get(id)?.strikes ?? 0,
        benchedUntil: this.benches.get(id)?.until ?? Number.NEGATIVE_INFINITY,
        eligible: false,
        upKbps: 0,
        leaf: false,
        verified: false,
      };
      this.members.set(id, m);
      this.dirty = true;
      this.rosterDirty = true;
    }
    m.lastHeard = this.outbox.now;
    m.disconnected = false;
    return m;
  }

  /** Records a member's reported capacity (published as a rate class). */
  setCapacity(m: Member, upKbps: number, leaf: boolean): void {
    const c = rateClass(upKbps);
    if (c === m.upKbps && leaf === m.leaf) return;
    m.upKbps = c;
    m.leaf = leaf;
    this.rosterDirty = true;
  }

  setLag(m: Member, lag: number): void {
    lag = Math.max(0, lag);
    if (lag === m.lag) return;
    const before = this.isEligible(m);
    m.lag = lag;
    if (this.isEligible(m) !== before) this.dirty = true;
  }

  isEligible(m: Member): boolean {
    // The aggregator holds shards too unless it let its own deadlines pass (a slow or stuck evaluator).
    if (m.id === this.id) return this.outbox.now >= m.benchedUntil;
    return m.lag <= this.ctx.syncSlack && this.outbox.now >= m.benchedUntil && !m.done;
  }

  /**
   * A miss of member m (a deadline passed without its answer to n shards, or a refused answer: `now`):
   * after `missLimit` in a row, or at once, it is benched and its shards move at the next boundary.
   */
  miss(m: Member, now: boolean, n = 1): void {
    m.lastMissAt = this.outbox.now;
    if (now) m.missed = this.ctx.missLimit;
    else m.missed += n;
    if (m.missed < this.ctx.missLimit) return;
    m.missed = 0;
    m.strikes++;
    m.benchedUntil = this.outbox.now + benchMs(this.ctx.timing.leaseMs, m.strikes);
    this.benches.set(m.id, { strikes: m.strikes, until: m.benchedUntil });
    this.dirty = true;
    this.outbox.count('benched');
  }

  /** Member m's answer was accepted: its misses and strikes are cleared. */
  /** Whether member m has ever had an answer accepted by this peer (a mute identity never has). */
  isProven(m: Member): boolean {
    return this.proven.has(m.id);
  }

  answered(m: Member): void {
    this.proven.add(m.id);
    m.missed = 0;
    if (m.strikes > 0) this.benches.delete(m.id);
    m.strikes = 0;
  }

  /** Drops a banned peer: its shards move at the next boundary. */
  remove(id: PeerId): void {
    if (this.members.delete(id)) this.dirty = true;
  }

  eligibleCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.eligible) n++;
    return n;
  }

  countAssigned(): number {
    let n = 0;
    for (let s = 0; s < this.ctx.shards; s++) if (this.holders[s] !== null) n++;
    this.assigned = n;
    return n;
  }

  /** True when rounds may open: enough eligible peers and some shard assigned. */
  canRun(): boolean {
    return this.eligibleCount() >= this.ctx.minPeers && this.assigned > 0;
  }

  /** Gives back a delta that was not broadcast (the round did not open). */
  defer(delta: readonly DeltaEntry[]): void {
    for (const d of delta) this.unsent.add(d.shard);
  }

  /**
   * Round boundary: expire silent members, rebalance when membership or eligibility changed,
   * refresh the successor list. Returns the assignment delta not yet broadcast.
   */
  boundary(committed: number): DeltaEntry[] {
    const { leaseMs } = this.ctx.timing;
    const now = this.outbox.now;
    this.touch(this.id).round = committed;
    for (const m of this.members.values()) {
      if (m.id === this.id) {
        if (this.isEligible(m) !== m.eligible) this.dirty = true;
        continue;
      }
      if (now - m.lastHeard > leaseMs || m.disconnected) {
        this.members.delete(m.id);
        this.dirty = true;
        this.rosterDirty = true;
        this.outbox.count('member-expired');
      } else if (this.isEligible(m) !== m.eligible) {
        this.dirty = true;
      }
    }
    if (this.dirty) {
      this.dirty = false;
      const eligible: string[] = [];
      for (const m of this.members.values()) {
        m.eligible = this.isEligible(m);
        if (m.eligible) eligible.push(m.id);
      }
      const changes = rebalance(this.holders, eligible);
      for (const c of changes) {
        this.unsent.add(c.shard);
        if (c.from !== null) {
          const f = this.members.get(c.from);
          if (f) f.holding.delete(c.shard);
        }
        if (c.to !== null) (this.members.get(c.to) as Member).holding.add(c.shard);
      }
      if (changes.length > 0) {
        this.holdersChanged = true;
        this.outbox.count('reassigned-shards', changes.length);
      }
      const cands: { id: string; base: number }[] = [];
      for (const m of this.members.values()) if (m.eligible && m.id !== this.id) cands.push(m);
      const successors = topByWeight(cands, this.epoch + 1, this.ctx.successors);
      if (successors.length !== this.successors.length || successors.some((p, i) => p !== this.successors[i])) {
        this.successors = successors;
        this.successorsChanged = true;
      }
    }
    this.countAssigned();
    if (this.unsent.size === 0) return [];
    const shards = [...this.unsent].sort((a, b) => a - b);
    this.unsent.clear();
    return shards.map((s) => ({ shard: s, holder: this.holders[s] }));
  }
}

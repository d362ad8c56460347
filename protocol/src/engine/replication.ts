/**
 * Replication: applying commits in order, and fetching what is missing — replays of a few commits
 * from a peer's log, or a full snapshot — when a peer falls behind or ends up on a losing lineage.
 *
 * **Lost broadcasts.** A device that misses commit r notices at commit r + 1 (its parent is not
 * the device's state), keeps r + 1 aside, asks the aggregator for a replay of r, and applies r and
 * r + 1 as soon as the replay arrives. A device further behind than the retained log gets a
 * snapshot. Missing is not the same as late: a small message (commit r + 1, an ANNOUNCE) can
 * overtake a large commit r on another relay path, so a device one or two commits behind first
 * waits `syncGraceMs` (one heartbeat by default) for them. Asking at once made hundreds of devices
 * of a 10,000-peer swarm fetch the same 89 KB commit from the aggregator, whose uplink then held
 * its broadcasts back past the lease: a needless election and aborted rounds with the default
 * timing.
 *
 * **Only answers, only certified.** A STATE or REPLAY is taken only from the peer this peer asked
 * (its sync in progress), a REPLAY only when the aggregator of its epoch signed it, and a STATE
 * only when it carries the signed commit of a certified aggregator that produced its digest
 * (SHA-256 of the snapshot, recomputed here). Anything else is counted and dropped.
 */
import type { AnyMethod } from '../methods/types.js';
import type { PhaseName } from '../methods/types.js';
import { commitBodyBound, stateBodyBound, type RunContext } from './context.js';
import type { Device } from './device.js';
import { digestEquals, digestHex, replicaDigest } from './digest.js';
import { compareVersion, type Lineage } from './lineage.js';
import { type DecodedCommit, type StateHeader, decodeCommit, decodeStateInto, decodeStateRequest, encodeState, encodeStateRequest, MSG } from './messages.js';
import type { Outbox } from './outbox.js';
import type { Trust } from './trust.js';
import { ServingGate, stateRequestPadding, wireBytes } from './serving.js';
import type { EngineMessage, PeerId, TimerKind } from './types.js';

/** A device this many commits behind may just be waiting for them (see `reconcile`). */
const IN_FLIGHT_ROUNDS = 2;

/** Timers cleared when the run is over. */
const RUN_TIMERS: readonly TimerKind[] = ['hb', 'wd', 'claim', 'gather', 'deadline', 'commit'];

/** What replication needs from the aggregator role (which sits above it). */
export interface ReplicationHooks {
  isAggregating(): boolean;
  /** A state transfer the aggregator waited for is complete: resume rounds. True when it was waiting. */
  resumeAfterSync(): boolean;
  /** A state transfer timed out at the aggregator: do not chase that state again. */
  syncFailed(from: PeerId, round: number, digest: Uint8Array): void;
  /** The replica changed under the aggregator (replay, snapshot): its server memory is stale. */
  resetServer(): void;
  /** The run is over (this peer applied the last round). */
  onDone(): void;
  /** The epoch of the current aggregator. */
  epoch(): number;
  /** Whether `peer` is a member this peer serves state to (serving.ts). */
  mayServe(peer: PeerId): boolean;
}

interface SyncTarget {
  readonly from: PeerId;
  readonly since: number;
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
}

export class Replication {
  /** The state transfer in progress (one at a time). */
  sync: SyncTarget | null = null;
  /** A newer version heard of while its commits may still be in flight (see `reconcile`). */
  private behind: Omit<SyncTarget, 'since'> | null = null;
  /** The newest commit known to be on its way down the relay trees (its anchor arrived), and when. */
  private inbound: { epoch: number; round: number; at: number } | null = null;
  private gate: ServingGate | null = null;
  /** The next request pays for a full snapshot (the last one timed out: its padding may have been short). */
  private payForSnapshot = false;
  /** Largest commit body heard (applied or not): sizes the padding of replay requests. */
  private commitBytesSeen = 0;
  /** The peer this peer last asked for state, and until when its replays are taken. */
  private asked: { from: PeerId; until: number } | null = null;
  /** Commits received ahead of a missing one (bounded by the log length), by round. */
  private readonly early = new Map<number, { msg: EngineMessage; body: DecodedCommit }>();
  private readonly method: AnyMethod;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly lineage: Lineage,
    private readonly device: Device,
    private readonly trust: Trust,
    private readonly hooks: ReplicationHooks,
  ) {
    this.method = ctx.method;
  }

  get id(): PeerId {
    return this.outbox.id;
  }

  // ---------------------------------------------------------------- applying commits

  /** A commit heard from the aggregator: apply it, count a duplicate, or keep it and catch up. */
  onCommit(msg: EngineMessage, body: DecodedCommit): void {
    if (msg.body.length > this.commitBytesSeen) this.commitBytesSeen = msg.body.length;
    const L = this.lineage;
    const r = msg.round;
    if (L.extendedBy(r, body.parentDigest)) {
      this.applyCommit(msg, body);
      this.afterProgress();
    } else if (r === L.committed && digestEquals(body.digest, L.digest)) {
      this.outbox.count('duplicate-commit');
    } else {
      // A commit from the future (one before it was lost): keep it for when the gap is filled.
      if (r > L.committed + 1 && r - L.committed <= L.logLength) this.early.set(r, { msg, body });
      this.reconcile(msg.sender, r, msg.epoch, body.digest);
    }
  }

  /** Applies a commit that extends this peer's state (round = committed + 1, parent = digest). */
  private applyCommit(msg: EngineMessage, body: DecodedCommit): boolean {
    const L = this.lineage;
    const phase = body.phase;
    if (phase !== L.expectedPhase() || body.iteration !== L.replica.iteration) {
      this.outbox.count('phase-mismatch');
      this.startSync(msg.sender, msg.round, msg.epoch, body.digest, false);
      return false;
    }
    const info = this.method.phase(phase);
    // Shared with the other holders of this body in the process, read-only (shared-decodes.ts).
    const payload = body.payload === null ? null : this.ctx.decodes.downlink(info.downlink, body.payload, this.ctx.dim);
    const downlink = { payload, flags: body.flags, included: body.included };
    const iteration = L.apply(msg.round, msg.epoch, phase, downlink, () => this.device.adoptPending(msg.round, body.included), msg.body);
    L.cert = this.trust.certOf(msg, body);
    this.recordCommit(msg, iteration, phase, body.included);
    if (!digestEquals(L.digest, body.digest)) {
      this.outbox.count('digest-mismatch');
      this.startSync(msg.sender, msg.round, msg.epoch, body.digest, true);
    }
    return true;
  }

  /**
   * Re-applies a commit this peer applied before a restart (a launcher's write-ahead log): the
   * same application as `applyCommit`, no actions. False when it does not extend the state;
   * throws when it does not reproduce its digest (the log does not belong to this state).
   */
  restoreCommit(msg: EngineMessage): boolean {
    const body = decodeCommit(msg.body, this.ctx.limits);
    const L = this.lineage;
    if (!L.extendedBy(msg.round, body.parentDigest) || body.phase !== L.expectedPhase() || body.iteration !== L.replica.iteration) return false;
    const info = this.method.phase(body.phase);
    const payload = body.payload === null ? null : info.downlink.decode(body.payload, this.ctx.dim);
    L.apply(msg.round, msg.epoch, body.phase, { payload, flags: body.flags, included: body.included }, () =>
      this.device.adoptPending(msg.round, body.included),
    );
    if (payload !== null) info.downlink.release?.(payload);
    if (!digestEquals(L.digest, body.digest)) throw new Error(`restoring round ${msg.round}: the logged commit does not reproduce its digest`);
    L.logCommit(msg);
    return true;
  }

  /** Logs an applied commit (for replays), emits its `commit` action, and checks for the end of the run. */
  recordCommit(msg: EngineMessage, iteration: number, phase: PhaseName, included: readonly number[]): void {
    const L = this.lineage;
    L.logCommit(msg);
    this.outbox.push({
      type: 'commit',
      epoch: msg.epoch,
      round: msg.round,
      iteration,
      phase,
      included,
      digest: L.digestHex,
    });
    this.checkDone();
  }

  checkDone(): void {
    const L = this.lineage;
    if (L.doneReason !== null) return;
    const reason = L.finishReason();
    if (reason === null) return;
    L.doneReason = reason;
    this.outbox.push({ type: 'done', reason });
    for (const t of RUN_TIMERS) this.outbox.clearTimer(t);
    this.hooks.onDone();
  }

  // ---------------------------------------------------------------- catching up

  /**
   * Compares this peer's version with the aggregator's (round, epoch, digest): behind → fetch state
   * from it; ahead → tell it at once (it will fetch ours).
   */
  reconcile(aggregator: PeerId, round: number, epoch: number, digest: Uint8Array): void {
    const L = this.lineage;
    const c = L.versionVs(round, epoch, digest);
    if (c === 0) return;
    if (c < 0) {
      // Behind by a commit or two: they may well be in flight — an ANNOUNCE or a small later
      // COMMIT overtakes a large commit travelling down another relay path. Give them syncGraceMs
      // before asking: in a large swarm hundreds of devices asking the aggregator for the same
      // large commit at once fill its uplink, delay its broadcasts past the lease and cause a
      // needless election (seen at 10,000 peers).
      if (round > L.committed && round - L.committed <= IN_FLIGHT_ROUNDS && this.sync === null) {
        const b = this.behind;
        if (b === null) this.outbox.setTimer('behind', this.ctx.timing.syncGraceMs);
        if (b === null || compareVersion(round, epoch, digest, b.round, b.commitEpoch, b.digest) > 0) {
          this.behind = {
            from: aggregator,
            round,
            commitEpoch: epoch,
            digest: digest.slice(),
          };
        }
        return;
      }
      // Behind or on a losing lineage. A replay is possible only when we are a strict prefix.
      this.startSync(aggregator, round, epoch, digest, round <= L.committed);
    } else if (aggregator !== this.id && !this.hooks.isAggregating()) {
      this.device.sendHeartbeat();
    }
  }

  startSync(from: PeerId, round: number, epoch: number, digest: Uint8Array, snapshot: boolean): void {
    const s = this.sync;
    const now = this.outbox.now;
    if (s && s.from === from && now - s.since < this.ctx.timing.syncTimeoutMs) {
      if (compareVersion(round, epoch, digest, s.round, s.commitEpoch, s.digest) > 0) {
        this.sync = { ...s, round, commitEpoch: epoch, digest: digest.slice() };
      }
      return;
    }
    const L = this.lineage;
    this.sync = {
      from,
      since: now,
      round,
      commitEpoch: epoch,
      digest: digest.slice(),
    };
    this.asked = { from, until: now + this.ctx.timing.syncTimeoutMs };
    const body = encodeStateRequest({
      round: L.committed,
      digest: L.digest,
      snapshot,
      padding: this.padding(from, round, snapshot),
    });
    this.payForSnapshot = false;
    this.outbox.send(from, this.outbox.message(MSG.STATE_REQUEST, this.hooks.epoch(), L.committed, 0, body));
    this.outbox.setTimer('sync', this.ctx.timing.syncTimeoutMs);
    this.outbox.count('sync-request');
  }

  /** The host's relay reports a commit of `round` on its way down the relay trees. */
  noteInbound(epoch: number, round: number): void {
    const i = this.inbound;
    if (i === null || round > i.round || (round === i.round && epoch > i.epoch)) this.inbound = { epoch, round, at: this.outbox.now };
  }

  /**
   * Padding of a state request to `from` for the state of `round`: half of the answer expected —
   * a snapshot, or the commits missing when a replay is likely (few enough, and this peer has
   * seen commits to size them by), whichever is smaller.
   */
  private padding(from: PeerId, round: number, snapshot: boolean): number {
    const ctx = this.ctx;
    const L = this.lineage;
    const snap = wireBytes(stateBodyBound(ctx.shape), from.length, ctx.frameBytes);
    const missing = round - L.committed;
    // Commits run about as large as those heard lately; with none heard, at their bound.
    const heard = Math.max(L.largestLoggedCommit(), this.commitBytesSeen);
    const commitBytes = heard > 0 ? Math.ceil(1.25 * heard) + 64 : commitBodyBound(ctx.shards, ctx.dim);
    // A replay is likely when few enough commits are missing for the log.
    const replay = !snapshot && missing >= 1 && missing <= L.logLength ? missing * wireBytes(commitBytes, from.length, ctx.frameBytes) : null;
    // After a timeout (a replay cut short, or a snapshot sent instead of a replay), pay for either.
    const wanted = replay === null ? snap : this.payForSnapshot ? Math.max(snap, replay) : replay;
    // Never more than a request may carry (a longer replay is cut and asked for again).
    const expected = Math.min(wanted, ctx.largestAnswerWireBytes);
    const base = wireBytes(32, this.id.length, ctx.frameBytes);
    return stateRequestPadding(expected, base, ctx.serving.amplification);
  }

  /** The grace of `reconcile` is over: fetch what has not arrived meanwhile. */
  onBehindTimer(): void {
    const b = this.behind;
    this.behind = null;
    const L = this.lineage;
    if (b === null || this.sync !== null || L.versionVs(b.round, b.commitEpoch, b.digest) >= 0) return;
    // A missing commit is still coming down the relay trees (large commits take longer than a
    // heartbeat on slow links; the relays repair stalls themselves): wait for it, up to a lease
    // from when its anchor arrived, rather than fetch it a second time from the aggregator.
    const inb = this.inbound;
    if (inb !== null && inb.round > L.committed && inb.round <= b.round && this.outbox.now - inb.at < this.ctx.timing.leaseMs) {
      this.behind = b;
      this.outbox.setTimer('behind', this.ctx.timing.syncGraceMs);
      return;
    }
    this.outbox.count('sync-after-grace');
    this.startSync(b.from, b.round, b.commitEpoch, b.digest, b.round <= L.committed);
  }

  /** `aggregator`: the current aggregator, asked again when a sync of a device timed out. */
  onSyncTimeout(aggregator: PeerId | null): void {
    const s = this.sync;
    if (s === null || this.outbox.now - s.since < this.ctx.timing.syncTimeoutMs) return;
    this.sync = null;
    this.outbox.count('sync-timeout');
    const L = this.lineage;
    if (this.hooks.isAggregating()) {
      this.hooks.syncFailed(s.from, s.round, s.digest);
    } else if (aggregator !== null && L.versionVs(s.round, s.commitEpoch, s.digest) < 0) {
      // Still behind: ask the aggregator again (or a fresh one, after an election), paying for the
      // worst case this time (a replay cut short by its credit, or a snapshot it did not pay for).
      this.payForSnapshot = true;
      this.startSync(aggregator, s.round, s.commitEpoch, s.digest, s.round <= L.committed);
    }
  }

  /** Called after any change of this peer's state during a sync. */
  afterProgress(): void {
    const L = this.lineage;
    // Commits that arrived ahead of a gap apply as soon as the gap is filled.
    if (this.early.size > 0) {
      for (;;) {
        const e = this.early.get(L.committed + 1);
        if (e === undefined || !digestEquals(e.body.parentDigest, L.digest)) break;
        this.early.delete(L.committed + 1);
        if (!this.applyCommit(e.msg, e.body)) break;
        this.outbox.count('early-commit-applied');
      }
      for (const r of this.early.keys()) if (r <= L.committed) this.early.delete(r);
    }
    const s = this.sync;
    if (s !== null && L.versionVs(s.round, s.commitEpoch, s.digest) >= 0) {
      this.sync = null;
      this.outbox.clearTimer('sync');
      if (this.hooks.resumeAfterSync()) return;
    }
    if (!this.hooks.isAggregating()) this.device.tryAnswer();
  }

  // ---------------------------------------------------------------- serving state

  onStateRequest(msg: EngineMessage): void {
    const body = decodeStateRequest(msg.body);
    const from = msg.sender;
    if (!this.hooks.mayServe(from)) {
      this.outbox.count('state-request-not-member');
      return;
    }
    const L = this.lineage;
    const ctx = this.ctx;
    const now = this.outbox.now;
    if (body.round >= L.committed && !(body.snapshot && body.round === L.committed)) {
      this.outbox.count('state-request-not-behind');
      return;
    }
    const gate = (this.gate ??= new ServingGate(ctx.serving, ctx.timing.leaseMs, now));
    // What this request may get back: twice its own frame bytes.
    const credit = gate.credit(wireBytes(msg.body.length, from.length, ctx.frameBytes));
    const cost = (bodyBytes: number): number => wireBytes(bodyBytes, this.id.length, ctx.frameBytes);
    if (!body.snapshot && L.canReplay(body.round, body.digest)) {
      // Replays, not a snapshot, whenever the log allows: a snapshot resets the requester's shard
      // memories (a forced refresh), a replay keeps them.
      let sent = 0;
      let n = 0;
      for (let r = body.round + 1; r <= L.committed; r++) {
        const m = L.logged(r);
        const c = cost(m.body.length);
        if (sent + c > credit) {
          this.outbox.count(n === 0 ? 'state-request-unpaid' : 'replay-cut');
          break;
        }
        const refused = gate.take(from, c, now);
        if (refused !== null) {
          this.outbox.count(refused);
          break;
        }
        this.outbox.send(from, { ...m, kind: MSG.REPLAY, sender: this.id });
        sent += c;
        n++;
      }
      if (n > 0) this.outbox.count('replays-served');
      return;
    }
    const state = this.encodeReplica();
    const c = cost(state.length);
    if (c > credit) {
      this.outbox.count('state-request-unpaid');
      return;
    }
    const refused = gate.take(from, c, now);
    if (refused !== null) {
      this.outbox.count(refused);
      return;
    }
    this.outbox.send(from, this.outbox.message(MSG.STATE, this.hooks.epoch(), L.committed, 0, state));
    this.outbox.count('snapshots-served');
  }

  // ---------------------------------------------------------------- receiving state

  onReplay(msg: EngineMessage): void {
    const asked = this.asked;
    if (asked === null || msg.sender !== asked.from || this.outbox.now > asked.until) {
      this.outbox.count('unsolicited-replay');
      return;
    }
    const body = decodeCommit(msg.body, this.ctx.limits);
    if (!this.trust.verifyCommit(msg, body)) {
      this.outbox.count('bad-signature');
      return;
    }
    if (!this.lineage.extendedBy(msg.round, body.parentDigest)) {
      this.outbox.count('replay-skipped');
      return;
    }
    // The ban list it carries, read as a live commit's (bans.ts): a catching-up peer learns a ban
    // from the replayed commit that carried it, not 16 rounds later.
    const signer = this.trust.signerOf(msg.body);
    if (signer !== null) this.trust.bans.onCommit(msg.epoch, signer, body.bans, body.succession?.members ?? null);
    if (!this.applyCommit(msg, body)) return;
    this.outbox.count('replay-applied');
    const aggregating = this.hooks.isAggregating();
    if (aggregating) this.hooks.resetServer();
    if (body.next !== null && !aggregating) this.device.applyDelta(body.next.delta, msg.epoch, msg.round + 1, 0);
    this.afterProgress();
  }

  onState(msg: EngineMessage): void {
    const s = this.sync;
    if (s === null || msg.sender !== s.from) {
      this.outbox.count('unsolicited-state');
      return;
    }
    const L = this.lineage;
    const scratch = L.spare();
    const h = decodeStateInto(msg.body, this.ctx.shape, scratch.vectors);
    scratch.iteration = h.iteration;
    scratch.initialized = h.initialized;
    const d = replicaDigest(scratch, h.round, h.nextPhase, this.ctx.shape.names);
    if (!digestEquals(d, h.digest)) {
      this.outbox.count('state-digest-mismatch');
      return;
    }
    if (L.versionVs(h.round, h.commitEpoch, h.digest) >= 0) {
      this.outbox.count('state-not-newer');
      return;
    }
    if (!this.trust.verifyVersion(h.cert, h.round, h.commitEpoch, h.digest)) {
      this.outbox.count('uncertified-state');
      return;
    }
    if (h.nextPhase !== '') this.method.phase(h.nextPhase); // a phase of another method → typed error
    // Install: swap replicas; shard memories no longer match the replica → fresh.
    L.install(h);
    this.device.resetShards();
    const aggregating = this.hooks.isAggregating();
    if (aggregating) this.hooks.resetServer();
    this.outbox.count('state-installed');
    this.checkDone();
    if (!this.hooks.isAggregating()) this.device.sendHeartbeat();
    this.afterProgress();
    // A snapshot is a few rounds old by the time it is installed, in a run moving at full speed:
    // ask for the missing commits (a cheap replay) at once rather than after the sync timeout,
    // by which time the run may have moved past the serving peer's commit log again.
    const left = this.sync;
    if (left !== null && L.versionVs(left.round, left.commitEpoch, left.digest) < 0) {
      this.sync = null;
      this.startSync(left.from, left.round, left.commitEpoch, left.digest, false);
    }
  }

  /** For failure reports: the sync in progress as a key. */
  static key(from: PeerId, round: number, digest: Uint8Array): string {
    return `${from}|${round}|${digestHex(digest)}`;
  }

  /** This peer's replica as a STATE body (served snapshots, checkpoints); a view into a shared encoder buffer. */
  encodeReplica(): Uint8Array {
    const L = this.lineage;
    const header: StateHeader = {
      round: L.committed,
      commitEpoch: L.commitEpoch,
      digest: L.digest,
      iteration: L.replica.iteration,
      initialized: L.replica.initialized,
      nextPhase: L.nextPhase ?? '',
    };
    return encodeState(header, L.replica.vectors, this.ctx.shape, L.cert);
  }
}

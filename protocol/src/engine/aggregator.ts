/**
 * The aggregator role: a peer elected for an epoch gathers heartbeats, opens rounds, collects the
 * holders' answers, aggregates them with the method's server step, commits and broadcasts.
 *
 * Modes: `gather` (a new epoch collects heartbeats for `gatherMs`: each carries the sender's
 * version and held shards), `idle` (no round open: paused for lack of peers, or between rounds),
 * `round`, `sync` (fetching a better state a member reported before going on), `done`.
 *
 * A round commits as soon as every assigned shard answered, or at the deadline if at least
 * `quorum` shards answered (compressed phases). Below the quorum — and in phases with
 * `requiresAll` whenever any shard is missing — it re-opens the same round (attempt + 1) for the
 * missing shards only, after reassigning the shards of holders that died or missed `missLimit`
 * deadlines; the answers already in stay valid because the round's base state has not changed.
 *
 * Untrusted answers (guard.ts): a payload that does not decode or exceeds its bound is refused —
 * a miss of its holder at once (benched, its shards move; the round is retried without waiting
 * for the deadline when nothing else is outstanding) — and repeated refusals ban the sender. An
 * audited shard's answer waits, outside the sum, until the auditor's answer matches it bit for bit
 * (or the aggregator's own settles a mismatch); a ban re-opens the round without the liar.
 */
import { MashaError } from '../errors.js';
import type { Payload } from '../compress/types.js';
import type { AnyMethod, PhaseInfo } from '../methods/types.js';
import { type AggState, newAggState, type OpenKind } from './agg-state.js';
import type { RunContext } from './context.js';
import type { Device } from './device.js';
import type { Election } from './election.js';
import { compareVersion, type Lineage } from './lineage.js';
import { Membership, type Member } from './membership.js';
import {
  AN_DONE,
  AN_GATHER,
  decodeHeartbeat,
  decodeUplink,
  type DeltaEntry,
  encodeAnnounce,
  encodeCommit,
  encodeOpen,
  MSG,
  UP_AUDIT,
  UP_FRESH,
  type UplinkEntry,
} from './messages.js';
import { AuditDesk } from './audit-desk.js';
import type { Guard, Verdict } from './guard.js';
import type { Outbox } from './outbox.js';
import { phaseCode } from './phase-code.js';
import { Replication } from './replication.js';
import type { EngineMessage, PeerId } from './types.js';
import { encodeRoster } from '../tree/roster.js';
import { MemberIntake } from './member-intake.js';
import { nextRoster } from './roster-plan.js';
import type { Trust } from './trust.js';
import { successionStatement, type SignedSuccession } from '../trust/certs.js';

export class Aggregator {
  private agg: AggState | null = null;
  private readonly method: AnyMethod;
  private readonly M: number;
  private readonly desk: AuditDesk;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly lineage: Lineage,
    private readonly election: Election,
    private readonly device: Device,
    private readonly replication: Replication,
    private readonly trust: Trust,
    private readonly guard: Guard,
  ) {
    this.method = ctx.method;
    this.M = ctx.shards;
    this.desk = new AuditDesk(ctx, outbox, guard, device, lineage, election, {
      answered: (s) => this.markAnswered(s),
      restart: () => this.restartRound(),
    });
    this.intake = new MemberIntake(ctx, outbox, lineage, trust);
  }

  private readonly intake: MemberIntake;
  /** The signed succession statement of the current successor list (re-signed when it changes). */
  private signed: { key: string; succession: SignedSuccession } | null = null;

  get id(): PeerId {
    return this.outbox.id;
  }

  get active(): boolean {
    return this.agg !== null;
  }

  // ================================================================ epochs

  /** Claims `epoch` (this peer's claim timer fired, or it wins an election some other way). */
  become(epoch: number): void {
    const agg = newAggState(
      epoch,
      this.ctx,
      this.method,
      this.M,
      new Membership(this.ctx, this.outbox, epoch, this.election.selfBase, this.guard.benches, this.guard.proven),
    );
    this.outbox.lastBroadcast = this.outbox.now;
    this.agg = agg;
    this.signed = null;
    this.intake.newEpoch();
    this.election.adopt(epoch, this.id);
    this.outbox.clearTimer('wd');
    const me = agg.table.touch(this.id);
    me.round = this.lineage.committed;
    for (const m of this.device.heldList()) {
      agg.table.holders[m] = this.id;
      me.holding.add(m);
    }
    this.announce();
    this.outbox.setTimer('gather', this.ctx.timing.gatherMs);
  }

  stepDown(): void {
    this.agg = null;
    this.outbox.clearTimer('deadline');
    this.outbox.clearTimer('gather');
    this.outbox.setTimer('wd', this.ctx.timing.leaseMs);
    this.outbox.count('step-down');
  }

  /** Eligible members of this epoch's table (0 when not aggregating): the `n` of a ban's cap (bans.ts). */
  get memberCount(): number {
    return this.agg?.table.eligibleCount() ?? 0;
  }

  /** Whether `peer` is a member of this aggregator's table (heard within a lease). */
  isMember(peer: PeerId): boolean {
    return this.agg !== null && this.agg.table.isMember(peer);
  }

  /** A transport hint that `peer`'s connection closed. */
  onDisconnect(peer: PeerId): void {
    const m = this.agg?.table.members.get(peer);
    if (m && peer !== this.id) m.disconnected = true;
  }

  // ================================================================ hooks of the lower roles

  /** Replication finished a state transfer: resume rounds if it waited for it. */
  resumeAfterSync(): boolean {
    const agg = this.agg;
    if (agg === null || agg.mode !== 'sync') return false;
    agg.mode = 'idle';
    this.tryOpen();
    return true;
  }

  syncFailed(from: PeerId, round: number, digest: Uint8Array): void {
    const agg = this.agg as AggState;
    agg.failedSync.add(Replication.key(from, round, digest));
    if (agg.mode === 'sync') {
      agg.mode = 'idle';
      this.tryOpen();
    }
  }

  /** A proven equivocator: no longer a member; its shards move at the next boundary. */
  onBan(peer: PeerId): void {
    const agg = this.agg;
    if (agg === null || !agg.table.members.has(peer)) return;
    agg.table.members.delete(peer);
    agg.table.dirty = true;
  }

  /** The successor list with this aggregator's signed succession statement. */
  private succession(T: Membership): SignedSuccession | null {
    if (T.successors.length === 0) return null;
    const members = T.eligibleCount();
    const key = `${this.election.epoch}|${members}|${T.successors.join(',')}`;
    if (this.signed === null || this.signed.key !== key) {
      const sig = this.trust.sign(successionStatement(this.ctx.runId, this.election.epoch, this.id, members, T.successors));
      this.signed = { key, succession: { members, sig } };
      this.election.ownSuccession(members, T.successors, sig);
    }
    return this.signed.succession;
  }

  resetServer(): void {
    if (this.agg) this.agg.server = this.method.initServer();
  }

  onDone(): void {
    if (this.agg) {
      this.agg.mode = 'done';
      this.announce();
    }
  }

  /** The aggregator's own answers (instead of the network). */
  ingestOwn(entries: readonly UplinkEntry[]): boolean {
    if (this.agg === null) return false;
    this.ingest(this.id, entries);
    return true;
  }

  // ================================================================ timers

  onGatherTimer(): void {
    if (this.agg && this.agg.mode === 'gather') {
      this.agg.mode = 'idle';
      this.tryOpen();
    }
  }

  onCommitTimer(): void {
    const agg = this.agg;
    if (agg && agg.mode === 'round' && agg.answeredCount === agg.table.assigned) this.commit();
  }

  /** The heartbeat period of the aggregator: re-open a paused round, announce when idle. */
  tick(): void {
    const agg = this.agg as AggState;
    if (agg.mode === 'idle') this.tryOpen();
    if (this.agg && this.outbox.now - this.outbox.lastBroadcast >= this.ctx.timing.heartbeatMs) this.announce();
  }

  private announce(): void {
    const agg = this.agg as AggState;
    const L = this.lineage;
    const flags = (agg.mode === 'gather' ? AN_GATHER : 0) | (L.doneReason !== null ? AN_DONE : 0);
    const body = encodeAnnounce({
      round: L.committed,
      commitEpoch: L.commitEpoch,
      digest: L.digest,
      flags,
      successors: agg.table.successors,
      succession: this.succession(agg.table),
      chain: this.election.chain,
    });
    this.outbox.broadcast(this.outbox.message(MSG.ANNOUNCE, this.election.epoch, L.committed, 0, body));
  }

  /**
   * Round boundary: publishes the relay trees' roster when the membership or a member's reported
   * capacity changed (and this epoch's broadcasts are large enough to use the trees). Every peer
   * computes the same trees from it (tree/layout.ts).
   */
  private publishRoster(): void {
    const agg = this.agg as AggState;
    const T = agg.table;
    if (!this.ctx.broadcast.tree || !agg.treeWorthy || !T.rosterDirty) return;
    T.rosterDirty = false;
    const roster = nextRoster(this.ctx, T, agg, this.id);
    if (roster === null) return;
    agg.roster = roster;
    const L = this.lineage;
    this.outbox.broadcast(this.outbox.message(MSG.ROSTER, agg.epoch, L.committed, 0, encodeRoster(roster)));
    this.outbox.push({ type: 'roster', roster });
  }

  // ================================================================ members

  onHeartbeat(msg: EngineMessage): void {
    const agg = this.agg;
    const body = decodeHeartbeat(msg.body, this.ctx.limits);
    if (agg === null || msg.epoch !== agg.epoch) {
      this.outbox.count(msg.epoch < this.election.epoch ? 'stale-epoch' : 'misdirected');
      return;
    }
    if (this.guard.isBanned(msg.sender)) {
      this.outbox.count('banned-sender');
      return;
    }
    const T = agg.table;
    if (!T.members.has(msg.sender) && !this.intake.admit(agg.mode === 'gather', T, msg.sender, body.token)) {
      this.outbox.count('not-admitted');
      return;
    }
    const m = T.admit(msg.sender);
    if (m === null) return;
    this.intake.record(agg.mode === 'gather', T, m, msg.sender, body);
    // A better state than ours, certified: fetch it before going on.
    if (m.verified && this.lineage.versionVs(body.round, body.commitEpoch, body.digest) < 0 && agg.mode !== 'gather') {
      this.chase(m);
    }
  }

  /** Aborts the current round, if any, and fetches the better state of member m. */
  private chase(m: Member): boolean {
    const agg = this.agg as AggState;
    if (agg.mode === 'sync' || agg.mode === 'done') return agg.mode === 'sync';
    if (agg.failedSync.has(Replication.key(m.id, m.round, m.digest))) return false;
    if (agg.mode === 'round') {
      this.outbox.count('aborted-round');
      this.outbox.clearTimer('deadline');
    }
    agg.mode = 'sync';
    this.replication.startSync(m.id, m.round, m.commitEpoch, m.digest, m.round <= this.lineage.committed);
    return true;
  }

  // ================================================================ answers

  onUplink(msg: EngineMessage): void {
    const agg = this.agg;
    if (agg === null || msg.epoch !== agg.epoch) {
      this.outbox.count(msg.epoch < this.election.epoch ? 'stale-epoch' : 'misdirected');
      return;
    }
    if (this.guard.isBanned(msg.sender)) {
      this.outbox.count('banned-sender');
      return;
    }
    const T = agg.table;
    if (!T.members.has(msg.sender)) {
      // Members join by heartbeat (where the admission policy is applied); a device that answers
      // a round is asked for one.
      this.outbox.count('not-admitted');
      return;
    }
    const m = T.touch(msg.sender);
    const committed = this.lineage.committed;
    if (agg.mode !== 'round' || msg.round !== agg.round) {
      if (msg.round <= committed) {
        this.outbox.count('late-uplink');
        // The sender was at round − 1 when it answered: that is how far behind it runs.
        T.setLag(m, committed - (msg.round - 1));
      } else this.outbox.count('misdirected');
      return;
    }
    if (msg.phase !== phaseCode(agg.phase)) {
      this.outbox.count('bad-message');
      return;
    }
    const body = decodeUplink(msg.body, this.ctx.limits);
    m.lag = 0;
    this.ingest(msg.sender, body.entries);
  }

  /** Takes a holder's answers for the current round (remote, or this peer's own). */
  private ingest(sender: PeerId, entries: readonly UplinkEntry[]): void {
    const agg = this.agg as AggState;
    const info = agg.info as PhaseInfo;
    const holders = agg.table.holders;
    let accepted = false;
    for (const e of entries) {
      // A ban (or the re-opened round it causes) ends this message's turn.
      if (this.agg !== agg || agg.mode !== 'round' || this.guard.isBanned(sender)) return;
      const s = e.shard;
      if (e.flags & UP_AUDIT) {
        this.desk.onAnswer(agg, sender, e);
        if (this.agg !== agg) return;
        continue;
      }
      if (holders[s] !== sender) {
        this.outbox.count('unassigned-uplink');
        continue;
      }
      if (agg.answered[s] === 1 || agg.refused[s] === 1 || agg.audits.cases.get(s)?.primaryBytes) {
        this.outbox.count('duplicate-uplink');
        continue;
      }
      if (e.flags & UP_FRESH) {
        if (info.requiresAll) {
          this.outbox.count('bad-message');
          continue;
        }
        if (agg.audits.cases.delete(s)) this.outbox.count('audit-moot');
        agg.freshAnswer[s] = 1;
        agg.sum.skip(s);
        this.markAnswered(s);
        // Not evidence of work (a mute identity can send it): its strikes stay.
        continue;
      }
      let payload: Payload;
      try {
        payload = info.uplink.decode(e.payload, this.ctx.dim);
      } catch (err) {
        if (err instanceof MashaError) {
          this.refuse(sender, s, 'bad-payload');
          continue;
        }
        throw err;
      }
      const verdict = sender === this.id ? null : this.judge(s, payload);
      if (verdict !== null && verdict.kind === 'reject') {
        info.uplink.release?.(payload);
        this.refuse(sender, s, 'out-of-bound');
        continue;
      }
      accepted = true;
      agg.table.weights?.answered(sender, 1, this.outbox.now);
      const c = agg.audits.cases.get(s);
      if (c !== undefined) {
        c.primary = sender;
        c.primaryBytes = e.payload;
        c.primaryPayload = payload;
        this.desk.resolve(agg, s);
        continue;
      }
      if (verdict !== null && verdict.kind === 'clip') {
        info.uplink.release?.(payload);
        agg.sum.addDense(s, this.guard.clipped);
        this.outbox.count('clipped');
      } else if (verdict !== null && verdict.kind === 'defer') agg.sum.addDeferred(s, e.payload, payload);
      else agg.sum.add(s, e.payload, payload);
      this.markAnswered(s);
    }
    if (this.agg !== agg || agg.mode !== 'round') return;
    if (accepted) {
      const m = agg.table.members.get(sender);
      if (m) agg.table.answered(m);
    }
    this.afterAnswers(sender);
  }

  private markAnswered(s: number): void {
    const agg = this.agg as AggState;
    agg.answered[s] = 1;
    agg.answeredCount++;
  }

  /** The round may be complete (commit), or stuck on refused answers only (retry at once). */
  private afterAnswers(sender: PeerId): void {
    const agg = this.agg as AggState;
    if (agg.mode !== 'round') return;
    if (agg.answeredCount === agg.table.assigned) {
      // The aggregator's own answers complete a round only through a zero-delay timer, so that a
      // peer holding every shard yields to its driver between rounds instead of recursing.
      if (sender === this.id) this.outbox.setTimer('commit', 0);
      else this.commit();
      return;
    }
    const refused = agg.refusedCount;
    if (refused > 0 && agg.answeredCount + refused === agg.table.assigned && agg.audits.cases.size === 0) this.onDeadline();
  }

  /** Bound check of a remote answer (null: not checked this round). */
  private judge(s: number, payload: Payload): Verdict | null {
    const agg = this.agg as AggState;
    if (!this.guard.checking) return null;
    return this.guard.judge(this.lineage.replica, agg.phase, s, payload);
  }

  /** Refuses shard s's answer from `sender`: a miss at once, and a ban after repeated refusals. */
  private refuse(sender: PeerId, s: number, reason: 'bad-payload' | 'out-of-bound'): void {
    const agg = this.agg as AggState;
    this.outbox.count(reason);
    if (agg.refused[s] === 0) {
      agg.refused[s] = 1;
      agg.refusedCount++;
    }
    if (sender === this.id) return;
    const m = agg.table.members.get(sender);
    if (m) agg.table.miss(m, true);
    if (this.guard.refuse(sender)) this.banned(sender);
  }

  /** `peer` was just banned: out of the table, and the round re-opened without it. */
  private banned(peer: PeerId): void {
    const agg = this.agg as AggState;
    this.outbox.count('banned');
    agg.table.remove(peer);
    if (agg.mode === 'round') this.restartRound();
  }

  /** Re-opens the current round from scratch (a banned holder's answers may be in the sum). */
  private restartRound(): void {
    const agg = this.agg as AggState;
    this.outbox.clearTimer('deadline');
    this.outbox.count('aborted-round');
    const delta = agg.table.boundary(this.lineage.committed);
    if (!agg.table.canRun()) {
      agg.table.defer(delta);
      agg.mode = 'idle';
      this.outbox.count('round-paused');
      return;
    }
    this.openRound(agg.round, delta, 'explicit');
  }

  // ================================================================ opening rounds

  /** Opens the next round with an explicit OPEN if everything allows it. */
  private tryOpen(): void {
    const agg = this.agg as AggState;
    if (agg.mode !== 'idle') return;
    const L = this.lineage;
    if (L.doneReason !== null) {
      agg.mode = 'done';
      return;
    }
    // A better state reported during the gather (or since): fetch it first.
    let best: Member | null = null;
    for (const m of agg.table.members.values()) {
      if (m.id === this.id || !m.verified || agg.failedSync.has(Replication.key(m.id, m.round, m.digest))) continue;
      if (L.versionVs(m.round, m.commitEpoch, m.digest) >= 0) continue;
      if (best === null || compareVersion(m.round, m.commitEpoch, m.digest, best.round, best.commitEpoch, best.digest) > 0) best = m;
    }
    if (best !== null && this.chase(best)) return;
    // A resumed run: never open a round below the state it resumes from; fetch it from its source.
    const resume = this.ctx.resume;
    if (resume !== null && L.versionVs(resume.round, resume.commitEpoch, resume.digest) < 0 && resume.source !== this.id) {
      agg.mode = 'sync';
      this.replication.startSync(resume.source, resume.round, resume.commitEpoch, resume.digest, true);
      this.outbox.count('resume-sync');
      return;
    }
    const T = agg.table;
    const delta = T.boundary(L.committed);
    this.publishRoster();
    if (!T.canRun()) {
      T.defer(delta);
      this.outbox.count('round-paused');
      return;
    }
    this.openRound(L.committed + 1, delta, 'explicit');
  }

  /**
   * The one way a round (or a new attempt of it) opens: devices learn it from an OPEN (explicit,
   * retry) or from the previous round's COMMIT (implicit); the aggregator's own device part follows.
   * A retry keeps the answers already in and asks only for the missing shards.
   */
  private openRound(round: number, delta: DeltaEntry[], kind: OpenKind): void {
    const agg = this.agg as AggState;
    const L = this.lineage;
    const T = agg.table;
    const attempt = agg.lastOpened.round === round ? agg.lastOpened.attempt + 1 : 0;
    agg.lastOpened = { round, attempt };
    agg.attempt = attempt;
    agg.refused.fill(0);
    agg.refusedCount = 0;
    T.weights?.open(this.outbox.now);
    if (kind !== 'retry') {
      agg.mode = 'round';
      agg.round = round;
      agg.phase = L.expectedPhase();
      agg.info = this.method.phase(agg.phase);
      agg.sum.reset(L.replica, agg.phase, agg.info);
      agg.answered.fill(0);
      agg.freshAnswer.fill(0);
      agg.answeredCount = 0;
      agg.auditable = this.guard.beginRound(round, L.replica, agg.phase, agg.info.uplink).auditable;
    }
    const phase = agg.phase;
    let selfWanted: Set<number> | null = null;
    if (kind !== 'implicit') {
      const wanted: number[] = [];
      for (let s = 0; s < this.M; s++) if (T.holders[s] !== null && (kind !== 'retry' || agg.answered[s] === 0)) wanted.push(s);
      const body = encodeOpen(
        {
          attempt,
          iteration: L.replica.iteration,
          phase,
          baseEpoch: L.commitEpoch,
          baseDigest: L.digest,
          deadlineMs: this.ctx.timing.roundDeadlineMs,
          delta,
          wanted: kind === 'explicit' && wanted.length === this.M ? this.ctx.limits.allShards : wanted,
          successors: T.successors,
          succession: this.succession(T),
          chain: this.election.chain,
        },
        this.M,
      );
      this.outbox.broadcast(this.outbox.message(MSG.OPEN, this.election.epoch, round, phaseCode(phase), body));
      if (kind === 'retry') {
        selfWanted = new Set<number>();
        for (const s of wanted) if (T.holders[s] === this.id) selfWanted.add(s);
      }
    }
    if (kind !== 'retry') this.desk.open(agg, round, attempt);
    this.outbox.setTimer('deadline', this.ctx.timing.roundDeadlineMs);
    const D = this.device;
    D.applyDelta(delta, this.election.epoch, round, attempt);
    D.open = { epoch: this.election.epoch, round, attempt, phase, baseEpoch: L.commitEpoch, baseDigest: L.digest.slice(), wanted: selfWanted };
    D.tryAnswer();
  }

  onDeadline(): void {
    const agg = this.agg;
    if (agg === null || agg.mode !== 'round') return;
    const info = agg.info as PhaseInfo;
    const T = agg.table;
    this.desk.expire(agg);
    // Holders that let the deadline pass: after `missLimit` in a row they are benched and their
    // shards move elsewhere (a refused answer counted as a miss already; an audited answer is in).
    const missed = new Map<Member, number>();
    for (let s = 0; s < this.M; s++) {
      const h = T.holders[s];
      if (h !== null && agg.answered[s] === 0 && agg.refused[s] === 0 && !agg.audits.cases.get(s)?.primaryBytes) {
        const m = T.members.get(h);
        if (m) missed.set(m, (missed.get(m) ?? 0) + 1);
      }
    }
    // A holder that never answered and holds up a round that needs every shard: benched at once.
    for (const [m, n] of missed) T.miss(m, info.requiresAll && !T.isProven(m), n);
    const enough = info.requiresAll ? agg.answeredCount === this.M : agg.answeredCount >= this.ctx.quorum;
    if (enough && agg.answeredCount > 0) {
      this.commit();
      return;
    }
    // Not enough: reassign what must move and re-open the round for the missing shards.
    this.outbox.count('round-retry');
    const delta = T.boundary(this.lineage.committed);
    this.publishRoster();
    if (!T.canRun()) {
      // Too few peers left to go on: pause (the heartbeat tick re-opens when they are back).
      T.defer(delta);
      agg.mode = 'idle';
      this.outbox.count('round-paused');
      return;
    }
    this.openRound(agg.round, delta, 'retry');
  }

  // ================================================================ committing

  private commit(): void {
    const agg = this.agg as AggState;
    const info = agg.info as PhaseInfo;
    const T = agg.table;
    const L = this.lineage;
    const phase = agg.phase;
    const round = agg.round;
    this.outbox.clearTimer('deadline');
    let anyFresh = false;
    for (let s = 0; s < this.M; s++) if (agg.freshAnswer[s] === 1) anyFresh = true;
    const forceRefresh = !info.requiresAll && (T.holdersChanged || anyFresh);
    if (forceRefresh) this.outbox.count('forced-refresh');
    // Warm-up answers get their verdict now that the round's answers are in (guard.ts).
    const uplinks = agg.sum.finish(this.guard.checking ? this.guard.settle(phase) : null);
    if (agg.sum.deferred > 0) this.outbox.count('warmup-judged', agg.sum.deferred);
    if (agg.sum.clipped > 0) this.outbox.count('clipped', agg.sum.clipped);
    const downlink = this.method.serverAggregate(agg.server, L.replica, phase, uplinks, { forceRefresh });
    const payloadBytes = downlink.payload === null ? null : info.downlink.encode(downlink.payload);
    if (downlink.payload !== null) info.downlink.release?.(downlink.payload);
    // Apply exactly what devices will decode.
    const decoded = payloadBytes === null ? null : info.downlink.decode(payloadBytes, this.ctx.dim);
    const included = downlink.included.length === this.M ? this.ctx.limits.allShards : downlink.included;
    const parent = L.digest.slice();
    // The commit's body needs the post-apply digest: apply first, then build the message.
    const epoch = this.election.epoch;
    const iteration = L.apply(round, epoch, phase, { payload: decoded, flags: downlink.flags, included }, () => this.device.adoptPending(round, included));
    if (decoded !== null) info.downlink.release?.(decoded);
    if (info.requiresAll) T.holdersChanged = false;
    if (payloadBytes !== null) {
      if (payloadBytes.length >= this.ctx.broadcast.minBytes) agg.treeWorthy = true;
      if (payloadBytes.length > agg.largestBody) agg.largestBody = payloadBytes.length;
    }
    let next: { delta: DeltaEntry[] } | null = null;
    if (L.finishReason() === null) {
      T.roundDone();
      const delta = T.boundary(L.committed);
      // The roster goes out before the commit, so the commit can travel down its trees.
      this.publishRoster();
      if (T.canRun()) next = { delta };
      else T.defer(delta);
    }
    // Successors (and the ban list, bans.ts) travel when they change and every 16th round (for peers that missed it).
    const sendSuccessors = T.successorsChanged || this.trust.bans.changed || round % 16 === 0;
    T.successorsChanged = false;
    const body = encodeCommit(
      {
        iteration,
        phase,
        flags: downlink.flags,
        parentDigest: parent,
        digest: L.digest,
        included,
        payload: payloadBytes,
        successors: sendSuccessors ? T.successors : [],
        succession: sendSuccessors ? this.succession(T) : null,
        chain: sendSuccessors ? this.election.chain : null,
        next,
        bans: sendSuccessors ? this.trust.bans.wire() : null,
      },
      this.M,
      this.trust.signCommit(epoch, round, parent, L.digest),
    );
    if (body.length >= this.ctx.broadcast.minBytes) agg.treeWorthy = true;
    if (body.length > agg.largestBody) agg.largestBody = body.length;
    const msg = this.outbox.message(MSG.COMMIT, epoch, round, phaseCode(phase), body);
    L.cert = this.trust.ownCert(msg);
    this.outbox.broadcast(msg);
    this.replication.recordCommit(msg, iteration, phase, included);
    if (this.agg === null || this.agg.mode === 'done') return;
    if (next !== null) this.openRound(round + 1, next.delta, 'implicit');
    else {
      agg.mode = 'idle';
      this.outbox.count('round-paused');
    }
  }
}

/**
 * The sans-I/O round engine: one `MashaPeer` per volunteer. It is a device (it holds shards and
 * answers rounds) and, when elected, the aggregator of its epoch. Drivers (sim/, node/, browser/)
 * feed it `EngineEvent`s stamped with their clock and carry out the `EngineAction`s it returns; it
 * never reads a clock, sets a real timer, touches a socket or draws unseeded randomness.
 *
 * # Design (SPEC §5, with the changes below and why)
 *
 * **Replicated state and lineage.** Every peer holds the method's replica (z, w, F(w), …), the
 * number `round` of the last committed round it applied, the epoch in which that round was
 * committed, and the SHA-256 digest of the replica. A commit carries the digest before (parent) and
 * after its application: a peer applies commit r only when it has applied r − 1 *and* its digest is
 * the parent, so no round is applied twice or out of order, and a peer on another lineage cannot
 * mistake a commit for its own. Versions are totally ordered by (round, commit epoch, digest): the
 * higher version wins whenever two lineages meet (a healed partition), everyone else transfers
 * state. A peer keeps the last `logRounds` commits and serves them as replays to peers that are a
 * few rounds behind (cheap: compressed downlinks), a full snapshot otherwise.
 *
 * **Heartbeats go to the aggregator only** (SPEC §5 suggests membership by heartbeats; all-to-all
 * heartbeats cost O(N²) messages per period, which a 1,000-peer swarm cannot afford). Devices tell
 * the aggregator they live (uplinks count as heartbeats); the aggregator's broadcasts (commits, or
 * an ANNOUNCE when idle for a heartbeat period) tell devices it lives. The aggregator keeps the
 * membership table: O(1) per heartbeat, O(N) scans only at round boundaries.
 *
 * **Election without votes** (election.ts): the aggregator of epoch e is the highest rendezvous
 * weight H(runId, e, p) among the live peers. Since no peer but the aggregator knows the whole
 * membership, the aggregator publishes the top `successors` live, synchronised peers by
 * H(runId, e + 1, ·) (in ANNOUNCEs, OPENs, and in COMMITs when the list changes and every 16th
 * round); when its aggregator goes silent past the lease, a device claims the next epoch after a
 * delay set by its place in that list (or by its own weight), with an ANNOUNCE of the new epoch.
 * Messages of older epochs are ignored and counted (`stale-epoch`).
 *
 * **No round lost or applied twice across a failover.** A new aggregator first gathers heartbeats
 * for `gatherMs` (each carries the sender's version and held shards). If a device reports a better
 * version — it applied a commit the new aggregator missed, because the old one died while
 * broadcasting it — the aggregator fetches that state before opening the next round. A device
 * that sees a round opened on an older base than its own tells the aggregator (heartbeat), which
 * aborts the round and syncs. A commit any live peer applied therefore survives; a commit that
 * reached nobody alive was never observable.
 *
 * **Rounds.** A round is one phase of the method. The aggregator opens round r (explicitly with an
 * OPEN, or implicitly: a COMMIT of r − 1 carries the next round's assignment changes and opens it,
 * saving one broadcast per round), holders answer with one UPLINK carrying every shard they hold,
 * the aggregator aggregates and COMMITs, every peer applies. It commits as soon as every assigned
 * shard answered, or at the deadline if at least `quorum` shards answered (compressed phases).
 * Below the quorum — and in phases with `requiresAll` (F(w) refreshes, EG exchanges) whenever any
 * shard is missing — it does not commit: it re-opens the same round (attempt + 1) for the missing
 * shards only, after reassigning the shards of holders that died or missed `missLimit` deadlines;
 * the answers already in stay valid because the round's base state has not changed. Answers for a
 * round that has committed are dropped and counted (`late-uplink`).
 *
 * **Missing shards and churn keep the estimate sound.** In a compressed-difference phase a missing
 * shard m contributes zero with weight 1/M (the method's rule): the server's g^k misses
 * (1/M)·Q(F_m(z^{k+½}) − F_m(w^k)). That term is a *difference* of one operator at two points that
 * both converge to z*, bounded by L_m‖z^{k+½} − w^k‖ — the same kind of error the compressor's
 * variance already is, and it vanishes at the solution, so z* stays a fixed point; F(w) itself is
 * never estimated from a subset (refresh phases require every shard). Dropping F_m itself, or
 * rescaling by M/|answered|, would instead bias the operator whenever the absent shards are not a
 * uniform sample (slow peers hold particular shards).
 * A shard whose holder changed (departure, rebalancing, a joiner, a state transfer that reset the
 * holder's shard memory) has *fresh* memory: its holder answers compressed phases with a "fresh"
 * marker instead of a difference computed against a memory it does not have; the aggregator
 * counts it toward the quorum (the holder is alive), aggregates it as missing, and passes
 * `forceRefresh`, so the next phase is a full refresh (b_k = 1) in which every current holder
 * computes F_m(w) itself: F(w) and the compressed differences then come from the same holders'
 * computations again. Joiners therefore start contributing at the next full refresh.
 *
 * **Assignment** (assignment.ts): balanced, sticky, deterministic; recomputed at round boundaries
 * only when membership or synchronisation changed; devices learn changes as deltas (stamped by
 * epoch, round and attempt, so a new aggregator's supersede the old one's and replays cannot undo
 * newer ones). Only synchronised peers get shards: a peer whose last report (heartbeat, or a late
 * answer) lags by more than `syncSlack` rounds, or that let `missLimit` deadlines in a row pass
 * (a slow link or CPU), loses its shards until it catches up.
 *
 * **Lost broadcasts** (replication.ts): a device that misses a commit notices at the next one, keeps
 * it aside and fetches the missing commit as a replay (a snapshot when it is further behind than
 * the retained log), after a short grace for commits still in flight.
 *
 * **Partitions.** Each side of a partition elects its own aggregator and may go on committing.
 * When the partition heals, the higher epoch takes everyone over (epochs), then versions decide:
 * the longer lineage wins, as SPEC §5 asks, and the peers of the other side transfer state — the
 * rounds they committed during the split are superseded, never mixed in. A cut-off *minority* that
 * holds every shard can out-run the majority during a short split; `minPeers` (live synchronised
 * peers needed to open a round) keeps a small side from committing at all — set it to a majority
 * of the expected swarm where that matters. An aggregator cut off in the middle of a round may
 * still commit it at its deadline; that round reached nobody and is superseded like the rest.
 *
 * **Aggregator memory.** A new aggregator starts with fresh server memory (`initServer()`):
 * nothing for MASHA1, EG and MARINA; for MASHA2 the server's error-feedback residual e is lost once,
 * a one-time perturbation of the size of one compression residual that the method then contracts
 * like any other error (the failover tests measure the iterations it costs).
 *
 * **Costs.** Per message O(message) work; per heartbeat O(1) (plus O(held shards)); the O(peers)
 * membership scan, rebalancing and successor ranking run only at round boundaries. Vectors are
 * preallocated; received payload bytes are decoded from views of the message body; payload
 * buffers go back to their compressor (`release`) once used.
 *
 * **Fault model.** Peers crash, stall, lose messages and get partitioned; every byte they send is
 * validated and malformed input is refused and counted (`bad-message`), never thrown. Some peers
 * may lie (trust.ts, trust/certs.ts): commits are signed by the aggregator that made them and
 * applied only when its epoch is certified; an epoch is adopted only with a certificate chain (the
 * previous aggregator's signed successor list, or enough signed lease-expiry attestations); a
 * snapshot, a replay or a heartbeat's "better version" counts only with a signed commit of a
 * certified aggregator behind it and only as the answer to this peer's own request; two different
 * signed commits for one (epoch, round) are a proof that bans their signer; an aggregator that
 * keeps its lease but commits nothing for `stallDeadlines` deadlines is replaced.
 * What a peer can make another spend is bounded (README "Resource limits"): state is served only to
 * members, at most twice the bytes of each request and within per-peer and total token buckets
 * (serving.ts); the membership table is capped (`maxMembers`); the host's reassembler holds only
 * what arrived, within per-sender budgets; a resumed run opens no round below its resume point.
 *
 * **Roles.** The peer is a dispatcher over role objects whose imports point downward only:
 * `Outbox` (actions, counters), `Lineage` (replica, digest, commit log), `Election` (epochs,
 * watchdog, claims), `Device` (held shards, answers, heartbeats), `Replication` (applying commits in
 * order, replays, snapshots), `Membership` and `Aggregator` (the elected role). Lower roles reach
 * higher ones only through the hook interfaces they declare (`ElectionHooks`, `ReplicationHooks`,
 * `SelfUplink`), which this class wires.
 *
 * **What drivers must know.** `setTimer` with an id that is already set replaces that timer.
 * `metric` actions are counter increments (name, amount). `message.sender` is the logical sender
 * (frames carry it); a broadcast need not be delivered back to its sender. A message handed to
 * `handle` must not be modified afterwards: the engine keeps it (commit log) and views of its body
 * (digests), and the bodies it emits are never modified by it either. `maxBodyBytes(ctx, kind)`
 * bounds each kind's body for the frame reassembler. One `RunContext` may be shared by every peer
 * a process hosts.
 */
import { MashaError, ValidationError } from '../errors.js';
import { digestEquals, replicaDigest } from './digest.js';
import type { Vec, ReplicaState } from '../methods/types.js';
import { Aggregator } from './aggregator.js';
import type { RunContext } from './context.js';
import { Device } from './device.js';
import { Election } from './election.js';
import { Lineage } from './lineage.js';
import { AN_GATHER, decodeAnnounce, decodeAudit, decodeEquivocation, decodeStateInto, decodeSuspect, ENGINE_CODEC, MSG } from './messages.js';
import type { Identity } from '../ports/identity.js';
import { hashString } from '../rng/streams.js';
import { Trust } from './trust.js';
import { Guard } from './guard.js';
import { Outbox, type Counters } from './outbox.js';
import { Replication } from './replication.js';
import type { EngineAction, EngineEvent, EngineMessage, EnginePeer, EngineRole, PeerId, StopReason, TimerKind } from './types.js';
import { decodeRosterShared } from '../tree/roster.js';

export type { Counters } from './outbox.js';
export { claimSpread } from './election.js';
export { phaseCode } from './phase-code.js';

/** Per-peer options of the engine (what the host knows that the run context does not). */
export interface EngineOptions {
  /**
   * The peers this host admits as members of the run (an admission policy: join tokens, an
   * allowlist, or what a launcher heard of its volunteers). State is served only to admitted
   * peers; an observer serves state only when it is given this (a resumed run's source).
   */
  readonly admits?: (peer: PeerId) => boolean;
  /** This peer's join token, for runs whose admission policy asks for one. */
  readonly token?: Uint8Array | null;
  /**
   * Keys this peer's private draws (which answers it audits, guard.ts): runtimes pass fresh
   * entropy so that no holder can predict an audit; without it a value derived from (run, id) is
   * used (deterministic, for simulations).
   */
  readonly secret?: number;
}

export interface PeerSnapshot {
  readonly id: PeerId;
  readonly epoch: number;
  readonly aggregator: PeerId | null;
  readonly isAggregator: boolean;
  readonly round: number;
  readonly commitEpoch: number;
  readonly iteration: number;
  readonly digest: string;
  readonly held: number[];
  readonly done: StopReason | null;
}

export class MashaPeer implements EnginePeer {
  readonly id: PeerId;
  readonly ctx: RunContext;
  private readonly outbox: Outbox;
  private readonly lineage: Lineage;
  private readonly election: Election;
  private readonly device: Device;
  private readonly replication: Replication;
  private readonly aggregator: Aggregator;
  private readonly trust: Trust;

  /** Bans, refusals, bounds and audits of this peer's aggregations (guard.ts). */
  readonly guard: Guard;

  /** `identity`: this peer's signer (and the check of other peers' signatures). */
  constructor(id: PeerId, ctx: RunContext, role: EngineRole, identity: Identity, options: EngineOptions = {}) {
    const admits = options.admits ?? null;
    const token = options.token ?? null;
    const secret = options.secret;
    this.id = id;
    this.ctx = ctx;
    const outbox = new Outbox(id, ctx, role);
    const lineage = new Lineage(ctx);
    const trust = new Trust(ctx, outbox, identity);
    this.trust = trust;
    const election = new Election(ctx, outbox, trust, {
      isAggregating: () => this.aggregator.active,
      beforeAdopt: (aggregator) => {
        if (this.aggregator.active && aggregator !== id) this.aggregator.stepDown();
      },
      afterAdopt: (aggregator) => {
        this.device.open = null;
        if (aggregator !== id) this.device.sendHeartbeat();
      },
      claim: (epoch) => this.aggregator.become(epoch),
    });
    const device = new Device(ctx, outbox, lineage, election, { ingestOwn: (entries) => this.aggregator.ingestOwn(entries) }, token);
    const replication = new Replication(ctx, outbox, lineage, device, trust, {
      isAggregating: () => this.aggregator.active,
      resumeAfterSync: () => this.aggregator.resumeAfterSync(),
      syncFailed: (from, round, digest) => this.aggregator.syncFailed(from, round, digest),
      resetServer: () => this.aggregator.resetServer(),
      onDone: () => this.aggregator.onDone(),
      epoch: () => this.election.epoch,
      mayServe: (peer) => {
        if (admits !== null && !admits(peer)) return false;
        if (role === 'observer') return admits !== null;
        return this.aggregator.active ? this.aggregator.isMember(peer) : peer === this.election.aggregator;
      },
    });
    this.outbox = outbox;
    this.lineage = lineage;
    this.election = election;
    this.device = device;
    this.replication = replication;
    this.guard = new Guard(ctx.method, ctx.guard, secret ?? hashString(`${ctx.runId}/${id}`) * 2097152 + (hashString(id) & 0x1fffff));
    this.aggregator = new Aggregator(ctx, outbox, lineage, election, device, replication, trust, this.guard);
    trust.onBan = (peer) => {
      this.aggregator.onBan(peer);
      if (peer === this.election.aggregator) this.election.distrustAggregator();
    };
    // Swarm-wide bans (bans.ts): this aggregator's guard bans go out in its commits; the run's list
    // (learned from commits) is in this peer's guard, so it holds when this peer aggregates.
    this.guard.onBan = (peer) => {
      if (this.aggregator.active) trust.bans.issue(peer, election.epoch, this.aggregator.memberCount);
    };
    trust.bans.onAdded = (peer) => {
      if (this.guard.banned.has(peer)) return;
      this.guard.banned.set(peer, SWARM_BAN);
      this.aggregator.onBan(peer);
    };
    trust.bans.onVoided = (peer) => {
      if (this.guard.banned.get(peer) === SWARM_BAN) this.guard.banned.delete(peer);
    };
  }

  // ================================================================ public surface

  get role(): EngineRole {
    return this.outbox.role;
  }

  get counters(): Counters {
    return this.outbox.counters;
  }

  /** The peer's replica (read-only use: the engine mutates it on every commit). */
  get replica(): ReplicaState<Vec> {
    return this.lineage.replica;
  }

  get isAggregator(): boolean {
    return this.aggregator.active;
  }

  get committedRound(): number {
    return this.lineage.committed;
  }

  get digestHex(): string {
    return this.lineage.digestHex;
  }

  /**
   * What this peer's heartbeats report for the relay trees (tree/layout.ts): its upload rate in
   * kbit/s (0 = unknown; measured or configured by the runtime) and whether it must stay a leaf
   * (a browser tab). A setting, not an event: it changes no state but the next heartbeats.
   */
  setCapacity(capacity: { readonly upKbps: number; readonly leaf: boolean }): void {
    const up = capacity.upKbps;
    this.device.capacity = { upKbps: Number.isFinite(up) && up > 0 ? up : 0, leaf: capacity.leaf };
  }

  /** The certificate chain of this peer's current (epoch, aggregator), encoded (a launcher's anchor for joiners). */
  get certificate(): Uint8Array | null {
    return this.election.chain;
  }

  /** ‖z − z*‖² / ‖z⁰ − z*‖² of this peer's replica, or null when z* is unknown. */
  relDist(): number | null {
    return this.lineage.relDist();
  }

  /** The epoch this peer is in (cheap; `snapshot()` has the rest). */
  get epoch(): number {
    return this.election.epoch;
  }

  /** Highest epoch a message may plausibly carry at `now` (gossip validation; Election.maxPlausibleEpoch). */
  maxPlausibleEpoch(now: number): number {
    return this.election.maxPlausibleEpoch(now);
  }

  /** The last commit applied, while it is in the commit log (checkpoints keep it). */
  lastCommit(): EngineMessage | null {
    return this.lineage.lastCommit();
  }

  /** The commit of `round` while it is in the commit log, else null. */
  loggedCommit(round: number): EngineMessage | null {
    const L = this.lineage;
    if (round < 1 || round > L.committed || L.committed - round >= L.logLength) return null;
    const m = L.logged(round);
    return m !== null && m !== undefined && m.round === round ? m : null;
  }

  /** The replica as a STATE body (checkpoints). */
  encodeState(): Uint8Array {
    return this.replication.encodeReplica().slice();
  }

  /**
   * Restores this peer, before it starts, from a checkpoint's state (a STATE body, checked like a
   * received snapshot: its vectors must hash to its digest), the highest epoch seen then, and the
   * commits applied after it (a write-ahead log, in order; those at or below the state's round
   * are skipped, the first that does not extend it ends the replay). No action comes of it:
   * nothing was sent or timed. Returns the round reached and how many commits were re-applied.
   */
  restore(state: Uint8Array, epoch: number, commits: readonly EngineMessage[]): { round: number; replayed: number } {
    this.outbox.begin(0);
    const L = this.lineage;
    const scratch = L.spare();
    const h = decodeStateInto(state, this.ctx.shape, scratch.vectors);
    scratch.iteration = h.iteration;
    scratch.initialized = h.initialized;
    if (!digestEquals(replicaDigest(scratch, h.round, h.nextPhase, this.ctx.shape.names), h.digest)) {
      throw new ValidationError('checkpoint', 'the checkpointed state does not hash to the digest it names');
    }
    if (h.nextPhase !== '') this.ctx.method.phase(h.nextPhase);
    L.install(h);
    this.election.epoch = Math.max(this.election.epoch, epoch, h.commitEpoch);
    let replayed = 0;
    for (const m of commits) {
      if (m.round <= L.committed) continue;
      if (!this.replication.restoreCommit(m)) break;
      replayed++;
    }
    this.election.epoch = Math.max(this.election.epoch, L.commitEpoch);
    // The launcher's own checkpoint: the epoch above it is open to claims (certs.ts, GENESIS).
    this.trust.book.open(this.election.epoch);
    return { round: L.committed, replayed };
  }

  snapshot(): PeerSnapshot {
    const L = this.lineage;
    return {
      id: this.id,
      epoch: this.election.epoch,
      aggregator: this.election.aggregator,
      isAggregator: this.aggregator.active,
      round: L.committed,
      commitEpoch: L.commitEpoch,
      iteration: L.replica.iteration,
      digest: L.digestHex,
      held: this.device.heldList().slice(),
      done: L.doneReason,
    };
  }

  handle(event: EngineEvent, now: number): EngineAction[] {
    const out = this.outbox.begin(now);
    switch (event.type) {
      case 'start':
        this.election.start();
        if (this.outbox.role === 'volunteer') {
          this.outbox.setTimer('hb', this.ctx.timing.heartbeatMs);
          this.outbox.setTimer('wd', this.ctx.timing.leaseMs);
        }
        break;
      case 'message':
        this.onMessage(event.message);
        break;
      case 'timer':
        this.onTimer(event.id);
        break;
      case 'peer-disconnected':
        this.aggregator.onDisconnect(event.peer);
        break;
      case 'peer-connected':
        break;
      case 'evaluated':
        this.device.onEvaluated(event.id, event.error);
        break;
      case 'rejected':
        this.outbox.count('rejected');
        break;
      case 'inbound':
        if (event.kind === MSG.COMMIT) this.replication.noteInbound(event.epoch, event.round);
        break;
      case 'anchor':
        this.election.anchor(event.chain);
        break;
      default:
        assertNever(event);
    }
    return out;
  }

  // ================================================================ dispatch

  private onTimer(id: TimerKind): void {
    if (this.lineage.doneReason !== null && id !== 'sync' && id !== 'behind') return;
    switch (id) {
      case 'hb':
        this.outbox.setTimer('hb', this.ctx.timing.heartbeatMs);
        if (this.aggregator.active) this.aggregator.tick();
        else this.device.tick();
        break;
      case 'wd':
        this.election.onWatchdog();
        break;
      case 'claim':
        this.election.onClaimTimer();
        break;
      case 'gather':
        this.aggregator.onGatherTimer();
        break;
      case 'deadline':
        this.aggregator.onDeadline();
        break;
      case 'sync':
        this.replication.onSyncTimeout(this.election.aggregator);
        break;
      case 'behind':
        this.replication.onBehindTimer();
        break;
      case 'commit':
        this.aggregator.onCommitTimer();
        break;
      default:
        assertNever(id);
    }
  }

  private onMessage(msg: EngineMessage): void {
    if (msg.sender === this.id) return;
    if (this.trust.isBanned(msg.sender)) {
      this.outbox.count('banned-peer');
      return;
    }
    if (msg.runId !== this.ctx.runId) {
      this.outbox.count('wrong-run');
      return;
    }
    if (msg.codec !== ENGINE_CODEC) {
      this.outbox.count('bad-message');
      return;
    }
    try {
      switch (msg.kind) {
        case MSG.HEARTBEAT:
          this.aggregator.onHeartbeat(msg);
          break;
        case MSG.ANNOUNCE:
          this.onAnnounce(msg);
          break;
        case MSG.OPEN:
          this.onOpen(msg);
          break;
        case MSG.UPLINK:
          this.aggregator.onUplink(msg);
          break;
        case MSG.COMMIT:
          this.onCommit(msg);
          break;
        case MSG.STATE_REQUEST:
          this.replication.onStateRequest(msg);
          break;
        case MSG.STATE:
          this.replication.onState(msg);
          break;
        case MSG.REPLAY:
          this.replication.onReplay(msg);
          break;
        case MSG.ROSTER:
          this.onRoster(msg);
          break;
        case MSG.SUSPECT:
          this.election.onSuspect(msg, decodeSuspect(msg.body));
          break;
        case MSG.EQUIVOCATION: {
          const p = decodeEquivocation(msg.body);
          if (!this.trust.onProof(p.a, p.b)) this.outbox.count('bad-signature');
          break;
        }
        case MSG.AUDIT:
          this.onAudit(msg);
          break;
        default:
          this.outbox.count('bad-message');
      }
    } catch (e) {
      // Malformed bodies and payloads raise typed errors; they never disturb the round.
      if (e instanceof MashaError) this.outbox.count('bad-message');
      else throw e;
    }
  }

  // ================================================================ messages of the aggregator

  private onAnnounce(msg: EngineMessage): void {
    const body = decodeAnnounce(msg.body);
    const isNewEpoch = msg.epoch > this.election.epoch;
    if (!this.election.acceptAggregator(msg, body.chain)) return;
    this.election.takeSuccessors(msg, body.successors, body.succession);
    if (body.flags & AN_GATHER && !isNewEpoch) this.device.sendHeartbeat();
    this.replication.reconcile(msg.sender, body.round, body.commitEpoch, body.digest);
  }

  /**
   * The relay trees' roster: handed to the host (its relay lays the trees out). Only the current
   * aggregator's counts (a roster never moves this peer to another epoch: it carries no
   * certificate, and its trees serve only that aggregator's broadcasts).
   */
  private onRoster(msg: EngineMessage): void {
    const roster = decodeRosterShared(msg.body, msg.sender, msg.epoch);
    if (msg.epoch !== this.election.epoch || msg.sender !== this.election.aggregator) {
      this.outbox.count(msg.epoch < this.election.epoch ? 'stale-epoch' : 'misdirected');
      return;
    }
    this.outbox.push({ type: 'roster', roster });
  }

  private onOpen(msg: EngineMessage): void {
    const body = this.ctx.decodes.open(msg.body, this.ctx.limits);
    if (!this.election.acceptAggregator(msg, body.chain)) return;
    this.election.takeSuccessors(msg, body.successors, body.succession);
    const D = this.device;
    D.applyDelta(body.delta, msg.epoch, msg.round, body.attempt);
    this.replication.reconcile(msg.sender, msg.round - 1, body.baseEpoch, body.baseDigest);
    // A late OPEN of a round this peer has applied already must not replace the open of a newer one.
    if (msg.round <= this.lineage.committed) return;
    let wanted: Set<number> | null = null;
    if (body.wanted.length !== this.ctx.shards) {
      wanted = new Set<number>();
      for (const m of body.wanted) if (D.holds(m)) wanted.add(m);
    }
    D.open = {
      epoch: msg.epoch,
      round: msg.round,
      attempt: body.attempt,
      phase: body.phase,
      baseEpoch: body.baseEpoch,
      // A copy: an OPEN can be large (a full assignment) and is not kept otherwise.
      baseDigest: body.baseDigest.slice(),
      wanted,
    };
    D.tryAnswer();
  }

  /** The aggregator of this epoch asks this peer, privately, to recompute some shards (guard.ts). */
  private onAudit(msg: EngineMessage): void {
    const body = decodeAudit(msg.body, this.ctx.limits);
    if (msg.epoch !== this.election.epoch || msg.sender !== this.election.aggregator || msg.round <= this.lineage.committed) {
      this.outbox.count('misdirected');
      return;
    }
    this.device.requestAudit({ epoch: msg.epoch, round: msg.round, attempt: body.attempt, baseDigest: body.baseDigest.slice(), shards: body.shards });
  }

  private onCommit(msg: EngineMessage): void {
    const body = this.ctx.decodes.commit(msg.body, this.ctx.limits);
    if (!this.election.acceptAggregator(msg, body.chain)) return;
    if (!this.trust.verifyCommit(msg, body)) {
      this.outbox.count('bad-signature');
      return;
    }
    this.trust.bans.onCommit(msg.epoch, msg.sender, body.bans, body.succession?.members ?? null);
    this.election.takeSuccessors(msg, body.successors, body.succession);
    this.election.progress();
    this.replication.onCommit(msg, body);
    // The commit opens round + 1 — unless this peer is past it already (a late commit applied after
    // later ones: its implicit open must not replace the open of a newer round being answered).
    if (body.next !== null && msg.round + 1 > this.lineage.committed) {
      const D = this.device;
      D.applyDelta(body.next.delta, msg.epoch, msg.round + 1, 0);
      D.open = {
        epoch: msg.epoch,
        round: msg.round + 1,
        attempt: 0,
        phase: null,
        baseEpoch: msg.epoch,
        // A view of the commit's body: bodies are never modified, and the log keeps the commit anyway.
        baseDigest: body.digest,
        wanted: null,
      };
      D.tryAnswer();
    }
  }
}

/** The reason a guard records for a ban it took from the run's ban list (bans.ts). */
const SWARM_BAN = 'swarm ban';

export function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}

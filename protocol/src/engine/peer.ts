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
 * committed, and a 128-bit digest of the replica. A commit carries the digest before (parent) and
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
 * **Election without votes.** The aggregator of epoch e is the highest rendezvous weight
 * H(runId, e, p) among the live peers. Since no peer but the aggregator knows the whole
 * membership, the aggregator publishes the top `successors` live, synchronised peers by
 * H(runId, e + 1, ·) (in ANNOUNCEs, OPENs, and in COMMITs when the list changes and every 16th
 * round). When a device has heard nothing from the aggregator for a lease, successor i claims epoch
 * e + 1 after i·claimStep more; a peer outside the list claims after the list's turns plus a delay
 * that falls with its own weight, so the highest-weight live peer claims first without knowing the
 * others (bootstrap uses the same rule: nobody is listed yet). A claim is an ANNOUNCE of the new
 * epoch.
 * Peers adopt the highest epoch they see; two claimants of one epoch are ordered by weight and the
 * lower steps down as soon as it hears the higher. Messages of older epochs are ignored and counted
 * (`stale-epoch`).
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
 * **Lost broadcasts.** A device that misses commit r notices at commit r + 1 (its parent is not
 * the device's state), keeps r + 1 aside, asks the aggregator for a replay of r, and applies r and
 * r + 1 as soon as the replay arrives. A device further behind than the retained log gets a snapshot.
 * Missing is not the same as late: a small message (commit r + 1, an ANNOUNCE) can overtake a large
 * commit r on another relay path, so a device one or two commits behind first waits `syncGraceMs`
 * (one heartbeat by default) for them. Asking at once made hundreds of devices of a 10,000-peer
 * swarm fetch the same 89 KB commit from the aggregator, whose uplink then held its broadcasts back
 * past the lease: a needless election and aborted rounds with the default timing.
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
 * validated and malformed input is refused and counted (`bad-message`), never thrown. Peers are not
 * assumed malicious: one that forges *well-formed* messages (claims a higher epoch, a fake commit)
 * is not defended against — that needs signed messages and Byzantine-robust aggregation.
 *
 * **What drivers must know.** `setTimer` with an id that is already set replaces that timer.
 * `metric` actions are counter increments (name, amount). `message.sender` is the logical sender
 * (frames carry it); a broadcast need not be delivered back to its sender. A message handed to
 * `handle` must not be modified afterwards: the engine keeps it (commit log) and views of its body
 * (digests), and the bodies it emits are never modified by it either. `maxBodyBytes(ctx, kind)`
 * bounds each kind's body for the frame reassembler. One `RunContext` may be shared by every peer
 * a process hosts.
 */
import { MashaError } from '../errors.js';
import type { Payload } from '../compress/types.js';
import type { Downlink, MethodInstance, PhaseInfo, ReplicaState, ServerState, ShardState, ShardUplink } from '../methods/types.js';
import { hashString } from '../rng/streams.js';
import { distSq } from '../vec/kernels.js';
import { rebalance } from './assignment.js';
import type { RunContext } from './context.js';
import { compareDigests, DIGEST_BYTES, digestEquals, digestHex, replicaDigest } from './digest.js';
import {
  AN_DONE,
  AN_GATHER,
  decodeAnnounce,
  decodeCommit,
  decodeHeartbeat,
  decodeOpen,
  decodeStateInto,
  decodeStateRequest,
  decodeUplink,
  type DecodedCommit,
  DeltaView,
  type DeltaEntry,
  encodeAnnounce,
  encodeCommit,
  encodeHeartbeat,
  encodeOpen,
  encodeState,
  encodeStateRequest,
  encodeUplink,
  ENGINE_CODEC,
  HB_DONE,
  HB_RESET,
  MSG,
  UP_FRESH,
  type UplinkEntry,
} from './messages.js';
import { outranks, peerBaseHash, rendezvousWeight, topByWeight } from './rendezvous.js';
import type { EngineAction, EngineEvent, EngineMessage, EnginePeer, PeerId } from './types.js';

/** Header phase code of a named method phase (control messages use 0). */
export function phaseCode(name: string): number {
  return 1 + (hashString(name) % 0xfffe);
}

const T_HEARTBEAT = 'hb';
const T_WATCHDOG = 'wd';
const T_CLAIM = 'claim';
const T_GATHER = 'gather';
const T_DEADLINE = 'deadline';
const T_SYNC = 'sync';
const T_BEHIND = 'behind';
/** A device this many commits behind may just be waiting for them (see `reconcile`). */
const IN_FLIGHT_ROUNDS = 2;
const T_COMMIT = 'commit';

interface HeldShard {
  state: ShardState;
  /** Second buffer: the would-be memory of the last uplink is copied here until its commit. */
  spare: ShardState;
  /** Memory (re)initialised and not yet adopted from a committed round. */
  fresh: boolean;
}

interface Pending {
  readonly bytes: Uint8Array;
  readonly flags: number;
  /** Would-be memory (held.spare, or a clone when the method's shape differs), null if unchanged. */
  readonly memory: ShardState | null;
}

interface DeviceOpen {
  readonly epoch: number;
  readonly round: number;
  readonly attempt: number;
  /** Phase of the round; null when the device has not yet applied the round's parent (implicit opens). */
  readonly phase: string | null;
  readonly baseEpoch: number;
  readonly baseDigest: Uint8Array;
  /** Held shards asked for (null: every held shard). */
  readonly wanted: ReadonlySet<number> | null;
}

interface Member {
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
  /** Whether the member counted as eligible at the last rebalance. */
  eligible: boolean;
}

type AggMode = 'gather' | 'idle' | 'round' | 'sync' | 'done';

interface AggState {
  readonly epoch: number;
  mode: AggMode;
  readonly members: Map<PeerId, Member>;
  readonly holders: (PeerId | null)[];
  /** Shards whose holder changed since the last broadcast delta. */
  readonly unsent: Set<number>;
  dirty: boolean;
  holdersChanged: boolean;
  server: ServerState;
  successors: string[];
  /** The successor list changed since it was last broadcast. */
  successorsChanged: boolean;
  lastBroadcast: number;
  // current round
  round: number;
  attempt: number;
  phase: string;
  info: PhaseInfo | null;
  readonly received: (Payload | null)[];
  readonly answered: Uint8Array;
  readonly freshAnswer: Uint8Array;
  answeredCount: number;
  /** Shards with a holder (cached at round boundaries). */
  assigned: number;
  lastOpened: { round: number; attempt: number };
  /** (peer, round, digest) states we failed to fetch: not chased again. */
  readonly failedSync: Set<string>;
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
  readonly done: string | null;
}

/** Counters a peer keeps (also emitted as `metric` increments). */
export type Counters = Record<string, number>;

export class MashaPeer implements EnginePeer {
  readonly id: PeerId;
  readonly ctx: RunContext;
  private readonly method: MethodInstance;
  private readonly M: number;
  private readonly base: number;
  readonly counters: Counters = {};

  private out: EngineAction[] = [];
  private now = 0;

  // ---------------------------------------------------------------- replicated state
  private replicaState: ReplicaState;
  private scratch: ReplicaState | null = null;
  private committed = 0;
  private commitEpoch = 0;
  private digest: Uint8Array;
  private nextPhase: string | null = null;
  private readonly log: (EngineMessage | null)[];
  private logFrom = 1;
  private doneReason: string | null = null;

  // ---------------------------------------------------------------- epoch
  private epoch = 0;
  private aggregator: PeerId | null = null;
  private aggWeight = 0;
  private lastHeardAgg = 0;
  private successors: readonly string[] = [];
  private suspectAt: number | null = null;

  // ---------------------------------------------------------------- device
  private readonly held = new Map<number, HeldShard>();
  private heldSorted: number[] | null = [];
  private open: DeviceOpen | null = null;
  private answeredEpoch = -1;
  private answeredRound = -1;
  private answeredAttempt = -1;
  private pendingRound = -1;
  private readonly pending = new Map<number, Pending>();
  private assignStamp = { epoch: -1, round: -1, attempt: -1 };
  private resetSinceReport = false;
  private lastSentToAgg = Number.NEGATIVE_INFINITY;
  private sync: { from: PeerId; since: number; round: number; commitEpoch: number; digest: Uint8Array } | null = null;
  /** A newer version heard of while its commits may still be in flight (see `reconcile`). */
  private behind: { from: PeerId; round: number; commitEpoch: number; digest: Uint8Array } | null = null;
  private readonly served = new Map<PeerId, { at: number; round: number }>();
  /** Commits received ahead of a missing one (bounded by the log length), by round. */
  private readonly early = new Map<number, { msg: EngineMessage; body: DecodedCommit }>();

  // ---------------------------------------------------------------- aggregator
  private agg: AggState | null = null;

  constructor(id: PeerId, ctx: RunContext) {
    this.id = id;
    this.ctx = ctx;
    this.method = ctx.method;
    this.M = ctx.shards;
    this.base = peerBaseHash(ctx.runId, id);
    this.replicaState = ctx.method.initReplica(ctx.z0);
    this.digest = ctx.initialDigest.slice();
    this.log = new Array<EngineMessage | null>(ctx.logRounds).fill(null);
  }

  // ================================================================ public surface

  /** The peer's replica (read-only use: the engine mutates it on every commit). */
  get replica(): ReplicaState {
    return this.replicaState;
  }

  get isAggregator(): boolean {
    return this.agg !== null;
  }

  get committedRound(): number {
    return this.committed;
  }

  get digestHex(): string {
    return digestHex(this.digest);
  }

  /** ‖z − z*‖² / ‖z⁰ − z*‖² of this peer's replica, or null when z* is unknown. */
  relDist(): number | null {
    const sol = this.ctx.solution;
    return sol ? distSq(this.method.iterate(this.replicaState), sol) / this.ctx.initialDistSq : null;
  }

  snapshot(): PeerSnapshot {
    return {
      id: this.id,
      epoch: this.epoch,
      aggregator: this.aggregator,
      isAggregator: this.agg !== null,
      round: this.committed,
      commitEpoch: this.commitEpoch,
      iteration: this.replicaState.iteration,
      digest: digestHex(this.digest),
      held: this.heldList().slice(),
      done: this.doneReason,
    };
  }

  handle(event: EngineEvent, now: number): EngineAction[] {
    this.now = now;
    const out: EngineAction[] = [];
    this.out = out;
    switch (event.type) {
      case 'start':
        this.onStart();
        break;
      case 'message':
        this.onMessage(event.message);
        break;
      case 'timer':
        this.onTimer(event.id);
        break;
      case 'peer-disconnected':
        this.onDisconnect(event.peer);
        break;
      case 'peer-connected':
        break;
      case 'rejected':
        this.count('rejected');
        break;
    }
    return out;
  }

  // ================================================================ plumbing

  private count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
    this.out.push({ type: 'metric', name, value: n });
  }

  private setTimer(id: string, delayMs: number): void {
    this.out.push({ type: 'setTimer', id, delayMs: Math.max(0, delayMs) });
  }

  private clearTimer(id: string): void {
    this.out.push({ type: 'clearTimer', id });
  }

  private message(kind: number, round: number, phase: number, body: Uint8Array, epoch = this.epoch): EngineMessage {
    return { kind, runId: this.ctx.runId, epoch, round, phase, sender: this.id, codec: ENGINE_CODEC, body };
  }

  private broadcast(msg: EngineMessage): void {
    this.out.push({ type: 'broadcast', message: msg });
    if (this.agg) this.agg.lastBroadcast = this.now;
  }

  private send(to: PeerId, msg: EngineMessage): void {
    this.out.push({ type: 'send', to, message: msg });
  }

  private heldList(): number[] {
    if (this.heldSorted === null) this.heldSorted = [...this.held.keys()].sort((a, b) => a - b);
    return this.heldSorted;
  }

  private weightOf(peer: PeerId, epoch: number): number {
    return rendezvousWeight(peer === this.id ? this.base : peerBaseHash(this.ctx.runId, peer), epoch);
  }

  /** Version order: > 0 when (r1, e1, d1) is better than (r2, e2, d2). */
  private static compareVersion(r1: number, e1: number, d1: Uint8Array, r2: number, e2: number, d2: Uint8Array): number {
    if (r1 !== r2) return r1 - r2;
    if (e1 !== e2) return e1 - e2;
    return compareDigests(d1, d2);
  }

  private versionVs(round: number, epoch: number, digest: Uint8Array): number {
    return MashaPeer.compareVersion(this.committed, this.commitEpoch, this.digest, round, epoch, digest);
  }

  // ================================================================ events

  private onStart(): void {
    this.lastHeardAgg = this.now;
    this.setTimer(T_HEARTBEAT, this.ctx.timing.heartbeatMs);
    this.setTimer(T_WATCHDOG, this.ctx.timing.leaseMs);
  }

  private onTimer(id: string): void {
    if (this.doneReason !== null && id !== T_SYNC && id !== T_BEHIND) return;
    switch (id) {
      case T_HEARTBEAT:
        this.onHeartbeatTimer();
        break;
      case T_WATCHDOG:
        this.onWatchdog();
        break;
      case T_CLAIM:
        this.onClaimTimer();
        break;
      case T_GATHER:
        if (this.agg && this.agg.mode === 'gather') {
          this.agg.mode = 'idle';
          this.aggTryOpen();
        }
        break;
      case T_DEADLINE:
        this.aggOnDeadline();
        break;
      case T_SYNC:
        this.onSyncTimeout();
        break;
      case T_BEHIND:
        this.onBehindTimer();
        break;
      case T_COMMIT:
        if (this.agg && this.agg.mode === 'round' && this.agg.answeredCount === this.agg.assigned) this.aggCommit();
        break;
    }
  }

  private onMessage(msg: EngineMessage): void {
    if (msg.sender === this.id) return;
    if (msg.runId !== this.ctx.runId) {
      this.count('wrong-run');
      return;
    }
    if (msg.codec !== ENGINE_CODEC) {
      this.count('bad-message');
      return;
    }
    try {
      switch (msg.kind) {
        case MSG.HEARTBEAT:
          this.aggOnHeartbeat(msg);
          break;
        case MSG.ANNOUNCE:
          this.onAnnounce(msg);
          break;
        case MSG.OPEN:
          this.onOpen(msg);
          break;
        case MSG.UPLINK:
          this.aggOnUplink(msg);
          break;
        case MSG.COMMIT:
          this.onCommit(msg);
          break;
        case MSG.STATE_REQUEST:
          this.onStateRequest(msg);
          break;
        case MSG.STATE:
          this.onState(msg);
          break;
        case MSG.REPLAY:
          this.onReplay(msg);
          break;
        default:
          this.count('bad-message');
      }
    } catch (e) {
      // Malformed bodies and payloads raise typed errors; they never disturb the round.
      if (e instanceof MashaError) this.count('bad-message');
      else throw e;
    }
  }

  private onDisconnect(peer: PeerId): void {
    const m = this.agg?.members.get(peer);
    if (m && peer !== this.id) m.disconnected = true;
  }

  // ================================================================ epochs and election

  /**
   * Epoch rule for messages an aggregator sends (ANNOUNCE, OPEN, COMMIT): true when the message is
   * from this peer's aggregator (adopting a newer epoch, or a higher-ranked claimant of the same
   * epoch, on the way).
   */
  private acceptAggregator(msg: EngineMessage): boolean {
    if (msg.epoch < this.epoch) {
      this.count('stale-epoch');
      return false;
    }
    if (msg.epoch > this.epoch) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    if (msg.sender === this.aggregator) {
      this.lastHeardAgg = this.now;
      return true;
    }
    if (this.aggregator === null) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    const w = this.weightOf(msg.sender, msg.epoch);
    if (outranks(w, msg.sender, this.aggWeight, this.aggregator) > 0) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    this.count('epoch-conflict');
    return false;
  }

  private adopt(epoch: number, aggregator: PeerId): void {
    if (this.agg && aggregator !== this.id) this.stepDown();
    this.epoch = epoch;
    this.aggregator = aggregator;
    this.aggWeight = this.weightOf(aggregator, epoch);
    this.lastHeardAgg = this.now;
    this.successors = [];
    this.suspectAt = null;
    this.open = null;
    this.clearTimer(T_CLAIM);
    this.out.push({ type: 'election', epoch, aggregator });
    if (aggregator !== this.id) this.sendHeartbeat();
  }

  private onWatchdog(): void {
    const { leaseMs } = this.ctx.timing;
    if (this.agg) return; // re-armed on stepping down
    const silent = this.now - this.lastHeardAgg;
    if (silent < leaseMs) {
      this.setTimer(T_WATCHDOG, leaseMs - silent);
      return;
    }
    if (this.suspectAt === null || this.suspectAt < this.lastHeardAgg) {
      this.suspectAt = this.now;
      this.setTimer(T_CLAIM, this.claimDelay());
    }
    this.setTimer(T_WATCHDOG, leaseMs);
  }

  /**
   * Successor i claims after i steps; others after the list's turns plus `claimSpread` windows,
   * earlier the higher their weight.
   */
  private claimDelay(): number {
    const { claimStepMs, claimWindowMs } = this.ctx.timing;
    const i = this.successors.indexOf(this.id);
    if (i >= 0) return i * claimStepMs;
    const w = this.weightOf(this.id, this.epoch + 1);
    return this.successors.length * claimStepMs + claimWindowMs * claimSpread(1 - w / 4294967296, this.M);
  }

  private onClaimTimer(): void {
    if (this.agg || this.suspectAt === null || this.lastHeardAgg > this.suspectAt) return;
    this.becomeAggregator(this.epoch + 1);
  }

  // ================================================================ device: heartbeats

  private onHeartbeatTimer(): void {
    const { heartbeatMs } = this.ctx.timing;
    this.setTimer(T_HEARTBEAT, heartbeatMs);
    if (this.agg) {
      this.aggTick();
      return;
    }
    if (this.aggregator !== null && this.now - this.lastSentToAgg >= heartbeatMs) this.sendHeartbeat();
  }

  private sendHeartbeat(): void {
    const to = this.aggregator;
    if (to === null || to === this.id) return;
    const flags = (this.resetSinceReport ? HB_RESET : 0) | (this.doneReason !== null ? HB_DONE : 0);
    this.resetSinceReport = false;
    const body = encodeHeartbeat(
      { round: this.committed, commitEpoch: this.commitEpoch, digest: this.digest, flags, held: this.heldList() },
      this.M,
    );
    this.send(to, this.message(MSG.HEARTBEAT, this.committed, 0, body));
    this.lastSentToAgg = this.now;
  }

  // ================================================================ device: aggregator messages

  private onAnnounce(msg: EngineMessage): void {
    const body = decodeAnnounce(msg.body);
    const isNewEpoch = msg.epoch > this.epoch;
    if (!this.acceptAggregator(msg)) return;
    if (body.successors.length > 0) this.successors = body.successors;
    if (body.flags & AN_GATHER && !isNewEpoch) this.sendHeartbeat();
    this.reconcile(msg.sender, body.round, body.commitEpoch, body.digest);
  }

  private onOpen(msg: EngineMessage): void {
    const body = decodeOpen(msg.body, this.ctx.limits);
    if (!this.acceptAggregator(msg)) return;
    if (body.successors.length > 0) this.successors = body.successors;
    this.applyDelta(body.delta, msg.epoch, msg.round, body.attempt);
    let wanted: Set<number> | null = null;
    if (body.wanted.length !== this.M) {
      wanted = new Set<number>();
      for (const m of body.wanted) if (this.held.has(m)) wanted.add(m);
    }
    this.open = {
      epoch: msg.epoch,
      round: msg.round,
      attempt: body.attempt,
      phase: body.phase,
      baseEpoch: body.baseEpoch,
      // A copy: an OPEN can be large (a full assignment) and is not kept otherwise.
      baseDigest: body.baseDigest.slice(),
      wanted,
    };
    this.reconcile(msg.sender, msg.round - 1, body.baseEpoch, body.baseDigest);
    this.tryAnswer();
  }

  private onCommit(msg: EngineMessage): void {
    const body = decodeCommit(msg.body, this.ctx.limits);
    if (!this.acceptAggregator(msg)) return;
    if (body.successors.length > 0) this.successors = body.successors;
    const r = msg.round;
    if (r === this.committed + 1 && digestEquals(body.parentDigest, this.digest)) {
      this.applyCommit(msg, body);
      this.afterProgress();
    } else if (r === this.committed && digestEquals(body.digest, this.digest)) {
      this.count('duplicate-commit');
    } else {
      // A commit from the future (one before it was lost): keep it for when the gap is filled.
      if (r > this.committed + 1 && r - this.committed <= this.log.length) this.early.set(r, { msg, body });
      this.reconcile(msg.sender, r, msg.epoch, body.digest);
    }
    if (body.next !== null) {
      this.applyDelta(body.next.delta, msg.epoch, r + 1, 0);
      this.open = {
        epoch: msg.epoch,
        round: r + 1,
        attempt: 0,
        phase: null,
        baseEpoch: msg.epoch,
        // A view of the commit's body: bodies are never modified, and the log keeps the commit anyway.
        baseDigest: body.digest,
        wanted: null,
      };
      this.tryAnswer();
    }
  }

  /**
   * Compares this peer's version with the aggregator's (round, epoch, digest): behind → fetch state
   * from it; ahead → tell it at once (it will fetch ours).
   */
  private reconcile(aggregator: PeerId, round: number, epoch: number, digest: Uint8Array): void {
    const c = this.versionVs(round, epoch, digest);
    if (c === 0) return;
    if (c < 0) {
      // Behind by a commit or two: they may well be in flight — an ANNOUNCE or a small later
      // COMMIT overtakes a large commit travelling down another relay path. Give them syncGraceMs
      // before asking: in a large swarm hundreds of devices asking the aggregator for the same
      // large commit at once fill its uplink, delay its broadcasts past the lease and cause a
      // needless election (seen at 10,000 peers).
      if (round > this.committed && round - this.committed <= IN_FLIGHT_ROUNDS && this.sync === null) {
        const b = this.behind;
        if (b === null) this.setTimer(T_BEHIND, this.ctx.timing.syncGraceMs);
        if (b === null || MashaPeer.compareVersion(round, epoch, digest, b.round, b.commitEpoch, b.digest) > 0) {
          this.behind = { from: aggregator, round, commitEpoch: epoch, digest: digest.slice() };
        }
        return;
      }
      // Behind or on a losing lineage. A replay is possible only when we are a strict prefix.
      this.startSync(aggregator, round, epoch, digest, round <= this.committed);
    } else if (aggregator !== this.id && this.agg === null) {
      this.sendHeartbeat();
    }
  }

  /**
   * Applies assignment changes stamped (epoch, round, attempt) unless newer ones were applied
   * already (a new aggregator's deltas supersede the old one's; replays of old rounds do not undo
   * newer deltas).
   */
  private applyDelta(delta: readonly DeltaEntry[] | DeltaView, epoch: number, round: number, attempt: number): void {
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
        this.held.set(m, { state: this.method.initShard(m), spare: this.method.initShard(m), fresh: true });
        this.heldSorted = null;
      }
    } else if (this.held.delete(m)) {
      this.heldSorted = null;
      this.pending.delete(m);
    }
  }

  // ================================================================ device: answering a round

  private tryAnswer(): void {
    const o = this.open;
    if (o === null || this.held.size === 0 || o.epoch !== this.epoch || this.doneReason !== null || this.aggregator === null) return;
    if (this.committed !== o.round - 1 || !digestEquals(this.digest, o.baseDigest)) return;
    if (this.answeredEpoch === o.epoch && this.answeredRound === o.round && this.answeredAttempt === o.attempt) return;
    this.answeredEpoch = o.epoch;
    this.answeredRound = o.round;
    this.answeredAttempt = o.attempt;
    const phase = o.phase ?? this.expectedPhase();
    if (phase !== this.expectedPhase()) {
      this.count('phase-mismatch');
      return;
    }
    if (this.pendingRound !== o.round) {
      this.pending.clear();
      this.pendingRound = o.round;
    }
    const info = this.method.phase(phase);
    const entries: UplinkEntry[] = [];
    for (const m of this.heldList()) {
      if (o.wanted !== null && !o.wanted.has(m)) continue;
      let p = this.pending.get(m);
      if (p === undefined) {
        const h = this.held.get(m) as HeldShard;
        if (h.fresh && !info.requiresAll) {
          p = { bytes: EMPTY_BYTES, flags: UP_FRESH, memory: null };
        } else {
          const res = this.method.deviceUplink(this.replicaState, h.state, m, phase);
          const bytes = info.uplink.encode(res.payload);
          info.uplink.release?.(res.payload);
          p = { bytes, flags: 0, memory: res.shard === null ? null : copyShard(res.shard, h.spare) };
        }
        this.pending.set(m, p);
      }
      entries.push({ shard: m, flags: p.flags, payload: p.bytes });
    }
    if (entries.length === 0) return;
    if (this.agg) {
      this.aggIngest(this.id, entries);
      return;
    }
    const body = encodeUplink({ attempt: o.attempt, entries });
    this.send(this.aggregator, this.message(MSG.UPLINK, o.round, phaseCode(phase), body));
    this.lastSentToAgg = this.now;
  }

  private expectedPhase(): string {
    return this.nextPhase ?? this.method.startPhase(this.replicaState);
  }

  // ================================================================ applying commits

  /** Applies a commit that extends this peer's state (round = committed + 1, parent = digest). */
  private applyCommit(msg: EngineMessage, body: DecodedCommit): boolean {
    const phase = body.phase;
    if (phase !== this.expectedPhase() || body.iteration !== this.replicaState.iteration) {
      this.count('phase-mismatch');
      this.startSync(msg.sender, msg.round, msg.epoch, body.digest, false);
      return false;
    }
    const info = this.method.phase(phase);
    const payload = body.payload === null ? null : info.downlink.decode(body.payload, this.ctx.dim);
    this.applyDownlink(msg, phase, { payload, flags: body.flags, included: body.included });
    if (payload !== null) info.downlink.release?.(payload);
    if (!digestEquals(this.digest, body.digest)) {
      this.count('digest-mismatch');
      this.startSync(msg.sender, msg.round, msg.epoch, body.digest, true);
    }
    return true;
  }

  /**
   * Adopts the would-be shard memories of this peer's answers to `round` for the shards the commit
   * included. O(held shards · log M): the included list is not scanned.
   */
  private adoptPending(round: number, included: readonly number[]): void {
    if (this.pending.size === 0) {
      this.pendingRound = -1;
      return;
    }
    if (this.pendingRound === round) {
      const all = included.length === this.M;
      for (const [m, p] of this.pending) {
        if (p.flags & UP_FRESH || !(all || sortedHas(included, m))) continue;
        const h = this.held.get(m);
        if (h === undefined) continue;
        if (p.memory !== null) {
          if (p.memory === h.spare) {
            h.spare = h.state;
            h.state = p.memory;
          } else h.state = p.memory;
        }
        h.fresh = false;
      }
    }
    this.pending.clear();
    this.pendingRound = -1;
  }

  /** deviceApply + shard memory adoption + bookkeeping (devices and replays). */
  private applyDownlink(msg: EngineMessage, phase: string, downlink: Downlink): void {
    const iterationBefore = this.replicaState.iteration;
    const next = this.method.deviceApply(this.replicaState, phase, downlink);
    const r = msg.round;
    this.adoptPending(r, downlink.included);
    this.committed = r;
    this.commitEpoch = msg.epoch;
    this.nextPhase = next;
    replicaDigest(this.replicaState, r, next ?? '', this.ctx.shape.names, this.digest);
    this.logCommit(msg);
    this.out.push({
      type: 'commit',
      epoch: msg.epoch,
      round: r,
      iteration: iterationBefore,
      phase,
      included: downlink.included,
      digest: digestHex(this.digest),
    });
    this.checkDone();
  }

  private logCommit(msg: EngineMessage): void {
    const L = this.log.length;
    this.log[msg.round % L] = msg;
    if (msg.round - this.logFrom >= L) this.logFrom = msg.round - L + 1;
  }

  /** Why the run is over after the last applied round, or null. */
  private finishReason(): string | null {
    if (this.nextPhase !== null) return null;
    if (this.replicaState.iteration >= this.ctx.maxIterations) return 'iterations';
    if (this.ctx.target !== null && this.ctx.solution !== null) {
      const rd = this.relDist();
      if (rd !== null && rd <= this.ctx.target) return 'target';
    }
    return null;
  }

  private checkDone(): void {
    if (this.doneReason !== null) return;
    const reason = this.finishReason();
    if (reason === null) return;
    this.doneReason = reason;
    this.out.push({ type: 'done', reason });
    for (const t of [T_HEARTBEAT, T_WATCHDOG, T_CLAIM, T_GATHER, T_DEADLINE, T_COMMIT]) this.clearTimer(t);
    if (this.agg) {
      this.agg.mode = 'done';
      this.aggAnnounce();
    }
  }

  // ================================================================ state transfer

  private startSync(from: PeerId, round: number, epoch: number, digest: Uint8Array, snapshot: boolean): void {
    const s = this.sync;
    if (s && s.from === from && this.now - s.since < this.ctx.timing.syncTimeoutMs) {
      if (MashaPeer.compareVersion(round, epoch, digest, s.round, s.commitEpoch, s.digest) > 0) {
        this.sync = { ...s, round, commitEpoch: epoch, digest: digest.slice() };
      }
      return;
    }
    this.sync = { from, since: this.now, round, commitEpoch: epoch, digest: digest.slice() };
    const body = encodeStateRequest({ round: this.committed, digest: this.digest, snapshot });
    this.send(from, this.message(MSG.STATE_REQUEST, this.committed, 0, body));
    this.setTimer(T_SYNC, this.ctx.timing.syncTimeoutMs);
    this.count('sync-request');
  }

  /** The grace of `reconcile` is over: fetch what has not arrived meanwhile. */
  private onBehindTimer(): void {
    const b = this.behind;
    this.behind = null;
    if (b === null || this.sync !== null || this.versionVs(b.round, b.commitEpoch, b.digest) >= 0) return;
    this.count('sync-after-grace');
    this.startSync(b.from, b.round, b.commitEpoch, b.digest, b.round <= this.committed);
  }

  private onSyncTimeout(): void {
    const s = this.sync;
    if (s === null || this.now - s.since < this.ctx.timing.syncTimeoutMs) return;
    this.sync = null;
    this.count('sync-timeout');
    if (this.agg) {
      this.agg.failedSync.add(`${s.from}|${s.round}|${digestHex(s.digest)}`);
      if (this.agg.mode === 'sync') {
        this.agg.mode = 'idle';
        this.aggTryOpen();
      }
    } else if (this.aggregator !== null && this.versionVs(s.round, s.commitEpoch, s.digest) < 0) {
      // Still behind: ask the aggregator again (or a fresh one, after an election).
      this.startSync(this.aggregator, s.round, s.commitEpoch, s.digest, s.round <= this.committed);
    }
  }

  /** Called after any change of this peer's state during a sync. */
  private afterProgress(): void {
    // Commits that arrived ahead of a gap apply as soon as the gap is filled.
    if (this.early.size > 0) {
      for (;;) {
        const e = this.early.get(this.committed + 1);
        if (e === undefined || !digestEquals(e.body.parentDigest, this.digest)) break;
        this.early.delete(this.committed + 1);
        if (!this.applyCommit(e.msg, e.body)) break;
        this.count('early-commit-applied');
      }
      for (const r of this.early.keys()) if (r <= this.committed) this.early.delete(r);
    }
    const s = this.sync;
    if (s !== null && this.versionVs(s.round, s.commitEpoch, s.digest) >= 0) {
      this.sync = null;
      this.clearTimer(T_SYNC);
      if (this.agg && this.agg.mode === 'sync') {
        this.agg.mode = 'idle';
        this.aggTryOpen();
        return;
      }
    }
    if (this.agg === null) this.tryAnswer();
  }

  private onStateRequest(msg: EngineMessage): void {
    const body = decodeStateRequest(msg.body);
    const from = msg.sender;
    if (body.round >= this.committed && !(body.snapshot && body.round === this.committed)) {
      this.count('state-request-not-behind');
      return;
    }
    const last = this.served.get(from);
    if (last && last.round === body.round && this.now - last.at < this.ctx.timing.syncTimeoutMs / 2) {
      this.count('state-request-throttled');
      return;
    }
    this.served.set(from, { at: this.now, round: body.round });
    if (!body.snapshot && this.canReplay(body.round, body.digest)) {
      for (let r = body.round + 1; r <= this.committed; r++) {
        const m = this.log[r % this.log.length] as EngineMessage;
        this.send(from, { ...m, kind: MSG.REPLAY, sender: this.id });
      }
      this.count('replays-served');
      return;
    }
    const header = {
      round: this.committed,
      commitEpoch: this.commitEpoch,
      digest: this.digest,
      iteration: this.replicaState.iteration,
      initialized: this.replicaState.initialized,
      nextPhase: this.nextPhase ?? '',
    };
    const state = encodeState(header, this.replicaState.vectors, this.ctx.shape);
    this.send(from, this.message(MSG.STATE, this.committed, 0, state));
    this.count('snapshots-served');
  }

  private canReplay(round: number, digest: Uint8Array): boolean {
    const first = round + 1;
    if (first < this.logFrom || first > this.committed) return false;
    const m = this.log[first % this.log.length];
    if (m === null || m.round !== first) return false;
    const parent = decodeCommit(m.body, this.ctx.limits).parentDigest;
    return digestEquals(parent, digest);
  }

  private onReplay(msg: EngineMessage): void {
    const body = decodeCommit(msg.body, this.ctx.limits);
    if (msg.round !== this.committed + 1 || !digestEquals(body.parentDigest, this.digest)) {
      this.count('replay-skipped');
      return;
    }
    if (!this.applyCommit(msg, body)) return;
    this.count('replay-applied');
    if (this.agg) this.agg.server = this.method.initServer();
    if (body.next !== null && this.agg === null) this.applyDelta(body.next.delta, msg.epoch, msg.round + 1, 0);
    this.afterProgress();
  }

  private onState(msg: EngineMessage): void {
    const s = this.sync;
    if (s === null || msg.sender !== s.from) {
      this.count('unsolicited-state');
      return;
    }
    if (this.scratch === null) this.scratch = this.method.initReplica(this.ctx.z0);
    const scratch = this.scratch;
    const h = decodeStateInto(msg.body, this.ctx.shape, scratch.vectors);
    scratch.iteration = h.iteration;
    scratch.initialized = h.initialized;
    const d = replicaDigest(scratch, h.round, h.nextPhase, this.ctx.shape.names);
    if (!digestEquals(d, h.digest)) {
      this.count('state-digest-mismatch');
      return;
    }
    const c = this.versionVs(h.round, h.commitEpoch, h.digest);
    if (c >= 0) {
      this.count('state-not-newer');
      return;
    }
    if (h.nextPhase !== '') this.method.phase(h.nextPhase); // unknown phase → typed error
    // Install: swap replicas; shard memories no longer match the replica → fresh.
    this.scratch = this.replicaState;
    this.replicaState = scratch;
    this.committed = h.round;
    this.commitEpoch = h.commitEpoch;
    this.nextPhase = h.nextPhase === '' ? null : h.nextPhase;
    this.digest.set(h.digest);
    this.log.fill(null);
    this.logFrom = h.round + 1;
    this.pending.clear();
    this.pendingRound = -1;
    for (const [m, hs] of this.held) {
      hs.state = this.method.initShard(m);
      hs.fresh = true;
    }
    if (this.held.size > 0) this.resetSinceReport = true;
    if (this.agg) this.agg.server = this.method.initServer();
    this.count('state-installed');
    this.checkDone();
    if (this.agg === null) this.sendHeartbeat();
    this.afterProgress();
    // A snapshot is a few rounds old by the time it is installed, in a run moving at full speed:
    // ask for the missing commits (a cheap replay) at once rather than after the sync timeout,
    // by which time the run may have moved past the serving peer's commit log again.
    const left = this.sync;
    if (left !== null && this.versionVs(left.round, left.commitEpoch, left.digest) < 0) {
      this.sync = null;
      this.startSync(left.from, left.round, left.commitEpoch, left.digest, false);
    }
  }

  // ================================================================ aggregator

  private becomeAggregator(epoch: number): void {
    const members = new Map<PeerId, Member>();
    const agg: AggState = {
      epoch,
      mode: 'gather',
      members,
      holders: new Array<PeerId | null>(this.M).fill(null),
      unsent: new Set<number>(),
      dirty: true,
      holdersChanged: false,
      server: this.method.initServer(),
      successors: [],
      successorsChanged: false,
      lastBroadcast: this.now,
      round: 0,
      attempt: 0,
      phase: '',
      info: null,
      received: new Array<Payload | null>(this.M).fill(null),
      answered: new Uint8Array(this.M),
      freshAnswer: new Uint8Array(this.M),
      answeredCount: 0,
      assigned: 0,
      lastOpened: { round: -1, attempt: -1 },
      failedSync: new Set<string>(),
    };
    this.agg = agg;
    this.adopt(epoch, this.id);
    this.clearTimer(T_WATCHDOG);
    const me = this.touchMember(this.id);
    me.round = this.committed;
    for (const m of this.heldList()) {
      agg.holders[m] = this.id;
      me.holding.add(m);
    }
    this.aggAnnounce();
    this.setTimer(T_GATHER, this.ctx.timing.gatherMs);
  }

  private stepDown(): void {
    this.agg = null;
    this.clearTimer(T_DEADLINE);
    this.clearTimer(T_GATHER);
    this.setTimer(T_WATCHDOG, this.ctx.timing.leaseMs);
    this.count('step-down');
  }

  private touchMember(id: PeerId): Member {
    const agg = this.agg as AggState;
    let m = agg.members.get(id);
    if (m === undefined) {
      m = {
        id,
        base: id === this.id ? this.base : peerBaseHash(this.ctx.runId, id),
        lastHeard: this.now,
        round: 0,
        commitEpoch: 0,
        digest: new Uint8Array(DIGEST_BYTES),
        lag: Number.POSITIVE_INFINITY,
        done: false,
        disconnected: false,
        holding: new Set<number>(),
        missed: 0,
        lastMissAt: 0,
        eligible: false,
      };
      agg.members.set(id, m);
      agg.dirty = true;
    }
    m.lastHeard = this.now;
    m.disconnected = false;
    return m;
  }

  private setLag(m: Member, lag: number): void {
    lag = Math.max(0, lag);
    if (lag === m.lag) return;
    const before = this.isEligible(m);
    m.lag = lag;
    if (this.isEligible(m) !== before) (this.agg as AggState).dirty = true;
  }

  private isEligible(m: Member): boolean {
    if (m.id === this.id) return true;
    return m.lag <= this.ctx.syncSlack && m.missed < this.ctx.missLimit && !m.done;
  }

  private aggAnnounce(): void {
    const agg = this.agg as AggState;
    const flags = (agg.mode === 'gather' ? AN_GATHER : 0) | (this.doneReason !== null ? AN_DONE : 0);
    const body = encodeAnnounce({ round: this.committed, commitEpoch: this.commitEpoch, digest: this.digest, flags, successors: agg.successors });
    this.broadcast(this.message(MSG.ANNOUNCE, this.committed, 0, body));
  }

  private aggTick(): void {
    const agg = this.agg as AggState;
    if (agg.mode === 'idle') this.aggTryOpen();
    if (this.agg && this.now - this.agg.lastBroadcast >= this.ctx.timing.heartbeatMs) this.aggAnnounce();
  }

  private aggOnHeartbeat(msg: EngineMessage): void {
    const agg = this.agg;
    const body = decodeHeartbeat(msg.body, this.ctx.limits);
    if (agg === null || msg.epoch !== agg.epoch) {
      if (msg.epoch < this.epoch) this.count('stale-epoch');
      else this.count('misdirected');
      return;
    }
    const m = this.touchMember(msg.sender);
    m.round = body.round;
    m.commitEpoch = body.commitEpoch;
    m.digest.set(body.digest);
    m.done = (body.flags & HB_DONE) !== 0;
    if (m.missed > 0 && this.now - m.lastMissAt > this.ctx.timing.leaseMs) {
      m.missed = 0;
      agg.dirty = true;
    }
    this.setLag(m, this.committed - body.round);
    // Holdings: during the gather they rebuild the assignment; later they are checked.
    let mismatch = body.held.length !== m.holding.size;
    for (const s of body.held) {
      const h = agg.holders[s];
      if (h === msg.sender) continue;
      if (agg.mode === 'gather' && h === null) {
        agg.holders[s] = msg.sender;
        m.holding.add(s);
        continue;
      }
      mismatch = true;
      agg.unsent.add(s);
    }
    if (mismatch && agg.mode !== 'gather') {
      // Re-send the sender's true holdings (O(held), not O(M)).
      for (const s of m.holding) agg.unsent.add(s);
      this.count('holding-corrected');
    }
    // A better state than ours: fetch it before going on.
    if (this.versionVs(body.round, body.commitEpoch, body.digest) < 0 && agg.mode !== 'gather') {
      this.aggChase(m);
    }
  }

  /** Aborts the current round, if any, and fetches the better state of member m. */
  private aggChase(m: Member): boolean {
    const agg = this.agg as AggState;
    if (agg.mode === 'sync' || agg.mode === 'done') return agg.mode === 'sync';
    const key = `${m.id}|${m.round}|${digestHex(m.digest)}`;
    if (agg.failedSync.has(key)) return false;
    if (agg.mode === 'round') {
      this.count('aborted-round');
      this.clearTimer(T_DEADLINE);
    }
    agg.mode = 'sync';
    this.startSync(m.id, m.round, m.commitEpoch, m.digest, m.round <= this.committed);
    return true;
  }

  private aggOnUplink(msg: EngineMessage): void {
    const agg = this.agg;
    if (agg === null || msg.epoch !== agg.epoch) {
      if (msg.epoch < this.epoch) this.count('stale-epoch');
      else this.count('misdirected');
      return;
    }
    const m = this.touchMember(msg.sender);
    if (agg.mode !== 'round' || msg.round !== agg.round) {
      if (msg.round <= this.committed) {
        this.count('late-uplink');
        // The sender was at round − 1 when it answered: that is how far behind it runs.
        this.setLag(m, this.committed - (msg.round - 1));
      } else this.count('misdirected');
      return;
    }
    if (msg.phase !== phaseCode(agg.phase)) {
      this.count('bad-message');
      return;
    }
    const body = decodeUplink(msg.body, this.ctx.limits);
    m.lag = 0;
    m.missed = 0;
    this.aggIngest(msg.sender, body.entries);
  }

  /** Takes a holder's answers for the current round (remote, or this peer's own). */
  private aggIngest(sender: PeerId, entries: readonly UplinkEntry[]): void {
    const agg = this.agg as AggState;
    const info = agg.info as PhaseInfo;
    for (const e of entries) {
      const s = e.shard;
      if (agg.holders[s] !== sender) {
        this.count('unassigned-uplink');
        continue;
      }
      if (agg.answered[s] === 1) {
        this.count('duplicate-uplink');
        continue;
      }
      if (e.flags & UP_FRESH) {
        if (info.requiresAll) {
          this.count('bad-message');
          continue;
        }
        agg.freshAnswer[s] = 1;
      } else {
        try {
          agg.received[s] = info.uplink.decode(e.payload, this.ctx.dim);
        } catch (err) {
          if (err instanceof MashaError) {
            this.count('bad-payload');
            continue;
          }
          throw err;
        }
      }
      agg.answered[s] = 1;
      agg.answeredCount++;
    }
    if (agg.mode === 'round' && agg.answeredCount === agg.assigned) {
      // The aggregator's own answers complete a round only through a zero-delay timer, so that a
      // peer holding every shard yields to its driver between rounds instead of recursing.
      if (sender === this.id) this.setTimer(T_COMMIT, 0);
      else this.aggCommit();
    }
  }

  private countAssigned(): number {
    const agg = this.agg as AggState;
    let n = 0;
    for (let s = 0; s < this.M; s++) if (agg.holders[s] !== null) n++;
    agg.assigned = n;
    return n;
  }

  /**
   * Round boundary: expire silent members, rebalance when membership or eligibility changed,
   * refresh the successor list. Returns the assignment delta not yet broadcast.
   */
  private aggBoundary(): DeltaEntry[] {
    const agg = this.agg as AggState;
    const { leaseMs } = this.ctx.timing;
    this.touchMember(this.id).round = this.committed;
    for (const m of agg.members.values()) {
      if (m.id === this.id) continue;
      if (this.now - m.lastHeard > leaseMs || m.disconnected) {
        agg.members.delete(m.id);
        agg.dirty = true;
        this.count('member-expired');
      } else if (this.isEligible(m) !== m.eligible) {
        agg.dirty = true;
      }
    }
    if (agg.dirty) {
      agg.dirty = false;
      const eligible: string[] = [];
      for (const m of agg.members.values()) {
        m.eligible = this.isEligible(m);
        if (m.eligible) eligible.push(m.id);
      }
      const changes = rebalance(agg.holders, eligible);
      for (const c of changes) {
        agg.unsent.add(c.shard);
        if (c.from !== null) {
          const f = agg.members.get(c.from);
          if (f) f.holding.delete(c.shard);
        }
        if (c.to !== null) (agg.members.get(c.to) as Member).holding.add(c.shard);
      }
      if (changes.length > 0) {
        agg.holdersChanged = true;
        this.count('reassigned-shards', changes.length);
      }
      const cands: { id: string; base: number }[] = [];
      for (const m of agg.members.values()) if (m.eligible && m.id !== this.id) cands.push(m);
      const successors = topByWeight(cands, agg.epoch + 1, this.ctx.successors);
      if (successors.length !== agg.successors.length || successors.some((p, i) => p !== agg.successors[i])) {
        agg.successors = successors;
        agg.successorsChanged = true;
      }
    }
    this.countAssigned();
    if (agg.unsent.size === 0) return [];
    const shards = [...agg.unsent].sort((a, b) => a - b);
    agg.unsent.clear();
    return shards.map((s) => ({ shard: s, holder: agg.holders[s] }));
  }

  private eligibleCount(): number {
    const agg = this.agg as AggState;
    let n = 0;
    for (const m of agg.members.values()) if (m.eligible) n++;
    return n;
  }

  /** Opens the next round with an explicit OPEN if everything allows it. */
  private aggTryOpen(): void {
    const agg = this.agg as AggState;
    if (agg.mode !== 'idle') return;
    if (this.doneReason !== null) {
      agg.mode = 'done';
      return;
    }
    // A better state reported during the gather (or since): fetch it first.
    let best: Member | null = null;
    for (const m of agg.members.values()) {
      if (m.id === this.id || agg.failedSync.has(`${m.id}|${m.round}|${digestHex(m.digest)}`)) continue;
      if (this.versionVs(m.round, m.commitEpoch, m.digest) >= 0) continue;
      if (best === null || MashaPeer.compareVersion(m.round, m.commitEpoch, m.digest, best.round, best.commitEpoch, best.digest) > 0) best = m;
    }
    if (best !== null && this.aggChase(best)) return;
    const delta = this.aggBoundary();
    if (this.eligibleCount() < this.ctx.minPeers || agg.assigned === 0) {
      for (const d of delta) agg.unsent.add(d.shard);
      this.count('round-paused');
      return;
    }
    this.aggStartRound(this.committed + 1, delta, true);
  }

  private aggStartRound(round: number, delta: DeltaEntry[], explicit: boolean): void {
    const agg = this.agg as AggState;
    const phase = this.expectedPhase();
    const attempt = agg.lastOpened.round === round ? agg.lastOpened.attempt + 1 : 0;
    agg.lastOpened = { round, attempt };
    agg.mode = 'round';
    agg.round = round;
    agg.attempt = attempt;
    agg.phase = phase;
    agg.info = this.method.phase(phase);
    agg.received.fill(null);
    agg.answered.fill(0);
    agg.freshAnswer.fill(0);
    agg.answeredCount = 0;
    if (explicit) {
      const wanted: number[] = [];
      for (let s = 0; s < this.M; s++) if (agg.holders[s] !== null) wanted.push(s);
      const body = encodeOpen(
        {
          attempt,
          iteration: this.replicaState.iteration,
          phase,
          baseEpoch: this.commitEpoch,
          baseDigest: this.digest,
          deadlineMs: this.ctx.timing.roundDeadlineMs,
          delta,
          wanted: wanted.length === this.M ? this.ctx.limits.allShards : wanted,
          successors: agg.successors,
        },
        this.M,
      );
      this.broadcast(this.message(MSG.OPEN, round, phaseCode(phase), body));
    }
    this.setTimer(T_DEADLINE, this.ctx.timing.roundDeadlineMs);
    this.aggSelfOpen(round, attempt, phase, delta, null);
  }

  /** The aggregator's own device part follows the round it opened. */
  private aggSelfOpen(round: number, attempt: number, phase: string, delta: readonly DeltaEntry[], wanted: ReadonlySet<number> | null): void {
    this.applyDelta(delta, this.epoch, round, attempt);
    this.open = { epoch: this.epoch, round, attempt, phase, baseEpoch: this.commitEpoch, baseDigest: this.digest.slice(), wanted };
    this.tryAnswer();
  }

  private aggOnDeadline(): void {
    const agg = this.agg;
    if (agg === null || agg.mode !== 'round') return;
    const info = agg.info as PhaseInfo;
    // Holders that let the deadline pass: after `missLimit` in a row their shards move elsewhere.
    for (let s = 0; s < this.M; s++) {
      const h = agg.holders[s];
      if (h !== null && agg.answered[s] === 0 && h !== this.id) {
        const m = agg.members.get(h);
        if (m) {
          m.lastMissAt = this.now;
          if (++m.missed === this.ctx.missLimit) agg.dirty = true;
        }
      }
    }
    const enough = info.requiresAll ? agg.answeredCount === this.M : agg.answeredCount >= this.ctx.quorum;
    if (enough && agg.answeredCount > 0) {
      this.aggCommit();
      return;
    }
    // Not enough: reassign what must move and re-open the round for the missing shards.
    this.count('round-retry');
    this.aggRetry();
  }

  private aggRetry(): void {
    const agg = this.agg as AggState;
    const delta = this.aggBoundary();
    if (this.eligibleCount() < this.ctx.minPeers || agg.assigned === 0) {
      // Too few peers left to go on: pause (the heartbeat tick re-opens when they are back).
      for (const d of delta) agg.unsent.add(d.shard);
      agg.mode = 'idle';
      this.count('round-paused');
      return;
    }
    const round = agg.round;
    const attempt = agg.lastOpened.attempt + 1;
    agg.lastOpened = { round, attempt };
    agg.attempt = attempt;
    const wanted: number[] = [];
    for (let s = 0; s < this.M; s++) if (agg.holders[s] !== null && agg.answered[s] === 0) wanted.push(s);
    const body = encodeOpen(
      {
        attempt,
        iteration: this.replicaState.iteration,
        phase: agg.phase,
        baseEpoch: this.commitEpoch,
        baseDigest: this.digest,
        deadlineMs: this.ctx.timing.roundDeadlineMs,
        delta,
        wanted,
        successors: agg.successors,
      },
      this.M,
    );
    this.broadcast(this.message(MSG.OPEN, round, phaseCode(agg.phase), body));
    this.setTimer(T_DEADLINE, this.ctx.timing.roundDeadlineMs);
    const mine = new Set<number>();
    for (const s of wanted) if (agg.holders[s] === this.id) mine.add(s);
    this.aggSelfOpen(round, attempt, agg.phase, delta, mine);
  }

  private aggCommit(): void {
    const agg = this.agg as AggState;
    const info = agg.info as PhaseInfo;
    const phase = agg.phase;
    const round = agg.round;
    this.clearTimer(T_DEADLINE);
    const uplinks: ShardUplink[] = [];
    let anyFresh = false;
    for (let s = 0; s < this.M; s++) {
      if (agg.freshAnswer[s] === 1) anyFresh = true;
      const p = agg.received[s];
      if (p !== null) uplinks.push({ shard: s, payload: p });
    }
    const forceRefresh = !info.requiresAll && (agg.holdersChanged || anyFresh);
    if (forceRefresh) this.count('forced-refresh');
    const downlink = this.method.serverAggregate(agg.server, this.replicaState, phase, uplinks, { forceRefresh });
    for (const u of uplinks) info.uplink.release?.(u.payload);
    agg.received.fill(null);
    const payloadBytes = downlink.payload === null ? null : info.downlink.encode(downlink.payload);
    if (downlink.payload !== null) info.downlink.release?.(downlink.payload);
    // Apply exactly what devices will decode.
    const decoded = payloadBytes === null ? null : info.downlink.decode(payloadBytes, this.ctx.dim);
    const included = downlink.included.length === this.M ? this.ctx.limits.allShards : downlink.included;
    const parent = this.digest.slice();
    const iteration = this.replicaState.iteration;
    const placeholder = this.message(MSG.COMMIT, round, phaseCode(phase), EMPTY_BYTES);
    // The commit's body needs the post-apply digest: apply first, then build the message.
    this.applyDownlinkLocal(round, phase, { payload: decoded, flags: downlink.flags, included });
    if (decoded !== null) info.downlink.release?.(decoded);
    if (info.requiresAll) agg.holdersChanged = false;
    let next: { delta: DeltaEntry[] } | null = null;
    if (this.finishReason() === null) {
      const delta = this.aggBoundary();
      if (this.eligibleCount() >= this.ctx.minPeers && agg.assigned > 0) next = { delta };
      else for (const d of delta) agg.unsent.add(d.shard);
    }
    // Successors travel when they change and every 16th round (for peers that missed it).
    const sendSuccessors = agg.successorsChanged || round % 16 === 0;
    agg.successorsChanged = false;
    const body = encodeCommit(
      {
        iteration,
        phase,
        flags: downlink.flags,
        parentDigest: parent,
        digest: this.digest,
        included,
        payload: payloadBytes,
        successors: sendSuccessors ? agg.successors : [],
        next,
      },
      this.M,
    );
    const msg: EngineMessage = { ...placeholder, body };
    this.logCommit(msg);
    this.broadcast(msg);
    this.emitCommit(msg, iteration, phase, included);
    this.checkDone();
    if (this.agg === null || this.agg.mode === 'done') return;
    if (next !== null) this.aggStartRound(round + 1, next.delta, false);
    else {
      agg.mode = 'idle';
      this.count('round-paused');
    }
  }

  /** The aggregator's application of its own commit (the commit action is emitted once the message exists). */
  private applyDownlinkLocal(round: number, phase: string, downlink: Downlink): void {
    const next = this.method.deviceApply(this.replicaState, phase, downlink);
    this.adoptPending(round, downlink.included);
    this.committed = round;
    this.commitEpoch = this.epoch;
    this.nextPhase = next;
    replicaDigest(this.replicaState, round, next ?? '', this.ctx.shape.names, this.digest);
  }

  private emitCommit(msg: EngineMessage, iteration: number, phase: string, included: readonly number[]): void {
    this.out.push({ type: 'commit', epoch: msg.epoch, round: msg.round, iteration, phase, included, digest: digestHex(this.digest) });
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/**
 * Claim delay, in claim windows, of an unlisted peer whose weight ranks at `x` = 1 − w/2³² ∈ (0, 1]
 * (uniform over peers): log₂(1 + n·x), with n the run's shard count, the expected swarm size.
 *
 * Why not a linear spread: the k-th highest of N uniform weights sits at x ≈ k/N, so a linear
 * delay W·x leaves W/N between successive claimants, and every peer whose timer fires before
 * the first claim has crossed the gossip tree (propagation P) claims too: about N·P/W of them
 * (~150 peers at N = 1,000, P ≈ 150 ms, W = 500 ms), each claim a broadcast to the whole swarm.
 * With the logarithm the k-th claims at ≈ W·log₂(1 + k·n/N): for N ≈ n the top peer claims after
 * about one window and the others only within P of it, k < 2^(1 + P/W) − 1 — one or two claimants
 * whatever the swarm size. The order (highest weight first) is unchanged; for n = 1 the spread is
 * within 0.09 W of the linear one; a swarm much smaller than n waits ≈ W·log₂(n/N) longer.
 */
export function claimSpread(x: number, n: number): number {
  return Math.log2(1 + n * x);
}

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
function copyShard(src: ShardState, dst: ShardState): ShardState {
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
  const vectors: Record<string, Float64Array> = {};
  for (const n of names) vectors[n] = src.vectors[n].slice();
  return { vectors };
}

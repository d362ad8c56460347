/**
 * The replicated state and its lineage: the method's replica (z, w, F(w), …), the last committed
 * round this peer applied, the epoch that committed it, the replica digest, the commit log kept
 * for replays, and whether the run is over.
 *
 * Versions are totally ordered by (round, commit epoch, digest): the higher version wins whenever
 * two lineages meet. A commit carries its parent digest, so a peer applies round r only on top of
 * the exact state it was computed from.
 */
import type { Vec, Downlink, AnyMethod, ReplicaState } from '../methods/types.js';
import type { PhaseName } from '../methods/types.js';
import { distSq } from '../vec/kernels.js';
import type { RunContext } from './context.js';
import { compareDigests, digestEquals, digestHex, replicaDigest } from './digest.js';
import { decodeCommit } from './messages.js';
import type { EngineMessage, StopReason } from './types.js';
import type { CommitCert } from '../trust/certs.js';

/** Digests after applying a commit body on a parent digest (see `Lineage.apply`). */
const APPLIED = new WeakMap<Uint8Array, Applied>();

interface Applied {
  readonly round: number;
  readonly parent: Uint8Array;
  readonly digest: Uint8Array;
  /** `digestHex(digest)`, made by the first peer that asks (every commit action carries it). */
  hex: string | null;
}

/** Version order: > 0 when (r1, e1, d1) is better than (r2, e2, d2). */
export function compareVersion(r1: number, e1: number, d1: Uint8Array, r2: number, e2: number, d2: Uint8Array): number {
  if (r1 !== r2) return r1 - r2;
  if (e1 !== e2) return e1 - e2;
  return compareDigests(d1, d2);
}

/** The header of a state snapshot being installed. */
export interface InstalledState {
  readonly cert: CommitCert | null;
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
  readonly nextPhase: PhaseName | '';
}

export class Lineage {
  replica: ReplicaState<Vec>;
  /** Last committed round applied, the epoch that committed it, and the replica's digest after it. */
  committed = 0;
  commitEpoch = 0;
  readonly digest: Uint8Array;
  /** The next phase of the current iteration (null: the next round starts an iteration). */
  nextPhase: PhaseName | null = null;
  doneReason: StopReason | null = null;
  /** The signed commit that certifies this version (null at round 0). */
  cert: CommitCert | null = null;
  /** Spare replica that snapshots are decoded into before they are checked and swapped in. */
  private scratch: ReplicaState<Vec> | null = null;
  /** The shared record of the last commit body applied (its digest names its hex string), or null. */
  private applied: Applied | null = null;
  private readonly log: (EngineMessage | null)[];
  private logFrom = 1;
  private readonly method: AnyMethod;

  constructor(private readonly ctx: RunContext) {
    this.method = ctx.method;
    this.replica = ctx.method.initReplica(ctx.z0);
    this.digest = ctx.initialDigest.slice();
    this.log = new Array<EngineMessage | null>(ctx.logRounds).fill(null);
  }

  get logLength(): number {
    return this.log.length;
  }

  get digestHex(): string {
    const a = this.applied;
    if (a === null || !digestEquals(a.digest, this.digest)) return digestHex(this.digest);
    return (a.hex ??= digestHex(this.digest));
  }

  /** > 0 when this peer's version is better than (round, epoch, digest). */
  versionVs(round: number, epoch: number, digest: Uint8Array): number {
    return compareVersion(this.committed, this.commitEpoch, this.digest, round, epoch, digest);
  }

  /** True when round r on parent digest `parent` extends this state. */
  extendedBy(round: number, parent: Uint8Array): boolean {
    return round === this.committed + 1 && digestEquals(parent, this.digest);
  }

  expectedPhase(): PhaseName {
    return this.nextPhase ?? this.method.startPhase(this.replica);
  }

  /** ‖z − z*‖² / ‖z⁰ − z*‖² of the replica, or null when z* is unknown. */
  relDist(): number | null {
    const sol = this.ctx.solution;
    return sol ? distSq(this.method.iterate(this.replica), sol) / this.ctx.initialDistSq : null;
  }

  /**
   * Applies round `round`, committed in `epoch`, to the replica: the method's deviceApply, then the
   * lineage bookkeeping and the new digest. `adopt` runs between the two (the device adopts its
   * shard memories). Returns the iteration the round belonged to.
   */
  apply(round: number, epoch: number, phase: PhaseName, downlink: Downlink, adopt: () => void, commitBody?: Uint8Array): number {
    const iterationBefore = this.replica.iteration;
    const next = this.method.deviceApply(this.replica, phase, downlink);
    adopt();
    this.committed = round;
    this.commitEpoch = epoch;
    this.nextPhase = next;
    // The digest after a commit is a function of the state before it (named by its SHA-256 digest)
    // and of the commit: applying is deterministic. So a peer applying the very commit object
    // another peer of this process applied on the same parent digest takes that digest instead of
    // hashing an identical replica again — the simulator hands one broadcast to every recipient as
    // one object, and 1,000 peers hash once per round instead of 1,000 times. Separate processes
    // (Node, browsers) never share a body object: each hashes its own replica.
    const cached = commitBody === undefined ? undefined : APPLIED.get(commitBody);
    if (cached !== undefined && digestEquals(cached.parent, this.digest) && cached.round === round) {
      this.digest.set(cached.digest);
      this.applied = cached;
    } else {
      const parent = this.digest.slice();
      replicaDigest(this.replica, round, next ?? '', this.ctx.shape.names, this.digest);
      if (commitBody === undefined) this.applied = null;
      else {
        this.applied = { round, parent, digest: this.digest.slice(), hex: null };
        APPLIED.set(commitBody, this.applied);
      }
    }
    return iterationBefore;
  }

  /** Keeps a committed round's message for replays. */
  logCommit(msg: EngineMessage): void {
    const L = this.log.length;
    this.log[msg.round % L] = msg;
    if (msg.round - this.logFrom >= L) this.logFrom = msg.round - L + 1;
  }

  /** Body bytes of the largest commit in the log (0 when it is empty): sizes replay requests. */
  largestLoggedCommit(): number {
    let n = 0;
    for (const m of this.log) if (m !== null && m.body.length > n) n = m.body.length;
    return n;
  }

  /** The last commit applied, when it is still in the log (checkpoints keep it). */
  lastCommit(): EngineMessage | null {
    const m = this.log[this.committed % this.log.length];
    return m !== null && m !== undefined && m.round === this.committed ? m : null;
  }

  /** The logged commit of round r (caller checks `canReplay` first). */
  logged(round: number): EngineMessage {
    return this.log[round % this.log.length] as EngineMessage;
  }

  /** True when the log holds every commit after (round, digest) up to this peer's round. */
  canReplay(round: number, digest: Uint8Array): boolean {
    const first = round + 1;
    if (first < this.logFrom || first > this.committed) return false;
    const m = this.log[first % this.log.length];
    if (m === null || m.round !== first) return false;
    const parent = decodeCommit(m.body, this.ctx.limits).parentDigest;
    return digestEquals(parent, digest);
  }

  /** Why the run is over after the last applied round, or null. */
  finishReason(): StopReason | null {
    if (this.nextPhase !== null) return null;
    if (this.replica.iteration >= this.ctx.maxIterations) return 'iterations';
    if (this.ctx.target !== null && this.ctx.solution !== null) {
      const rd = this.relDist();
      if (rd !== null && rd <= this.ctx.target) return 'target';
    }
    return null;
  }

  /** The spare replica a snapshot is decoded into (`install` swaps it in). */
  spare(): ReplicaState<Vec> {
    if (this.scratch === null) this.scratch = this.method.initReplica(this.ctx.z0);
    return this.scratch;
  }

  /** Swaps in the spare replica (already decoded and digest-checked) as the state `h`; clears the log. */
  install(h: InstalledState): void {
    const scratch = this.spare();
    this.scratch = this.replica;
    this.replica = scratch;
    this.committed = h.round;
    this.commitEpoch = h.commitEpoch;
    this.nextPhase = h.nextPhase === '' ? null : h.nextPhase;
    this.digest.set(h.digest);
    this.cert = h.cert;
    this.log.fill(null);
    this.logFrom = h.round + 1;
  }
}

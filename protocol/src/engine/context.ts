/**
 * The run context: everything a peer needs that is the same for every peer of a run — run id,
 * the method instance, the starting point, limits, timing. It is immutable (but for the pool of
 * evaluation buffers the peers borrow from) and may be shared by every peer a simulator hosts in
 * one process (methods keep per-peer state only in the
 * Replica/Shard/Server states the engine owns; their work vectors are scratch).
 */
import { ValidationError } from '../errors.js';
import type { AnyMethod, Vec } from '../methods/types.js';
import { distSq } from '../vec/kernels.js';
import { DIGEST_BYTES, replicaDigest, vectorNames } from './digest.js';
import type { BodyLimits, ReplicaShape } from './messages.js';
import { wireBytes, type ServingLimits } from './serving.js';
import { WorkPool } from './work-pool.js';
import { SharedDecodes } from './shared-decodes.js';
import { MAX_STRIPES, maxRosterBytes } from '../tree/roster.js';
import { isTreeKind, MAX_TREE_FRAMES, maxTreeBodyBytes } from '../tree/wire.js';
import { DEFAULT_FRAME_BYTES, FIXED_HEADER_BYTES, MAX_FRAME_BYTES, MAX_SENDER_BYTES, MIN_FRAME_BYTES } from '../frames/format.js';
import { MAX_CHAIN_BYTES } from '../trust/certs.js';
import { guardSettings, type GuardSettings } from './guard.js';

function checkedGuard(t: GuardSettings): GuardSettings {
  if (!(Number.isSafeInteger(t.refusalLimit) && t.refusalLimit >= 1))
    throw new ValidationError('guard.refusalLimit', `must be an integer ≥ 1, got ${t.refusalLimit}`);
  if (!(t.boundFactor >= 1 && Number.isFinite(t.boundFactor)))
    throw new ValidationError('guard.boundFactor', `must be a finite number ≥ 1, got ${t.boundFactor}`);
  if (!(t.audit >= 0 && t.audit <= 1)) throw new ValidationError('guard.audit', `must be a probability in [0, 1], got ${t.audit}`);
  const r = t.running;
  if (!(Number.isSafeInteger(r.window) && r.window >= 1 && Number.isSafeInteger(r.warmup) && r.warmup >= 1 && r.warmup <= r.window && r.factor > 1)) {
    throw new ValidationError('guard.running', 'window ≥ warmup ≥ 1 (integers) and factor > 1');
  }
  return t;
}

/** A peer id's length as the limits assume it (libp2p Ed25519 peer ids are 52 characters). */
const TYPICAL_SENDER_BYTES = 52;

/**
 * Where a resumed run continues (the launcher's checkpoint, announced with the run): the version
 * every peer must reach before rounds open again, the epoch to continue from, and the peer that
 * serves that state (the launcher).
 */
export interface ResumePoint {
  readonly round: number;
  readonly commitEpoch: number;
  /** Highest epoch seen before the checkpoint: elections continue above it. */
  readonly epoch: number;
  readonly digest: Uint8Array;
  /** The peer that holds this state and serves it. */
  readonly source: string;
}

export interface EngineTiming {
  /** Heartbeat period: devices → aggregator when otherwise silent; aggregator → all when idle. */
  readonly heartbeatMs: number;
  /** Silence past the lease means failure (of a device, at the aggregator; of the aggregator, at devices). */
  readonly leaseMs: number;
  /** How long a round collects answers before committing with what arrived. */
  readonly roundDeadlineMs: number;
  /** How long a new aggregator collects heartbeats before its first round. */
  readonly gatherMs: number;
  /** Delay between successive successors' claims when the aggregator goes silent. */
  readonly claimStepMs: number;
  /**
   * Claim spread unit of peers outside the published successor list: by rendezvous weight, on a
   * logarithmic scale in the shard count (see `claimSpread` in peer.ts): in a swarm of about M
   * peers the highest-weight one claims about one window after the list's turns.
   */
  readonly claimWindowMs: number;
  /** A state request unanswered for this long is retried (or given up, at an aggregator). */
  readonly syncTimeoutMs: number;
  /**
   * How long a device that hears of a commit or two it has not applied waits for them before
   * asking for a replay (they are usually in flight). Default: one heartbeat.
   */
  readonly syncGraceMs: number;
}

/** How the aggregator's large broadcasts travel (see tree/). */
export interface BroadcastSettings {
  /** Down striped relay trees (true), or over gossip only (false). */
  readonly tree: boolean;
  /** Most stripes (relay trees) per broadcast. */
  readonly stripes: number;
  /** Broadcasts of at least this many bytes go down the trees (ones of several frames always do). */
  readonly minBytes: number;
  /** A stripe that makes no progress for this long is repaired (ms). Default: half a heartbeat. */
  readonly stallMs: number;
  /** The run's frame size (bytes), for the trees' cost model. */
  readonly frameBytes: number;
  /** The latency of one relay hop the trees' cost model assumes (ms): two home access links. */
  readonly hopMs: number;
  /** The upload rate assumed for peers that report none (kbit/s). */
  readonly defaultUpKbps: number;
}

export const DEFAULT_BROADCAST = { tree: true, stripes: 8, minBytes: 32 * 1024, frameBytes: 64 * 1024, hopMs: 40, defaultUpKbps: 20_000 } as const;

export interface RunContextInit {
  readonly runId: string;
  readonly method: AnyMethod;
  readonly z0: Vec;
  /** z* when known: enables `stop.target` and the relative-distance metric. */
  readonly solution?: Float64Array | null;
  readonly maxIterations: number;
  /** Stop once ‖z − z*‖² / ‖z⁰ − z*‖² ≤ target (needs `solution`). */
  readonly target?: number | null;
  /** Shards that must answer for a compressed phase to commit. */
  readonly quorum: number;
  /** Live synchronised peers needed before rounds open (default 1). */
  readonly minPeers?: number;
  readonly timing: Pick<EngineTiming, 'heartbeatMs' | 'leaseMs' | 'roundDeadlineMs'> & Partial<EngineTiming>;
  /** Committed rounds each peer keeps for catch-up replays (default 32). */
  readonly logRounds?: number;
  /** Successors the aggregator publishes (default 3). */
  readonly successors?: number;
  /** A device whose last report lags the aggregator by more than this many rounds is not given shards (default 2). */
  readonly syncSlack?: number;
  /** Deadlines a holder may miss in a row before its shards move elsewhere (default 2). */
  readonly missLimit?: number;
  /** Large broadcasts (default: relay trees, see DEFAULT_BROADCAST). */
  readonly broadcast?: Partial<BroadcastSettings>;
  /** Round deadlines without a commit after which devices holding shards replace the aggregator (default 5). */
  readonly stallDeadlines?: number;
  /** Who may become a member (default: anyone). */
  readonly admission?: AdmissionPolicy;
  /** Shard assignment: `even` (⌊M/N⌋ or ⌈M/N⌉ each, the default) or weighted by measured `throughput` (assignment-weights.ts). */
  readonly assignment?: AssignmentMode;
  /**
   * Bounds, refusals and audits (guard.ts). `shards` (Lipschitz constants and ‖F_m(0)‖) turns on
   * the Lipschitz bounds; without it answers are only checked for being decodable, unless
   * `bounds: 'running'` is asked for.
   */
  readonly guard?: Partial<GuardSettings>;
  /** Frame size of the run (the manifest's network.frameBytes; default 64 KiB): byte accounting of served state. */
  readonly frameBytes?: number;
  /** Most peers an aggregator keeps in its membership table (default max(1024, 4·M)); further peers are not admitted until some expire. */
  readonly maxMembers?: number;
  /** Limits on serving snapshots and replays (serving.ts); defaults from the snapshot size. */
  readonly serving?: Partial<ServingLimits>;
  /** A resumed run: the state to reach before rounds open (see ResumePoint). */
  readonly resume?: ResumePoint | null;
}

/**
 * The run's admission policy, as the aggregator applies it to new members: anyone (`open`), peers
 * with a launcher-signed join token (`tokens`: `launcherKey` checks it; `now` is the wall clock in
 * ms, for the token's expiry), or the listed peer ids (`allowlist`); and caps on the members of an
 * aggregator's table and on members new since its gather.
 */
export interface AdmissionPolicy {
  readonly policy: 'open' | 'tokens' | 'allowlist';
  readonly peers?: readonly string[];
  readonly launcherKey?: Uint8Array | null;
  readonly maxMembers?: number | null;
  readonly maxNewPerEpoch?: number | null;
  /** Wall clock (ms since the Unix epoch) for token expiry; the runtime supplies it. */
  readonly wallClock?: () => number;
}

export type AssignmentMode = 'even' | 'throughput';

export interface RunContext {
  readonly runId: string;
  readonly method: AnyMethod;
  readonly dim: number;
  readonly shards: number;
  readonly z0: Vec;
  readonly solution: Float64Array | null;
  /** ‖z⁰ − z*‖² (1 when z* is unknown). */
  readonly initialDistSq: number;
  readonly maxIterations: number;
  readonly target: number | null;
  readonly quorum: number;
  readonly minPeers: number;
  readonly timing: EngineTiming;
  readonly logRounds: number;
  readonly successors: number;
  readonly syncSlack: number;
  readonly missLimit: number;
  readonly broadcast: BroadcastSettings;
  readonly stallDeadlines: number;
  readonly admission: AdmissionPolicy;
  readonly assignment: AssignmentMode;
  readonly guard: GuardSettings;
  readonly limits: BodyLimits;
  readonly frameBytes: number;
  readonly maxMembers: number;
  readonly serving: ServingLimits;
  /** Frame bytes of a full snapshot of this run (an upper bound), from a typical sender. */
  readonly snapshotWireBytes: number;
  /** Frame bytes of a replay of the whole commit log (an upper bound), from a typical sender. */
  readonly replayWireBytes: number;
  /** The most one state request may pay for (frame bytes): a snapshot, or a replay of up to 4 snapshots' worth. */
  readonly largestAnswerWireBytes: number;
  readonly resume: ResumePoint | null;
  /** Names (sorted) and lengths of the replica's vectors. */
  readonly shape: ReplicaShape;
  /** Digest of the initial replica (round 0), the root of every lineage. */
  readonly initialDigest: Uint8Array;
  /** Evaluation<Vec> buffers lent to device steps (shared by the peers of one process). */
  readonly workPool: WorkPool;
  /** Decoded commit bodies and downlinks, shared by the peers of one process that hold the same body object (shared-decodes.ts). */
  readonly decodes: SharedDecodes;
}

export function createRunContext(init: RunContextInit): RunContext {
  const { method, runId } = init;
  if (!/^[0-9a-f]{64}$/.test(runId)) throw new ValidationError('runId', 'must be 64 lower-case hex digits');
  const M = method.shards;
  const dim = method.dim;
  if (init.z0.length !== dim) throw new ValidationError('z0', `length ${init.z0.length}, expected ${dim}`);
  const t = init.timing;
  const timing: EngineTiming = {
    heartbeatMs: t.heartbeatMs,
    leaseMs: t.leaseMs,
    roundDeadlineMs: t.roundDeadlineMs,
    gatherMs: t.gatherMs ?? t.heartbeatMs,
    claimStepMs: t.claimStepMs ?? t.heartbeatMs,
    claimWindowMs: t.claimWindowMs ?? t.heartbeatMs,
    syncTimeoutMs: t.syncTimeoutMs ?? t.leaseMs,
    syncGraceMs: t.syncGraceMs ?? t.heartbeatMs,
  };
  for (const [k, v] of Object.entries(timing)) {
    if (!(v > 0 && Number.isFinite(v))) throw new ValidationError(`timing.${k}`, `must be a positive number of ms, got ${v}`);
  }
  if (timing.leaseMs < 2 * timing.heartbeatMs) throw new ValidationError('timing.leaseMs', 'must be at least twice heartbeatMs');
  if (!(Number.isSafeInteger(init.quorum) && init.quorum >= 1 && init.quorum <= M)) {
    throw new ValidationError('quorum', `must be an integer in [1, ${M}], got ${init.quorum}`);
  }
  const replica = method.initReplica(init.z0);
  const names = vectorNames(replica);
  const shape: ReplicaShape = { names, lengths: names.map((n) => replica.vectors[n].length) };
  const solution = init.solution ?? null;
  const frameBytes = init.frameBytes ?? DEFAULT_FRAME_BYTES;
  if (!(Number.isInteger(frameBytes) && frameBytes >= MIN_FRAME_BYTES && frameBytes <= MAX_FRAME_BYTES)) {
    throw new ValidationError('frameBytes', `must be an integer in [${MIN_FRAME_BYTES}, ${MAX_FRAME_BYTES}], got ${frameBytes}`);
  }
  const logRounds = init.logRounds ?? 32;
  const snapshotWireBytes = wireBytes(stateBodyBound(shape), TYPICAL_SENDER_BYTES, frameBytes);
  // The most a replay of the whole commit log can cost (commit bodies at their bound).
  const replayWireBytes = logRounds * wireBytes(commitBodyBound(M, dim), TYPICAL_SENDER_BYTES, frameBytes);
  // What one request may pay for: a snapshot, or a replay up to four snapshots' worth (a longer one
  // is cut where its credit ends, and the requester asks again for the rest).
  const largestAnswer = Math.max(snapshotWireBytes, Math.min(replayWireBytes, 4 * snapshotWireBytes));
  const serving: ServingLimits = {
    amplification: init.serving?.amplification ?? 2,
    // A member may fetch its largest answer twice per lease; all members together eight times that.
    perPeerBytesPerLease: init.serving?.perPeerBytesPerLease ?? 2 * largestAnswer,
    totalBytesPerLease: init.serving?.totalBytesPerLease ?? 16 * largestAnswer,
  };
  if (!(serving.amplification >= 1)) throw new ValidationError('serving.amplification', `must be ≥ 1, got ${serving.amplification}`);
  const maxMembers = init.maxMembers ?? Math.max(1024, 4 * M);
  if (!(Number.isSafeInteger(maxMembers) && maxMembers >= 1)) throw new ValidationError('maxMembers', `must be a positive integer, got ${maxMembers}`);
  const allShards = Object.freeze(Array.from({ length: M }, (_, m) => m));
  const bc = init.broadcast ?? {};
  const broadcast: BroadcastSettings = {
    tree: bc.tree ?? DEFAULT_BROADCAST.tree,
    stripes: bc.stripes ?? DEFAULT_BROADCAST.stripes,
    minBytes: bc.minBytes ?? DEFAULT_BROADCAST.minBytes,
    stallMs: bc.stallMs ?? Math.max(1, timing.heartbeatMs / 2),
    frameBytes: bc.frameBytes ?? DEFAULT_BROADCAST.frameBytes,
    hopMs: bc.hopMs ?? DEFAULT_BROADCAST.hopMs,
    defaultUpKbps: bc.defaultUpKbps ?? DEFAULT_BROADCAST.defaultUpKbps,
  };
  if (!(Number.isInteger(broadcast.stripes) && broadcast.stripes >= 1 && broadcast.stripes <= MAX_STRIPES)) {
    throw new ValidationError('broadcast.stripes', `must be an integer in [1, ${MAX_STRIPES}], got ${broadcast.stripes}`);
  }
  if (!(broadcast.minBytes >= 0 && broadcast.stallMs > 0 && broadcast.frameBytes > 0 && broadcast.hopMs >= 0 && broadcast.defaultUpKbps > 0)) {
    throw new ValidationError('broadcast', 'minBytes and hopMs must be ≥ 0, stallMs, frameBytes and defaultUpKbps > 0');
  }
  return {
    runId,
    method,
    dim,
    shards: M,
    z0: init.z0,
    solution,
    initialDistSq: solution ? Math.max(distSq(method.iterate(replica), solution), Number.MIN_VALUE) : 1,
    maxIterations: init.maxIterations,
    target: init.target ?? null,
    quorum: init.quorum,
    minPeers: init.minPeers ?? 1,
    timing,
    logRounds,
    successors: init.successors ?? 3,
    syncSlack: init.syncSlack ?? 2,
    missLimit: init.missLimit ?? 2,
    broadcast,
    stallDeadlines: init.stallDeadlines ?? 5,
    admission: init.admission ?? { policy: 'open' },
    assignment: init.assignment ?? 'even',
    guard: checkedGuard(guardSettings(init.guard, init.guard?.shards ?? null)),
    // 64 bits per coordinate plus slack bounds every compressor's payload (identity: 32).
    limits: { shards: M, maxPayloadBytes: 8 * dim + 4096, allShards },
    frameBytes,
    maxMembers,
    serving,
    snapshotWireBytes,
    replayWireBytes,
    largestAnswerWireBytes: largestAnswer,
    resume: init.resume ?? null,
    shape,
    initialDigest: replicaDigest(replica, 0, '', names, new Uint8Array(DIGEST_BYTES)),
    workPool: new WorkPool(method),
    decodes: new SharedDecodes(),
  };
}

/**
 * Largest body (bytes) a message of `kind` can have in this run: what a driver passes to the
 * frame reassembler as its per-message limit.
 */
export function maxBodyBytes(ctx: RunContext, kind: number): number {
  const M = ctx.shards;
  const ids = 130 * (M + 16);
  switch (kind) {
    case 1: // heartbeat (+ a commit certificate and a join token)
      return 64 + 9 * M + 512;
    case 2: // announce (+ signed succession and certificate chain)
      return 64 + 130 * 16 + 128 + MAX_CHAIN_BYTES;
    case 3: // open
      return 256 + ids + 20 * M + 128 + MAX_CHAIN_BYTES;
    case 4: // uplink
      return 16 + M * (16 + ctx.limits.maxPayloadBytes);
    case 5: // commit
    case 8: // replay
      return commitBodyBound(M, ctx.dim);
    case 6: // state request, padded to pay for the largest answer (serving.ts)
      return 64 + Math.ceil(ctx.largestAnswerWireBytes / Math.max(1, ctx.serving.amplification)) + 4096;
    case 7:
      return stateBodyBound(ctx.shape);
    case 9: // suspect
      return 256;
    case 10: // equivocation
      return 1024;
    case 11: // audit
      return 64 + 9 * M;
    case 12: // roster
      return maxRosterBytes();
    default:
      return isTreeKind(kind) ? maxTreeBodyBytes(kind, maxTreeFrames(ctx)) : 0;
  }
}

/** Most frames a relayed broadcast of this run can have (its largest broadcast body at the smallest frame). */
export function maxTreeFrames(ctx: RunContext): number {
  const body = Math.max(maxBodyBytes(ctx, 5), maxBodyBytes(ctx, 3), maxBodyBytes(ctx, 2));
  const stride = MIN_FRAME_BYTES - FIXED_HEADER_BYTES - 4 - MAX_SENDER_BYTES;
  return Math.min(MAX_TREE_FRAMES, Math.ceil(body / stride));
}

/** Largest COMMIT body of a run of M shards and dimension `dim`. */
export function commitBodyBound(M: number, dim: number): number {
  return 512 + (8 * dim + 4096) + 130 * (M + 16) + 20 * M + 256 + MAX_CHAIN_BYTES;
}

/** Largest STATE body of a replica of this shape. */
export function stateBodyBound(shape: ReplicaShape): number {
  let n = 1024;
  for (let i = 0; i < shape.names.length; i++) n += 140 + 8 * shape.lengths[i];
  return n;
}

/** The same run context continuing from a resume point (every other field shared). */
export function withResume(ctx: RunContext, resume: ResumePoint | null): RunContext {
  return { ...ctx, resume };
}

/**
 * The sans-I/O round engine's contract with its drivers (the simulator in sim/, the libp2p
 * adapters in node/ and browser/). A driver owns clocks, timers, sockets and frame I/O; the engine
 * owns every protocol decision.
 *
 * A driver feeds a peer `EngineEvent`s stamped with its clock (`now`, milliseconds: virtual in the
 * simulator, real in the network) and carries out the returned `EngineAction`s. Same events in,
 * same actions out: that is what lets a simulated trace predict the real swarm.
 */

import type { Vec, Evaluation } from '../methods/types.js';
import type { PhaseName } from '../methods/types.js';
import type { Roster } from '../tree/roster.js';

export type PeerId = string;

/**
 * A volunteer holds shards, answers rounds and may be elected; an observer (a launcher following
 * its run) only applies the commits it hears and fetches state when it falls behind: it sends no
 * heartbeat, so it is never a member, never given shards and never elected.
 */
export type EngineRole = 'volunteer' | 'observer';

/** The engine's timers (one of each per peer; setting one that is set replaces it). */
export type TimerKind = 'hb' | 'wd' | 'claim' | 'gather' | 'deadline' | 'sync' | 'behind' | 'commit';

/** Why a run ended for a peer. */
export type StopReason = 'iterations' | 'target';

/** Every counter an engine keeps (`metric` actions carry these names). */
export const ENGINE_COUNTERS = [
  'aborted-round',
  'audit-match',
  'audit-mismatch',
  'audit-moot',
  'audit-requested',
  'audit-served',
  'audit-timeout',
  'bad-bans',
  'bad-message',
  'bad-payload',
  'bad-signature',
  'ban-issued',
  'ban-learned',
  'ban-refused',
  'ban-voided',
  'banned',
  'banned-peer',
  'banned-sender',
  'benched',
  'clipped',
  'digest-mismatch',
  'duplicate-commit',
  'duplicate-uplink',
  'early-commit-applied',
  'epoch-conflict',
  'epoch-exhausted',
  'equivocation-proven',
  'evaluation-failed',
  'forced-refresh',
  'holding-corrected',
  'late-uplink',
  'member-expired',
  'misdirected',
  'not-admitted',
  'out-of-bound',
  'phase-mismatch',
  'reassigned-shards',
  'rejected',
  'replay-applied',
  'replay-skipped',
  'replays-served',
  'resume-sync',
  'round-paused',
  'round-retry',
  'snapshots-served',
  'stale-epoch',
  'stale-evaluation',
  'stalled-aggregator',
  'state-digest-mismatch',
  'state-installed',
  'state-not-newer',
  'member-cap',
  'replay-cut',
  'state-request-not-behind',
  'state-request-not-member',
  'state-request-peer-rate',
  'state-request-total-rate',
  'state-request-unpaid',
  'step-down',
  'suspect-sent',
  'sync-after-grace',
  'sync-request',
  'sync-timeout',
  'unassigned-uplink',
  'uncertified-epoch',
  'uncertified-state',
  'uncertified-version',
  'unsolicited-replay',
  'unsolicited-state',
  'warmup-judged',
  'wrong-run',
] as const;
export type EngineCounter = (typeof ENGINE_COUNTERS)[number];

/**
 * Operator evaluations a device step needs (see `AnyMethod.planUplink`): the host hands them to
 * its evaluator, which writes every `value` and then reports `evaluated` with the same id. The
 * buffers belong to the request until then; the engine drops an answer whose base state has moved on.
 */
export interface EvaluationRequest {
  /** Unique among this peer's requests. */
  readonly id: number;
  /** The method iteration and phase the steps belong to (for evaluators that key data by them). */
  readonly iteration: number;
  readonly phase: PhaseName;
  /** Per shard, the evaluations of its device step, in order. */
  readonly items: readonly { readonly shard: number; readonly evaluations: readonly Evaluation<Vec>[] }[];
}

/** Protocol message as handed to / received from the frame layer. */
export interface EngineMessage {
  /** Message kind (heartbeat, open, uplink, commit, state-request, state, …), small integer. */
  readonly kind: number;
  readonly runId: string;
  readonly epoch: number;
  /** Engine round (sequence number of exchanges). */
  readonly round: number;
  /** Phase id within the round. */
  readonly phase: number;
  readonly sender: PeerId;
  /** Payload codec id (how `body` is encoded). */
  readonly codec: number;
  readonly body: Uint8Array;
}

export type EngineEvent =
  /** Delivered once when the driver starts the peer. */
  | { readonly type: 'start' }
  /** A complete, reassembled message. */
  | { readonly type: 'message'; readonly from: PeerId; readonly message: EngineMessage }
  /** A timer set by `setTimer` fired. */
  | { readonly type: 'timer'; readonly id: TimerKind }
  /** Transport-level membership hint (connection opened/closed); heartbeats remain authoritative. */
  | { readonly type: 'peer-connected' | 'peer-disconnected'; readonly peer: PeerId }
  /** The evaluations of request `id` are done (values written), or failed with `error`. */
  | { readonly type: 'evaluated'; readonly id: number; readonly error: string | null }
  /** The driver rejected an incoming frame/message (bad bytes, stale epoch, limits) — for counting. */
  | { readonly type: 'rejected'; readonly from: PeerId | null; readonly reason: string }
  /**
   * An epoch certificate chain vouched for by the launcher (its signed run announcement carries the
   * chain its observer holds): peers that join mid-run start trusting from it.
   */
  | { readonly type: 'anchor'; readonly chain: Uint8Array }
  /** A broadcast of (kind, epoch, round) is on its way down the relay trees (its anchor arrived). */
  | { readonly type: 'inbound'; readonly kind: number; readonly epoch: number; readonly round: number };

export type EngineAction =
  /** To every peer of the run (gossipsub in the network). */
  | { readonly type: 'broadcast'; readonly message: EngineMessage }
  /** To one peer (uplink to the aggregator, state transfer). */
  | { readonly type: 'send'; readonly to: PeerId; readonly message: EngineMessage }
  | { readonly type: 'setTimer'; readonly id: TimerKind; readonly delayMs: number }
  | { readonly type: 'clearTimer'; readonly id: TimerKind }
  /** Evaluate operators (the answer comes back as an `evaluated` event). */
  | { readonly type: 'evaluate'; readonly request: EvaluationRequest }
  /** A round was committed and applied by this peer. */
  | {
      readonly type: 'commit';
      readonly epoch: number;
      readonly round: number;
      readonly iteration: number;
      readonly phase: PhaseName;
      readonly included: readonly number[];
      readonly digest: string;
    }
  /** A new epoch (and aggregator) was adopted. */
  | { readonly type: 'election'; readonly epoch: number; readonly aggregator: PeerId }
  /** A named measurement (metric value, late frame counter, …). */
  | { readonly type: 'metric'; readonly name: EngineCounter; readonly value: number }
  /** The run reached its end (target or round budget); the driver may stop the peer. */
  | { readonly type: 'done'; readonly reason: StopReason }
  /** The relay trees' roster of the current aggregator (published by this peer, or heard). */
  | { readonly type: 'roster'; readonly roster: Roster };

/** A peer's state machine. `handle` must not touch clocks, timers, sockets or randomness outside the run's seeded streams. */
export interface EnginePeer {
  readonly id: PeerId;
  handle(event: EngineEvent, now: number): EngineAction[];
}

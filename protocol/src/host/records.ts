/**
 * What a host records about its peer (one line each in events.jsonl; see swarm/events.ts for the
 * line schema shared by the simulator and the network). Every record names the peer it is about.
 */
import type { EngineCounter, EngineRole, PeerId, StopReason, TimerKind } from '../engine/types.js';

export type HostRecord =
  /** The host started (its engine may start later, once the network is ready). */
  | { readonly ev: 'start'; readonly peer: PeerId; readonly runId: string; readonly role: EngineRole }
  /** A committed round was applied. */
  | {
      readonly ev: 'commit';
      readonly peer: PeerId;
      readonly epoch: number;
      readonly round: number;
      readonly iteration: number;
      readonly phase: string;
      readonly included: number;
      readonly digest: string;
    }
  /** A new epoch (and aggregator) was adopted. */
  | { readonly ev: 'election'; readonly peer: PeerId; readonly epoch: number; readonly aggregator: PeerId }
  /** An engine counter was incremented. */
  | { readonly ev: 'metric'; readonly peer: PeerId; readonly name: EngineCounter; readonly value: number }
  /** The run is over for this peer. */
  | {
      readonly ev: 'done';
      readonly peer: PeerId;
      readonly reason: StopReason;
      readonly round: number;
      readonly iteration: number;
      readonly digest: string;
      readonly relDist: number | null;
    }
  /** A complete message was received (reassembled) and handed to the engine. */
  | {
      readonly ev: 'receive';
      readonly peer: PeerId;
      readonly from: PeerId;
      readonly kind: number;
      readonly epoch: number;
      readonly round: number;
      readonly phase: number;
      readonly bytes: number;
    }
  /** An inbound frame was refused (FrameError code). */
  | { readonly ev: 'reject'; readonly peer: PeerId; readonly from: PeerId | null; readonly reason: string }
  /** The set of shards this peer holds changed. */
  | { readonly ev: 'held'; readonly peer: PeerId; readonly round: number; readonly shards: readonly number[] }
  /** A state snapshot was installed (the committed round jumped). */
  | { readonly ev: 'state'; readonly peer: PeerId; readonly round: number; readonly digest: string; readonly iteration: number }
  /** An engine timer fired. */
  | { readonly ev: 'timer'; readonly peer: PeerId; readonly id: TimerKind }
  /** The host stopped on an unexpected error (a bug, not bad input). */
  | { readonly ev: 'error'; readonly peer: PeerId; readonly message: string }
  /** A relayed broadcast (tree/relay.ts) reached a milestone at this peer. */
  | {
      readonly ev: 'tree';
      readonly peer: PeerId;
      readonly what: TreeMilestone;
      readonly origin: PeerId;
      readonly kind: number;
      readonly epoch: number;
      readonly round: number;
      /** Frames this peer holds of the broadcast. */
      readonly have: number;
      readonly frames: number;
      /** The stripe concerned (repairs), else null. */
      readonly stripe: number | null;
    };

/** Milestones of a relayed broadcast at one peer (`tree` records). */
export type TreeMilestone = 'originated' | 'anchor' | 'first-frame' | 'complete' | 'repair' | 'foster';
export const TREE_MILESTONES: readonly TreeMilestone[] = ['originated', 'anchor', 'first-frame', 'complete', 'repair', 'foster'];

export type RecordKind = HostRecord['ev'];

export const RECORD_KINDS: readonly RecordKind[] = [
  'start',
  'receive',
  'commit',
  'election',
  'metric',
  'done',
  'reject',
  'held',
  'state',
  'timer',
  'error',
  'tree',
];

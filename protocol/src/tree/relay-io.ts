/**
 * The relay's ports and settings: what a `TreeRelay` (relay.ts) needs from its host (`TreeIO`),
 * what it says about the frames it sends (`RelayMeta`), its counters and its limits.
 */
import type { Frame } from '../frames/frame.js';
import type { EngineMessage, PeerId } from '../engine/types.js';
import type { TreeMilestone } from '../host/records.js';
import type { TreeKind } from './wire.js';

/** Counters a relay keeps (host counters). */
export const TREE_COUNTERS = [
  'tree-originated',
  'tree-frames-accepted',
  'tree-frames-forwarded',
  'tree-duplicate',
  'tree-bad-frame',
  'tree-unanchored-dropped',
  'tree-anchor-pull',
  'tree-repair',
  'tree-foster-pull',
  'tree-hold',
  'tree-pull-served',
  'tree-pull-refused',
  'tree-complete',
  'tree-expired-incomplete',
  'tree-bad-control',
] as const;
export type TreeCounter = (typeof TREE_COUNTERS)[number];

/** Copies of one broadcast a peer serves to PULLs in all, and to one requester. */
export const PULL_COPIES = 4;
export const PULL_COPIES_PER_PEER = 2;
/** Broadcasts tracked at once (the newest are kept). */
export const MAX_LIVE_BROADCASTS = 8;
/** Bytes of frames held waiting for their anchor, in all. */
export const MAX_PENDING_BYTES = 64 * 1024 * 1024;

/** What a relay says about each frame it sends on the tree channel (accounting). */
export interface RelayMeta {
  readonly kind: number;
  readonly epoch: number;
  readonly round: number;
  readonly phase: number;
  /** Bytes of the frames of this call. */
  readonly bytes: number;
  /** The broadcast's origin (the frames' sender). */
  readonly origin: PeerId;
  /** Sent by the origin itself. */
  readonly originated: boolean;
}

/** How a relay reaches the outside world: implemented by the host. */
export interface TreeIO {
  readonly self: PeerId;
  now(): number;
  /** Frames of a relayed broadcast to one peer, on the tree channel. */
  relay(to: PeerId, frames: readonly Uint8Array[], meta: RelayMeta): void;
  /** A tree control message to one peer (the host frames it and sends it on its direct path). */
  sendControl(to: PeerId, kind: TreeKind, header: ControlHeader, body: Uint8Array): void;
  /** A tree control message to every peer (gossip). */
  broadcastControl(kind: TreeKind, header: ControlHeader, body: Uint8Array): void;
  /**
   * A checked frame of a relayed broadcast, for reassembly (`size` bytes on the wire). `shared`:
   * what the runtime gave with the broadcast's frames (see `PeerHost.receiveFrame`), or undefined.
   */
  deliver(frame: Frame, size: number, shared: SharedMessage | undefined): void;
  /** The roster message the origin published, re-sent to a peer that missed it (origin only). */
  resendRoster(to: PeerId, epoch: number, version: number): void;
  /** A relayed broadcast is on its way to this peer (the engine waits for it before asking). */
  inbound(kind: number, epoch: number, round: number): void;
  /** A milestone of a broadcast at this peer (the host records it). */
  milestone(what: TreeMilestone, b: { origin: PeerId; kind: number; epoch: number; round: number; have: number; count: number }, stripe: number | null): void;
  /** Wake `tick` at or after t (replaces the previous request; Infinity cancels). */
  wakeAt(t: number): void;
  count(name: TreeCounter, n?: number): void;
  /** SHA-256 of a frame's bytes (32 bytes). */
  hash(frame: Uint8Array): Uint8Array;
}

/** One reassembled message shared by every recipient of a broadcast (the simulator's). */
export interface SharedMessage {
  message: EngineMessage | null;
}

export interface ControlHeader {
  readonly epoch: number;
  readonly round: number;
  readonly phase: number;
}

export interface TreeRelayOptions {
  /** No progress on a stripe for this long is a stall (ms). */
  readonly stallMs: number;
  /** Broadcasts are forgotten this long after they started (ms). */
  readonly maxAgeMs: number;
  /** Broadcasts of at least this many bytes go down the trees (ones of several frames always do). */
  readonly minBytes: number;
  /** Most frames one broadcast may have (from the run's message limits). */
  readonly maxFrames: number;
  /** Message kinds that may be relayed (the engine's broadcasts but the roster). */
  readonly kinds: ReadonlySet<number>;
}

/**
 * The state a relay keeps for one broadcast it takes part in (as origin, relay, leaf or follower):
 * its anchor, frames, per-stripe progress and repair levels, its children and its followers.
 */
import type { Frame } from '../frames/frame.js';
import type { PeerId } from '../engine/types.js';
import type { Position, TreeLayout } from './layout.js';
import type { SharedMessage } from './relay-io.js';
import { type AnchorBody, HASH_BYTES } from './wire.js';
export interface Follower {
  /** Frames still wanted (bitmap). */
  readonly wanted: Uint8Array;
  served: number;
}

export interface Pending {
  readonly bytes: Uint8Array;
  readonly frame: Frame;
  readonly from: PeerId;
}

export interface Bcast {
  readonly key: string;
  readonly origin: PeerId;
  readonly epoch: number;
  readonly round: number;
  readonly phase: number;
  readonly kind: number;
  readonly messageId: number;
  readonly isOrigin: boolean;
  readonly createdAt: number;
  count: number;
  anchor: AnchorBody | null;
  anchorAt: number;
  anchorAskedAt: number;
  rosterAsked: boolean;
  layout: TreeLayout | null;
  pos: Position | null;
  stripes: number;
  frames: (Uint8Array | null)[];
  have: number;
  pending: Map<number, Pending>;
  pendingBytes: number;
  // per stripe
  lastProgress: Float64Array;
  gotAny: Uint8Array;
  missing: Int32Array;
  level: Int32Array;
  held: Uint8Array;
  children: PeerId[][];
  followers: Map<PeerId, Follower>;
  served: number;
  /** Frames' total bytes once known (count × largest frame seen, an upper bound until complete). */
  frameBytes: number;
  complete: boolean;
  /** Peers that sent frames of this broadcast that failed the anchor check. */
  bad: Set<PeerId>;
  /** The runtime's shared message of this broadcast, if it gives one. */
  shared: SharedMessage | undefined;
}

/** The key of a broadcast: its origin and the identity of its message. */
export function keyOf(origin: PeerId, epoch: number, round: number, phase: number, kind: number, messageId: number): string {
  return `${origin}\u0000${epoch}:${round}:${phase}:${kind}:${messageId}`;
}

/** Whether `a` is the i-th hash of an anchor's list. */
export function sameHash(a: Uint8Array, hashes: Uint8Array, i: number): boolean {
  if (a.length !== HASH_BYTES) return false;
  const o = i * HASH_BYTES;
  for (let j = 0; j < HASH_BYTES; j++) if (a[j] !== hashes[o + j]) return false;
  return true;
}

/** A broadcast newly tracked: nothing known yet but its identity and frame count (one stripe until placed). */
export function newBroadcast(
  key: string,
  origin: PeerId,
  epoch: number,
  round: number,
  phase: number,
  kind: number,
  messageId: number,
  count: number,
  isOrigin: boolean,
  now: number,
): Bcast {
  return {
    key,
    origin,
    epoch,
    round,
    phase,
    kind,
    messageId,
    isOrigin,
    createdAt: now,
    count,
    anchor: null,
    anchorAt: 0,
    anchorAskedAt: Number.NEGATIVE_INFINITY,
    rosterAsked: false,
    layout: null,
    pos: null,
    stripes: 1,
    frames: new Array<Uint8Array | null>(count).fill(null),
    have: 0,
    pending: new Map(),
    pendingBytes: 0,
    lastProgress: new Float64Array(1),
    gotAny: new Uint8Array(1),
    missing: new Int32Array([count]),
    level: new Int32Array(1),
    held: new Uint8Array(1),
    children: [[]],
    followers: new Map(),
    served: 0,
    frameBytes: 0,
    complete: false,
    bad: new Set(),
    shared: undefined,
  };
}

/** Sizes the per-stripe state for `stripes` stripes (from the frames held). */
export function sizeStripes(b: Bcast, stripes: number): void {
  b.stripes = stripes;
  b.lastProgress = new Float64Array(stripes).fill(b.anchorAt);
  b.gotAny = new Uint8Array(stripes);
  b.missing = new Int32Array(stripes);
  b.level = new Int32Array(stripes);
  b.held = new Uint8Array(stripes);
  b.children = Array.from({ length: stripes }, () => []);
  for (let i = 0; i < b.count; i++) {
    const s = i % stripes;
    if (b.frames[i] === null) b.missing[s]++;
    else b.gotAny[s] = 1;
  }
}

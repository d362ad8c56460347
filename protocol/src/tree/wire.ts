/**
 * The relay-tree control messages (codec ENGINE_CODEC, handled by the host's `TreeRelay`, never
 * by the engine). The frame header of each carries the epoch, round and phase of the broadcast it
 * is about; the body names the rest of the broadcast's key.
 *
 *   kind           direction                     body
 *   12 ANCHOR      origin → all (gossip), or     target kind (u8), target message id (u32), frame
 *                  origin → one peer (direct)    count (varint), roster epoch and version (varints),
 *                                                hash algorithm (u8: 1 = SHA-256), one 32-byte hash
 *                                                per frame (the whole frame's bytes)
 *   13 PULL        peer → ancestor / origin      origin (ident), target kind (u8), message id (u32),
 *                                                frame count (varint), flags (u8: 1 follow, 2 anchor,
 *                                                4 roster), bitmap of the wanted frames
 *   14 HOLD        relay → its children          origin (ident), target kind (u8), message id (u32),
 *                                                stripe (u8)
 *
 * The ANCHOR is what makes relaying trust-free: it travels only on authenticated paths (gossip
 * messages signed by their author, or a direct stream from the origin itself) and lists a
 * cryptographic hash of every frame, so a relayed frame is accepted only when it is exactly the
 * frame the origin sent (see relay.ts for what a malicious relay can and cannot do).
 */
import { sha256Of } from '../engine/sha256.js';
import { ByteReader, ByteWriter } from '../engine/bytes.js';
import type { PeerId } from '../engine/types.js';
import { MAX_STRIPES } from './roster.js';

export const TREE_KIND = { ANCHOR: 13, PULL: 14, HOLD: 15 } as const;
export type TreeKind = (typeof TREE_KIND)[keyof typeof TREE_KIND];

export function isTreeKind(kind: number): kind is TreeKind {
  return kind === TREE_KIND.ANCHOR || kind === TREE_KIND.PULL || kind === TREE_KIND.HOLD;
}

/** Most frames one relayed broadcast may have. */
export const MAX_TREE_FRAMES = 65_536;
export const HASH_BYTES = 32;
export const HASH_SHA256 = 1;

/** The hash an anchor lists for a frame: SHA-256 of the frame's bytes (engine/sha256.ts). */
export function frameHash(frame: Uint8Array): Uint8Array {
  return sha256Of(frame);
}

/** PULL flags. */
export const PULL_FOLLOW = 1;
export const PULL_ANCHOR = 2;
export const PULL_ROSTER = 4;

export interface AnchorBody {
  readonly kind: number;
  readonly messageId: number;
  readonly count: number;
  readonly rosterEpoch: number;
  readonly rosterVersion: number;
  /** count × HASH_BYTES: the hash of frame i at [32 i, 32 i + 32). */
  readonly hashes: Uint8Array;
}

export function encodeAnchor(a: AnchorBody): Uint8Array {
  if (a.hashes.length !== a.count * HASH_BYTES) throw new RangeError('anchor: one hash per frame');
  return new ByteWriter(24 + a.hashes.length)
    .u8(a.kind)
    .u32(a.messageId)
    .varint(a.count)
    .varint(a.rosterEpoch)
    .varint(a.rosterVersion)
    .u8(HASH_SHA256)
    .raw(a.hashes)
    .finish();
}

export function decodeAnchor(bytes: Uint8Array, maxFrames: number): AnchorBody {
  const r = new ByteReader(bytes, 'anchor');
  const kind = r.u8('kind');
  const messageId = r.u32('messageId');
  const count = r.varint('count', Math.min(maxFrames, MAX_TREE_FRAMES));
  if (count < 1) r.fail('count', 'a broadcast has at least one frame');
  const rosterEpoch = r.varint('rosterEpoch', 0xffffffff);
  const rosterVersion = r.varint('rosterVersion', 0xffffffff);
  const alg = r.u8('hash');
  if (alg !== HASH_SHA256) r.fail('hash', `unknown hash algorithm ${alg}`);
  const hashes = r.raw(count * HASH_BYTES, 'hashes');
  r.end();
  return { kind, messageId, count, rosterEpoch, rosterVersion, hashes };
}

export interface PullBody {
  readonly origin: PeerId;
  readonly kind: number;
  readonly messageId: number;
  readonly count: number;
  readonly flags: number;
  /** ⌈count / 8⌉ bytes, bit i (byte i >> 3, bit i & 7) set = frame i wanted. */
  readonly wanted: Uint8Array;
}

export function encodePull(p: PullBody): Uint8Array {
  if (p.wanted.length !== (p.count + 7) >> 3) throw new RangeError('pull: one bit per frame');
  return new ByteWriter(24 + p.origin.length + p.wanted.length).ident(p.origin).u8(p.kind).u32(p.messageId).varint(p.count).u8(p.flags).raw(p.wanted).finish();
}

export function decodePull(bytes: Uint8Array, maxFrames: number): PullBody {
  const r = new ByteReader(bytes, 'pull');
  const origin = r.ident('origin');
  const kind = r.u8('kind');
  const messageId = r.u32('messageId');
  const count = r.varint('count', Math.min(maxFrames, MAX_TREE_FRAMES));
  if (count < 1) r.fail('count', 'a broadcast has at least one frame');
  const flags = r.u8('flags');
  if (flags > 7) r.fail('flags', `unknown flags ${flags}`);
  const wanted = r.raw((count + 7) >> 3, 'wanted');
  if ((count & 7) !== 0 && wanted[wanted.length - 1] >> (count & 7) !== 0) r.fail('wanted', 'bits past the last frame');
  r.end();
  return { origin, kind, messageId, count, flags, wanted };
}

export interface HoldBody {
  readonly origin: PeerId;
  readonly kind: number;
  readonly messageId: number;
  readonly stripe: number;
}

export function encodeHold(h: HoldBody): Uint8Array {
  return new ByteWriter(16 + h.origin.length).ident(h.origin).u8(h.kind).u32(h.messageId).u8(h.stripe).finish();
}

export function decodeHold(bytes: Uint8Array): HoldBody {
  const r = new ByteReader(bytes, 'hold');
  const origin = r.ident('origin');
  const kind = r.u8('kind');
  const messageId = r.u32('messageId');
  const stripe = r.u8('stripe');
  if (stripe >= MAX_STRIPES) r.fail('stripe', `must be below ${MAX_STRIPES}, got ${stripe}`);
  r.end();
  return { origin, kind, messageId, stripe };
}

/** Largest body of a tree control message of `kind` for broadcasts of at most `maxFrames` frames. */
export function maxTreeBodyBytes(kind: number, maxFrames: number): number {
  const frames = Math.min(maxFrames, MAX_TREE_FRAMES);
  switch (kind) {
    case TREE_KIND.ANCHOR:
      return 32 + frames * HASH_BYTES;
    case TREE_KIND.PULL:
      return 160 + ((frames + 7) >> 3);
    case TREE_KIND.HOLD:
      return 160;
    default:
      return 0;
  }
}

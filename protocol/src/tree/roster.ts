/**
 * The roster: the membership an aggregator publishes so that every peer computes the same relay
 * trees (layout.ts) for the aggregator's large broadcasts, with no extra round trip.
 *
 * The aggregator builds it at round boundaries from its membership table (heartbeats carry each
 * device's upload rate and whether it must stay a leaf — a browser tab, a peer that cannot accept
 * streams) and broadcasts it as a ROSTER message when it changed: a new member, a departure, a rate
 * that moved to another class. Rates are published as classes (`rateClass`), so the small
 * fluctuations of a measured rate do not rebuild the trees every round.
 *
 *   ROSTER body: version (varint), stripes (u8, 1..MAX_STRIPES), frame cost and latency cost
 *                (varints, parts per million; see layout.ts), member count (varint), then per
 *                member in ascending id order: id (ident), upload rate in kbit/s (varint, 0 =
 *                unknown), flags (u8: bit 0 = leaf)
 *
 * The root (the aggregator) is the message's sender and the epoch its epoch; members never list
 * the root.
 */
import { ByteReader, ByteWriter } from '../engine/bytes.js';
import type { PeerId } from '../engine/types.js';

/** Most peers a roster lists (a larger swarm keeps the rest off the trees: they pull, see relay.ts). */
export const MAX_ROSTER_MEMBERS = 16_384;
/** Most stripes (relay trees) of one broadcast. */
export const MAX_STRIPES = 16;
/** Largest upload rate a member may report, kbit/s (100 Gbit/s). */
export const MAX_RATE_KBPS = 100_000_000;

/** Member flag: the member never relays (browser tab, a link that cannot accept streams). */
export const MEMBER_LEAF = 1;

export interface RosterMember {
  readonly id: PeerId;
  /** Upload rate in kbit/s as published (a rate class), 0 when unknown. */
  readonly upKbps: number;
  readonly leaf: boolean;
}

export interface Roster {
  /** The aggregator (root of every tree) and its epoch. */
  readonly root: PeerId;
  readonly epoch: number;
  /** Increases with every roster the aggregator publishes in its epoch. */
  readonly version: number;
  /** Stripes the aggregator asks for (the layout may use fewer, see layout.ts). */
  readonly stripes: number;
  /**
   * The cost model the layout weighs depth with, as the aggregator estimated it, in parts per
   * million of one copy's upload time at the median rate (S/u): a frame's upload time per child
   * (f/S) and a hop's latency (L·u/S). 0 and 0: the layout's default (`HOP_COST` per level).
   */
  readonly frameCost: number;
  readonly latencyCost: number;
  /** Every member but the root, in ascending id order. */
  readonly members: readonly RosterMember[];
}

/**
 * The published class of a measured rate: rates within ~19 % of each other (a quarter of an
 * octave) share a class, so a roster changes only when a rate really moves. 0 stays 0 (unknown).
 */
export function rateClass(kbps: number): number {
  if (!(kbps > 0) || !Number.isFinite(kbps)) return 0;
  const c = Math.round(4 * Math.log2(Math.min(kbps, MAX_RATE_KBPS)));
  return Math.max(1, Math.min(MAX_RATE_KBPS, Math.round(2 ** (c / 4))));
}

/** True when the two rosters list the same members with the same rates, flags and stripes. */
export function sameMembers(a: Pick<Roster, 'members' | 'stripes'>, b: Pick<Roster, 'members' | 'stripes'>): boolean {
  if (a.stripes !== b.stripes || a.members.length !== b.members.length) return false;
  for (let i = 0; i < a.members.length; i++) {
    const x = a.members[i];
    const y = b.members[i];
    if (x.id !== y.id || x.upKbps !== y.upKbps || x.leaf !== y.leaf) return false;
  }
  return true;
}

/** Largest cost term a roster may carry (ppm): a thousand copies' time per level. */
export const MAX_COST_PPM = 1_000_000_000;

export function encodeRoster(r: Pick<Roster, 'version' | 'stripes' | 'frameCost' | 'latencyCost' | 'members'>): Uint8Array {
  const w = new ByteWriter(24 + r.members.length * 64);
  w.varint(r.version)
    .u8(r.stripes)
    .varint(Math.min(MAX_COST_PPM, Math.round(r.frameCost)))
    .varint(Math.min(MAX_COST_PPM, Math.round(r.latencyCost)))
    .varint(r.members.length);
  let prev = '';
  for (const m of r.members) {
    if (prev !== '' && !(m.id > prev)) throw new RangeError('roster members must be in strictly ascending id order');
    w.ident(m.id)
      .varint(m.upKbps)
      .u8(m.leaf ? MEMBER_LEAF : 0);
    prev = m.id;
  }
  return w.finish();
}

/** Decodes a ROSTER body sent by `root` in `epoch`; throws MessageError naming the field. */
export function decodeRoster(bytes: Uint8Array, root: PeerId, epoch: number): Roster {
  const r = new ByteReader(bytes, 'roster');
  const version = r.varint('version', 0xffffffff);
  const stripes = r.u8('stripes');
  if (stripes < 1 || stripes > MAX_STRIPES) r.fail('stripes', `must be in [1, ${MAX_STRIPES}], got ${stripes}`);
  const frameCost = r.varint('frameCost', MAX_COST_PPM);
  const latencyCost = r.varint('latencyCost', MAX_COST_PPM);
  const n = r.varint('members.count', MAX_ROSTER_MEMBERS);
  const members: RosterMember[] = new Array<RosterMember>(n);
  let prev = '';
  for (let i = 0; i < n; i++) {
    const id = r.ident('members', false, i, 'id');
    if (i > 0 && !(id > prev)) r.fail(`members[${i}].id`, 'ids must be in strictly ascending order');
    if (id === root) r.fail(`members[${i}].id`, 'the root is not a member');
    const upKbps = r.varint('members', MAX_RATE_KBPS, i, 'upKbps');
    const flags = r.u8('members', i, 'flags');
    if (flags > MEMBER_LEAF) r.fail(`members[${i}].flags`, `unknown flags ${flags}`);
    members[i] = { id, upKbps, leaf: (flags & MEMBER_LEAF) !== 0 };
    prev = id;
  }
  r.end();
  return { root, epoch, version, stripes, frameCost, latencyCost, members };
}

const DECODED = new WeakMap<Uint8Array, Roster>();

/**
 * `decodeRoster`, cached by body object: a simulator hands every recipient of a broadcast the same
 * message, so its thousand peers decode (and lay out, see `layoutOf`) one roster once.
 */
export function decodeRosterShared(bytes: Uint8Array, root: PeerId, epoch: number): Roster {
  const hit = DECODED.get(bytes);
  if (hit !== undefined && hit.root === root && hit.epoch === epoch) return hit;
  const r = decodeRoster(bytes, root, epoch);
  DECODED.set(bytes, r);
  return r;
}

/** Largest ROSTER body (bytes): what the frame reassembler is told. */
export function maxRosterBytes(): number {
  // version, stripes, count; per member an ident (≤ 1 + 128 bytes), a rate (≤ 4 bytes) and flags.
  return 32 + MAX_ROSTER_MEMBERS * (1 + 128 + 4 + 1);
}

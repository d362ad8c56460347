/**
 * Engine messages: kinds and binary body codecs (codec id ENGINE_CODEC = 1).
 *
 * The frame header (see frames/) already carries run id, epoch, round, phase code, kind and
 * sender; bodies carry the rest. Every decoder validates every field against the run's limits
 * (shard ids < M, payload lengths ≤ the largest payload the run can produce, ascending shard
 * lists, identifiers of printable ASCII, digests of 16 bytes, finite float64 values of the right
 * count) and throws only `MessageError`. Payload bytes are returned as zero-copy views of the
 * body.
 *
 *   kind            direction                    body
 *   1 HEARTBEAT     device → aggregator          committed round, commit epoch, digest, flags, held shards
 *   2 ANNOUNCE      aggregator → all             committed round, commit epoch, digest, flags, successors
 *   3 OPEN          aggregator → all             attempt, iteration, phase, base (epoch, digest), deadline,
 *                                                assignment delta, wanted shards, successors
 *   4 UPLINK        device → aggregator          attempt, entries (shard, fresh bit, payload bytes)
 *   5 COMMIT        aggregator → all             iteration, phase, downlink flags, parent digest, digest,
 *                                                included shards, downlink payload, successors,
 *                                                next round's opening (assignment delta) if it opens
 *   6 STATE_REQUEST peer → peer                  requester's committed round and digest, snapshot?
 *   7 STATE         peer → peer                  replica snapshot
 *   8 REPLAY        peer → peer                  a logged COMMIT re-sent for catch-up (same body)
 */
import { ByteReader, ByteWriter, internIdent, MAX_IDENT_BYTES } from './bytes.js';
import { isPhaseName, type PhaseName } from '../methods/types.js';
import { DIGEST_BYTES } from './digest.js';

export const MSG = {
  HEARTBEAT: 1,
  ANNOUNCE: 2,
  OPEN: 3,
  UPLINK: 4,
  COMMIT: 5,
  STATE_REQUEST: 6,
  STATE: 7,
  REPLAY: 8,
} as const;
export type MessageKind = (typeof MSG)[keyof typeof MSG];

export const KIND_NAMES: Readonly<Record<number, string>> = {
  1: 'heartbeat',
  2: 'announce',
  3: 'open',
  4: 'uplink',
  5: 'commit',
  6: 'state-request',
  7: 'state',
  8: 'replay',
};

/** Payload codec id of engine bodies (frame header `codec`). */
export const ENGINE_CODEC = 1;

/** Most successors an aggregator publishes. */
export const MAX_SUCCESSORS = 8;
/** Most named vectors in a replica snapshot. */
export const MAX_STATE_VECTORS = 64;

/** What a decoder needs to know about the run to range-check a body. */
export interface BodyLimits {
  /** Number of shards M. */
  readonly shards: number;
  /** Largest compressor payload (bytes) the run can produce for one vector. */
  readonly maxPayloadBytes: number;
  /** [0, 1, …, M−1], shared so that "all shards" decodes without allocating. */
  readonly allShards: readonly number[];
}

// ------------------------------------------------------------------ shard sets

const SET_NONE = 0;
const SET_ALL = 1;
const SET_LIST = 2;
const SET_BITMAP = 3;

/** Writes an ascending list of shard ids as the cheaper of a delta-coded list and a bitmap. */
export function writeShardSet(w: ByteWriter, shards: readonly number[], M: number): void {
  const n = shards.length;
  if (n === 0) {
    w.u8(SET_NONE);
    return;
  }
  if (n === M) {
    w.u8(SET_ALL);
    return;
  }
  const bitmapBytes = Math.ceil(M / 8);
  // A delta-coded list costs about one byte per entry for dense sets, more for sparse large ids.
  let listBytes = varintBytes(n);
  let prev = -1;
  for (const s of shards) {
    listBytes += varintBytes(s - prev - 1);
    prev = s;
  }
  if (bitmapBytes < listBytes) {
    w.u8(SET_BITMAP);
    const bits = new Uint8Array(bitmapBytes);
    for (const s of shards) bits[s >>> 3] |= 1 << (s & 7);
    w.raw(bits);
    return;
  }
  w.u8(SET_LIST).varint(n);
  prev = -1;
  for (const s of shards) {
    w.varint(s - prev - 1);
    prev = s;
  }
}

export function readShardSet(r: ByteReader, field: string, limits: BodyLimits): readonly number[] {
  const M = limits.shards;
  const t = r.u8(field, -1, 'type');
  switch (t) {
    case SET_NONE:
      return EMPTY;
    case SET_ALL:
      return limits.allShards;
    case SET_LIST: {
      const n = r.varint(field, M, -1, 'count');
      const out = new Array<number>(n);
      let prev = -1;
      for (let i = 0; i < n; i++) {
        const s = prev + 1 + r.varint(field, M, i);
        if (s >= M) r.fail(`${field}[${i}]`, `shard ${s} out of range [0, ${M})`);
        out[i] = s;
        prev = s;
      }
      return out;
    }
    case SET_BITMAP: {
      const bits = r.raw(Math.ceil(M / 8), field);
      const out: number[] = [];
      for (let s = 0; s < bits.length * 8; s++) {
        if ((bits[s >>> 3] >>> (s & 7)) & 1) {
          if (s >= M) r.fail(field, `bitmap padding bit ${s} set`);
          out.push(s);
        }
      }
      return out;
    }
    default:
      return r.fail(`${field}.type`, `unknown shard-set encoding ${t}`);
  }
}

const EMPTY: readonly number[] = Object.freeze([]);

function varintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

// ------------------------------------------------------------------ common pieces

function readDigest(r: ByteReader, field: string): Uint8Array {
  return r.raw(DIGEST_BYTES, field);
}

function writeIdents(w: ByteWriter, ids: readonly string[]): void {
  w.varint(ids.length);
  for (const id of ids) w.ident(id);
}

function readIdents(r: ByteReader, field: string, max: number): string[] {
  const n = r.varint(field, max, -1, 'count');
  const out: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = r.ident(field, false, i);
  return out;
}

/** A change of a shard's holder; `holder` null = unassigned. */
export interface DeltaEntry {
  readonly shard: number;
  readonly holder: string | null;
}

export function writeDelta(w: ByteWriter, delta: readonly DeltaEntry[]): void {
  const peers: string[] = [];
  const ref = new Map<string, number>();
  for (const e of delta) {
    if (e.holder !== null && !ref.has(e.holder)) {
      ref.set(e.holder, peers.length + 1);
      peers.push(e.holder);
    }
  }
  writeIdents(w, peers);
  w.varint(delta.length);
  let prev = -1;
  for (const e of delta) {
    if (e.shard <= prev) throw new RangeError('assignment delta must be in strictly ascending shard order');
    w.varint(e.shard - prev - 1);
    w.varint(e.holder === null ? 0 : (ref.get(e.holder) as number));
    prev = e.shard;
  }
}

/** Where the last `varintAt` stopped (module scratch: varintAt is not reentrant). */
const VARINT_END = { at: 0 };

/** The varint at bytes[at] of an already validated body; its end goes to VARINT_END.at. */
function varintAt(bytes: Uint8Array, at: number): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    const b = bytes[at++];
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 0x80;
  }
  VARINT_END.at = at;
  return v;
}

/**
 * A decoded assignment delta, read in place from its (validated) body bytes: a delta can name
 * every shard of the run, and every peer decodes it, so neither an object per entry nor a string
 * per listed peer is built. Entries are (shard, ref) in ascending shard order, ref 0 = unassigned
 * and ref k ≥ 1 = the k-th listed peer.
 */
export class DeltaView {
  /** Number of entries. */
  readonly length: number;
  /** Number of listed peers. */
  readonly peerCount: number;

  /** @internal Use `readDelta`. `peersAt`: first listed identifier; `entriesAt`: first entry. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly peersAt: number,
    peerCount: number,
    private readonly entriesAt: number,
    length: number,
  ) {
    this.peerCount = peerCount;
    this.length = length;
  }

  /** The refs (1-based) under which `id` is listed: usually none or one (duplicates are allowed). */
  refsOf(id: string): number[] {
    const out: number[] = [];
    const b = this.bytes;
    let at = this.peersAt;
    for (let k = 1; k <= this.peerCount; k++) {
      const n = b[at];
      if (n === id.length) {
        let same = true;
        for (let i = 0; i < n; i++) {
          if (b[at + 1 + i] !== id.charCodeAt(i)) {
            same = false;
            break;
          }
        }
        if (same) out.push(k);
      }
      at += 1 + n;
    }
    return out;
  }

  /** The k-th listed peer (1 ≤ k ≤ peerCount). */
  peer(k: number): string {
    if (!(Number.isInteger(k) && k >= 1 && k <= this.peerCount)) throw new RangeError(`peer ref ${k} out of range [1, ${this.peerCount}]`);
    const b = this.bytes;
    let at = this.peersAt;
    for (let i = 1; i < k; i++) at += 1 + b[at];
    return internIdent(b, at + 1, b[at]);
  }

  /** Calls fn(shard, ref) for every entry, in ascending shard order. */
  forEach(fn: (shard: number, ref: number) => void): void {
    const b = this.bytes;
    let at = this.entriesAt;
    let prev = -1;
    for (let i = 0; i < this.length; i++) {
      const shard = prev + 1 + varintAt(b, at);
      const ref = varintAt(b, VARINT_END.at);
      at = VARINT_END.at;
      fn(shard, ref);
      prev = shard;
    }
  }

  /**
   * One pass over the entries for the peer listed under `refs` (see `refsOf`) that holds the
   * ascending shards `held`: the shards the delta gives it (`mine`) and the held shards it gives
   * to someone else or unassigns (`lost`), both ascending. O(entries + held), no per-entry objects.
   */
  split(refs: readonly number[], held: readonly number[]): { mine: number[]; lost: number[] } {
    const mine: number[] = [];
    const lost: number[] = [];
    const b = this.bytes;
    const ref0 = refs.length > 0 ? refs[0] : -1;
    const many = refs.length > 1;
    let h = 0;
    let at = this.entriesAt;
    let prev = -1;
    for (let i = 0; i < this.length; i++) {
      let c = b[at++];
      let gap = c & 0x7f;
      for (let mul = 0x80; c & 0x80; mul *= 0x80) {
        c = b[at++];
        gap += (c & 0x7f) * mul;
      }
      c = b[at++];
      let ref = c & 0x7f;
      for (let mul = 0x80; c & 0x80; mul *= 0x80) {
        c = b[at++];
        ref += (c & 0x7f) * mul;
      }
      const shard = prev + 1 + gap;
      prev = shard;
      if (ref === ref0 || (many && ref !== 0 && refs.includes(ref))) {
        mine.push(shard);
        continue;
      }
      while (h < held.length && held[h] < shard) h++;
      if (h < held.length && held[h] === shard) lost.push(shard);
    }
    return { mine, lost };
  }

  /** The entries as objects (tests, diagnostics). */
  toEntries(): DeltaEntry[] {
    const holders: string[] = [];
    for (let k = 1; k <= this.peerCount; k++) holders.push(this.peer(k));
    const out: DeltaEntry[] = [];
    this.forEach((shard, ref) => out.push({ shard, holder: ref === 0 ? null : holders[ref - 1] }));
    return out;
  }

  toJSON(): DeltaEntry[] {
    return this.toEntries();
  }
}

/**
 * Validates a delta (identifiers, counts, ascending shards < M, refs ≤ listed peers) and returns a
 * view of it; `bytes` is the reader's buffer. `peersField` is `${field}.peers`, passed as a constant.
 */
export function readDelta(r: ByteReader, bytes: Uint8Array, field: string, peersField: string, limits: BodyLimits): DeltaView {
  const M = limits.shards;
  const peerCount = r.varint(peersField, M, -1, 'count');
  const peersAt = r.offset;
  // A delta can list every peer and shard: check them in tight loops over the bytes; on the first
  // anomaly, the reader's checks run from the start of the part for the exact error.
  const identsEnd = scanIdents(bytes, peersAt, peerCount);
  if (identsEnd >= 0) r.advanceTo(identsEnd);
  else for (let i = 0; i < peerCount; i++) r.skipIdent(peersField, i);
  const n = r.varint(field, M, -1, 'count');
  const entriesAt = r.offset;
  const entriesEnd = scanEntries(bytes, entriesAt, n, M, peerCount);
  if (entriesEnd >= 0) r.advanceTo(entriesEnd);
  else {
    let prev = -1;
    for (let i = 0; i < n; i++) {
      const shard = prev + 1 + r.varint(field, M, i, 'shard');
      if (shard >= M) r.fail(`${field}[${i}].shard`, `shard ${shard} out of range [0, ${M})`);
      r.varint(field, peerCount, i, 'holder');
      prev = shard;
    }
  }
  return new DeltaView(bytes, peersAt, peerCount, entriesAt, n);
}

/** End offset of `count` valid identifiers (1..MAX_IDENT_BYTES printable ASCII) from `at`, or −1. */
function scanIdents(b: Uint8Array, at: number, count: number): number {
  for (let i = 0; i < count; i++) {
    if (at >= b.length) return -1;
    const n = b[at];
    if (n === 0 || n > MAX_IDENT_BYTES || at + 1 + n > b.length) return -1;
    for (let j = at + 1; j <= at + n; j++) {
      const c = b[j];
      if (c < 0x21 || c > 0x7e) return -1;
    }
    at += 1 + n;
  }
  return at;
}

/**
 * End offset of `count` valid delta entries from `at` (minimal varints; shards ascending and < M;
 * refs ≤ peers), or −1 on anything else (then the reader finds the exact error).
 */
function scanEntries(b: Uint8Array, at: number, count: number, M: number, peers: number): number {
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const gap = varintChecked(b, at);
    if (gap < 0) return -1;
    at = VARINT_END.at;
    const ref = varintChecked(b, at);
    if (ref < 0 || ref > peers) return -1;
    at = VARINT_END.at;
    const shard = prev + 1 + gap;
    if (shard >= M) return -1;
    prev = shard;
  }
  return at;
}

/** A minimal varint of at most 4 bytes (< 2^28) at b[at], or −1; its end goes to VARINT_END.at. */
function varintChecked(b: Uint8Array, at: number): number {
  let v = 0;
  let mul = 1;
  for (let k = 0; k < 4; k++) {
    if (at >= b.length) return -1;
    const c = b[at++];
    v += (c & 0x7f) * mul;
    if ((c & 0x80) === 0) {
      if (k > 0 && c === 0) return -1;
      VARINT_END.at = at;
      return v;
    }
    mul *= 0x80;
  }
  return -1;
}

// ------------------------------------------------------------------ HEARTBEAT

/** Heartbeat flag: the sender re-initialised its shard memories (state transfer) since it last reported. */
export const HB_RESET = 1;
/** Heartbeat flag: the sender reached the end of the run. */
export const HB_DONE = 2;

export interface HeartbeatBody {
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
  readonly flags: number;
  readonly held: readonly number[];
}

export function encodeHeartbeat(b: HeartbeatBody, M: number): Uint8Array {
  const w = new ByteWriter(32 + b.held.length * 2);
  w.varint(b.round).varint(b.commitEpoch).raw(b.digest).u8(b.flags);
  writeShardSet(w, b.held, M);
  return w.finish();
}

export function decodeHeartbeat(bytes: Uint8Array, limits: BodyLimits): HeartbeatBody {
  const r = new ByteReader(bytes, 'heartbeat');
  const round = r.varint('round', 0xffffffff);
  const commitEpoch = r.varint('commitEpoch', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const flags = r.u8('flags');
  if (flags > 3) r.fail('flags', `unknown flags ${flags}`);
  const held = readShardSet(r, 'held', limits);
  r.end();
  return { round, commitEpoch, digest, flags, held };
}

// ------------------------------------------------------------------ ANNOUNCE

/** Announce flag: a new aggregator collecting heartbeats before its first round. */
export const AN_GATHER = 1;
/** Announce flag: the run is over. */
export const AN_DONE = 2;

export interface AnnounceBody {
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
  readonly flags: number;
  readonly successors: readonly string[];
}

export function encodeAnnounce(b: AnnounceBody): Uint8Array {
  const w = new ByteWriter(64 + b.successors.length * 56);
  w.varint(b.round).varint(b.commitEpoch).raw(b.digest).u8(b.flags);
  writeIdents(w, b.successors);
  return w.finish();
}

export function decodeAnnounce(bytes: Uint8Array): AnnounceBody {
  const r = new ByteReader(bytes, 'announce');
  const round = r.varint('round', 0xffffffff);
  const commitEpoch = r.varint('commitEpoch', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const flags = r.u8('flags');
  if (flags > 3) r.fail('flags', `unknown flags ${flags}`);
  const successors = readIdents(r, 'successors', MAX_SUCCESSORS);
  r.end();
  return { round, commitEpoch, digest, flags, successors };
}

/** A phase name: one of the methods' phases (anything else is refused here, at the wire). */
function readPhase(r: ByteReader, field: string): PhaseName {
  const name = r.ident(field);
  if (!isPhaseName(name)) r.fail(field, `unknown phase '${name}'`);
  return name;
}

// ------------------------------------------------------------------ OPEN

export interface OpenBody {
  readonly attempt: number;
  readonly iteration: number;
  readonly phase: PhaseName;
  /** Epoch and digest of the state the round builds on (after round − 1). */
  readonly baseEpoch: number;
  readonly baseDigest: Uint8Array;
  readonly deadlineMs: number;
  readonly delta: readonly DeltaEntry[];
  /** Shards whose answers are wanted (their current holders answer). */
  readonly wanted: readonly number[];
  readonly successors: readonly string[];
}

export function encodeOpen(b: OpenBody, M: number): Uint8Array {
  const w = new ByteWriter(96 + b.delta.length * 4 + b.successors.length * 56);
  w.varint(b.attempt).varint(b.iteration).ident(b.phase).varint(b.baseEpoch).raw(b.baseDigest).varint(b.deadlineMs);
  writeDelta(w, b.delta);
  writeShardSet(w, b.wanted, M);
  writeIdents(w, b.successors);
  return w.finish();
}

/** A decoded OPEN: the delta is a view of the body. */
export interface DecodedOpen extends Omit<OpenBody, 'delta'> {
  readonly delta: DeltaView;
}

export function decodeOpen(bytes: Uint8Array, limits: BodyLimits): DecodedOpen {
  const r = new ByteReader(bytes, 'open');
  const attempt = r.varint('attempt', 0xffffffff);
  const iteration = r.varint('iteration', 0xffffffff);
  const phase = readPhase(r, 'phase');
  const baseEpoch = r.varint('baseEpoch', 0xffffffff);
  const baseDigest = readDigest(r, 'baseDigest');
  const deadlineMs = r.varint('deadlineMs', 0xffffffff);
  const delta = readDelta(r, bytes, 'delta', 'delta.peers', limits);
  const wanted = readShardSet(r, 'wanted', limits);
  const successors = readIdents(r, 'successors', MAX_SUCCESSORS);
  r.end();
  return { attempt, iteration, phase, baseEpoch, baseDigest, deadlineMs, delta, wanted, successors };
}

// ------------------------------------------------------------------ UPLINK

/** Uplink entry flag: the shard's memory is fresh (new holder or state transfer), no payload. */
export const UP_FRESH = 1;

export interface UplinkEntry {
  readonly shard: number;
  readonly flags: number;
  /** Compressor payload bytes (empty for a fresh entry in a compressed phase). */
  readonly payload: Uint8Array;
}

export interface UplinkBody {
  readonly attempt: number;
  readonly entries: readonly UplinkEntry[];
}

export function encodeUplink(b: UplinkBody): Uint8Array {
  let size = 16;
  for (const e of b.entries) size += 12 + e.payload.length;
  const w = new ByteWriter(size);
  w.varint(b.attempt).varint(b.entries.length);
  let prev = -1;
  for (const e of b.entries) {
    if (e.shard <= prev) throw new RangeError('uplink entries must be in strictly ascending shard order');
    w.varint(e.shard).u8(e.flags).bytes(e.payload);
    prev = e.shard;
  }
  return w.finish();
}

export function decodeUplink(bytes: Uint8Array, limits: BodyLimits): UplinkBody {
  const r = new ByteReader(bytes, 'uplink');
  const attempt = r.varint('attempt', 0xffffffff);
  const n = r.varint('entries.count', limits.shards);
  const entries: UplinkEntry[] = new Array<UplinkEntry>(n);
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const shard = r.varint('entries', limits.shards - 1, i, 'shard');
    if (shard <= prev) r.fail(`entries[${i}].shard`, `shards must be strictly ascending (${shard} after ${prev})`);
    const flags = r.u8('entries', i, 'flags');
    if (flags > 1) r.fail(`entries[${i}].flags`, `unknown flags ${flags}`);
    const payload = r.bytes('entries', limits.maxPayloadBytes, i, 'payload');
    if (flags & UP_FRESH && payload.length !== 0) r.fail(`entries[${i}].payload`, 'a fresh entry carries no payload');
    entries[i] = { shard, flags, payload };
    prev = shard;
  }
  r.end();
  return { attempt, entries };
}

// ------------------------------------------------------------------ COMMIT / REPLAY

export interface CommitNext {
  /** Assignment changes that take effect for the next round. */
  readonly delta: readonly DeltaEntry[];
}

export interface CommitBody {
  /** Completed iterations before this round was applied. */
  readonly iteration: number;
  readonly phase: PhaseName;
  /** Downlink flags (bit 0 = refresh b_k). */
  readonly flags: number;
  readonly parentDigest: Uint8Array;
  readonly digest: Uint8Array;
  readonly included: readonly number[];
  /** Encoded downlink payload, or null when the phase broadcasts none. */
  readonly payload: Uint8Array | null;
  readonly successors: readonly string[];
  /** Present when this commit also opens the next round (round + 1, attempt 0). */
  readonly next: CommitNext | null;
}

export function encodeCommit(b: CommitBody, M: number): Uint8Array {
  const w = new ByteWriter(96 + (b.payload?.length ?? 0) + b.successors.length * 56 + (b.next?.delta.length ?? 0) * 4);
  w.varint(b.iteration).ident(b.phase).varint(b.flags).raw(b.parentDigest).raw(b.digest);
  writeShardSet(w, b.included, M);
  if (b.payload === null) w.u8(0);
  else w.u8(1).bytes(b.payload);
  writeIdents(w, b.successors);
  if (b.next === null) w.u8(0);
  else {
    w.u8(1);
    writeDelta(w, b.next.delta);
  }
  return w.finish();
}

/** A decoded COMMIT (or REPLAY): the next round's delta is a view of the body. */
export interface DecodedCommit extends Omit<CommitBody, 'next'> {
  readonly next: { readonly delta: DeltaView } | null;
}

export function decodeCommit(bytes: Uint8Array, limits: BodyLimits): DecodedCommit {
  const r = new ByteReader(bytes, 'commit');
  const iteration = r.varint('iteration', 0xffffffff);
  const phase = readPhase(r, 'phase');
  const flags = r.varint('flags', 0xffff);
  const parentDigest = readDigest(r, 'parentDigest');
  const digest = readDigest(r, 'digest');
  const included = readShardSet(r, 'included', limits);
  const hasPayload = r.u8('payload.present');
  if (hasPayload > 1) r.fail('payload.present', `must be 0 or 1, got ${hasPayload}`);
  const payload = hasPayload === 1 ? r.bytes('payload', limits.maxPayloadBytes) : null;
  const successors = readIdents(r, 'successors', MAX_SUCCESSORS);
  const hasNext = r.u8('next.present');
  if (hasNext > 1) r.fail('next.present', `must be 0 or 1, got ${hasNext}`);
  const next = hasNext === 1 ? { delta: readDelta(r, bytes, 'next.delta', 'next.delta.peers', limits) } : null;
  r.end();
  return { iteration, phase, flags, parentDigest, digest, included, payload, successors, next };
}

// ------------------------------------------------------------------ STATE_REQUEST

export interface StateRequestBody {
  /** The requester's committed round and digest (the responder replays from round + 1 if it can). */
  readonly round: number;
  readonly digest: Uint8Array;
  /** Ask for a full snapshot even if a replay is possible (diverged requester). */
  readonly snapshot: boolean;
}

export function encodeStateRequest(b: StateRequestBody): Uint8Array {
  return new ByteWriter(24)
    .varint(b.round)
    .raw(b.digest)
    .u8(b.snapshot ? 1 : 0)
    .finish();
}

export function decodeStateRequest(bytes: Uint8Array): StateRequestBody {
  const r = new ByteReader(bytes, 'stateRequest');
  const round = r.varint('round', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const s = r.u8('snapshot');
  if (s > 1) r.fail('snapshot', `must be 0 or 1, got ${s}`);
  r.end();
  return { round, digest, snapshot: s === 1 };
}

// ------------------------------------------------------------------ STATE

/** Shape of a replica: its vector names (sorted) and lengths. */
export interface ReplicaShape {
  readonly names: readonly string[];
  readonly lengths: readonly number[];
}

export interface StateHeader {
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
  readonly iteration: number;
  readonly initialized: boolean;
  /** Phase that comes next ('' when the iteration is complete). */
  /** The next phase of the iteration, or '' when the next round starts one. */
  readonly nextPhase: PhaseName | '';
}

export function encodeState(h: StateHeader, vectors: Readonly<Record<string, Float64Array>>, shape: ReplicaShape): Uint8Array {
  let size = 64 + h.nextPhase.length;
  for (let i = 0; i < shape.names.length; i++) size += 8 + shape.names[i].length + shape.lengths[i] * 8;
  const w = new ByteWriter(size);
  w.varint(h.round).varint(h.commitEpoch).raw(h.digest).varint(h.iteration).u8(h.initialized ? 1 : 0).ident(h.nextPhase, true);
  w.varint(shape.names.length);
  for (const name of shape.names) {
    const v = vectors[name];
    w.ident(name).varint(v.length).f64s(v);
  }
  return w.finish();
}

/**
 * Decodes a snapshot into `out` (vectors of the replica's shape, overwritten). The body must name
 * exactly the shape's vectors, in sorted order, with the shape's lengths, and finite values.
 * On error `out` may be partly written: decode into scratch vectors, not the live replica.
 */
export function decodeStateInto(bytes: Uint8Array, shape: ReplicaShape, out: Record<string, Float64Array>): StateHeader {
  const r = new ByteReader(bytes, 'state');
  const round = r.varint('round', 0xffffffff);
  const commitEpoch = r.varint('commitEpoch', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const iteration = r.varint('iteration', 0xffffffff);
  const init = r.u8('initialized');
  if (init > 1) r.fail('initialized', `must be 0 or 1, got ${init}`);
  const nextRaw = r.ident('nextPhase', true);
  const nextPhase: PhaseName | '' = nextRaw === '' || isPhaseName(nextRaw) ? nextRaw : r.fail('nextPhase', `unknown phase '${nextRaw}'`);
  const n = r.varint('vectors.count', MAX_STATE_VECTORS);
  if (n !== shape.names.length) r.fail('vectors.count', `expected ${shape.names.length} vectors, got ${n}`);
  for (let i = 0; i < n; i++) {
    const name = r.ident(`vectors[${i}].name`);
    if (name !== shape.names[i]) r.fail(`vectors[${i}].name`, `expected '${shape.names[i]}', got '${name}'`);
    const len = r.varint(`vectors[${i}].length`, 0xffffffff);
    if (len !== shape.lengths[i]) r.fail(`vectors[${i}].length`, `expected ${shape.lengths[i]}, got ${len}`);
    r.f64sInto(out[name], `vectors.${name}`);
  }
  r.end();
  return { round, commitEpoch, digest, iteration, initialized: init === 1, nextPhase };
}

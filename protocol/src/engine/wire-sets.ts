/**
 * Shard sets, identifier lists and assignment deltas as they travel in engine bodies (HEARTBEAT,
 * OPEN, COMMIT): the encoders and the validating decoders, including `DeltaView`, which reads an
 * assignment delta in place (no object per entry, no string per listed peer).
 */
import { type ByteReader, type ByteWriter, internIdent, MAX_IDENT_BYTES } from './bytes.js';
import type { BodyLimits } from './messages.js';

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

// ------------------------------------------------------------------ identifier lists

export function writeIdents(w: ByteWriter, ids: readonly string[]): void {
  w.varint(ids.length);
  for (const id of ids) w.ident(id);
}

export function readIdents(r: ByteReader, field: string, max: number): string[] {
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

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
 *   9 SUSPECT       peer → all                   a signed lease-expiry attestation: (epoch, aggregator, sig)
 *  10 EQUIVOCATION  peer → all                   a proof: two commit certificates of one signer for one (epoch, round)
 *  11 ROSTER        aggregator → all             the membership relay trees are computed from
 *                                                (tree/roster.ts)
 *
 * Kinds 12–14 (ANCHOR, PULL, HOLD) are the relay trees' control messages: the host's relay
 * handles them (tree/wire.ts), the engine never sees them.
 *
 * Trust fields (trust/certs.ts): a successor list travels with the aggregator's signed succession
 * statement (member count, signature); ANNOUNCE and OPEN carry the aggregator's epoch certificate
 * chain, a COMMIT carries it with its successor list; every COMMIT ends with its signature block
 * (signer, signature over the commit statement, whose body hash covers every byte before the
 * block — the signature only: the signer is the COMMIT's sender, and for a REPLAY the certified
 * aggregator of its epoch); a HEARTBEAT may carry the commit certificate of the sender's version (a "better version"
 * counts only with one) and a join token; a STATE carries the commit certificate of its version.
 * A HEARTBEAT may also end with the sender's upload rate (flag HB_RATE), for the relay trees.
 */
import { ByteReader, ByteWriter } from './bytes.js';
import { type DeltaEntry, type DeltaView, readDelta, readIdents, readShardSet, writeDelta, writeIdents, writeShardSet } from './wire-sets.js';
import { isPhaseName, type PhaseName } from '../methods/types.js';
import { DIGEST_BYTES } from './digest.js';
import { type CommitCert, MAX_CHAIN_BYTES, MAX_SIGNATURE_BYTES, readCommitCert, type SignedSuccession, writeCommitCert } from '../trust/certs.js';
import { MAX_BANS_BYTES } from './bans.js';

export const MSG = {
  HEARTBEAT: 1,
  ANNOUNCE: 2,
  OPEN: 3,
  UPLINK: 4,
  COMMIT: 5,
  STATE_REQUEST: 6,
  STATE: 7,
  REPLAY: 8,
  SUSPECT: 9,
  EQUIVOCATION: 10,
  AUDIT: 11,
  ROSTER: 12,
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
  9: 'suspect',
  10: 'equivocation',
  11: 'audit',
  12: 'roster',
  13: 'tree-anchor',
  14: 'tree-pull',
  15: 'tree-hold',
};

export { DeltaView, readDelta, readShardSet, writeDelta, writeShardSet, type DeltaEntry } from './wire-sets.js';

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

// ------------------------------------------------------------------ common pieces

function readDigest(r: ByteReader, field: string): Uint8Array {
  return r.raw(DIGEST_BYTES, field);
}

/** Largest join token (launcher-signed: expiry and signature). */
export const MAX_TOKEN_BYTES = 128;

/** A successor list and, when it is not empty, the aggregator's signed succession statement. */
function writeSuccession(w: ByteWriter, successors: readonly string[], succession: SignedSuccession | null): void {
  writeIdents(w, successors);
  if (successors.length === 0) return;
  if (succession === null) throw new RangeError('a successor list travels with its signed succession statement');
  w.varint(succession.members).bytes(succession.sig);
}

function readSuccession(r: ByteReader, field: string): { successors: string[]; succession: SignedSuccession | null } {
  const successors = readIdents(r, field, MAX_SUCCESSORS);
  if (successors.length === 0) return { successors, succession: null };
  const members = r.varint(`${field}.members`, 1_000_000_000);
  const sig = r.bytes(`${field}.sig`, MAX_SIGNATURE_BYTES);
  return { successors, succession: { members, sig } };
}

function writeOptionalBytes(w: ByteWriter, b: Uint8Array | null): void {
  if (b === null) w.u8(0);
  else w.u8(1).bytes(b);
}

function readOptionalBytes(r: ByteReader, field: string, max: number): Uint8Array | null {
  const has = r.u8(`${field}.present`);
  if (has > 1) r.fail(`${field}.present`, `must be 0 or 1, got ${has}`);
  return has === 1 ? r.bytes(field, max) : null;
}

// ------------------------------------------------------------------ HEARTBEAT

/** Heartbeat flag: the sender re-initialised its shard memories (state transfer) since it last reported. */
export const HB_RESET = 1;
/** Heartbeat flag: the sender reached the end of the run. */
export const HB_DONE = 2;
/** Heartbeat flag: the sender never relays broadcasts (a browser tab; see tree/layout.ts). */
export const HB_LEAF = 4;
/** Heartbeat flag: the sender's upload rate (kbit/s, varint) follows the held shards. */
export const HB_RATE = 8;

export interface HeartbeatBody {
  readonly round: number;
  readonly commitEpoch: number;
  readonly digest: Uint8Array;
  readonly flags: number;
  readonly held: readonly number[];
  /** The signed commit that certifies (round, commitEpoch, digest); null at round 0. */
  readonly cert: CommitCert | null;
  /** The sender's join token (runs whose admission policy asks for one). */
  readonly token: Uint8Array | null;
  /** Upload rate in kbit/s (sent with HB_RATE when > 0; decoded as 0 when absent = unknown). */
  readonly upKbps?: number;
}

/** Largest upload rate a heartbeat may report, kbit/s (100 Gbit/s). */
export const MAX_UP_KBPS = 100_000_000;

export function encodeHeartbeat(b: HeartbeatBody, M: number): Uint8Array {
  const w = new ByteWriter(40 + b.held.length * 2 + (b.cert ? 320 : 1) + (b.token?.length ?? 0));
  const up = b.upKbps !== undefined && b.upKbps >= 1 ? Math.min(MAX_UP_KBPS, Math.round(b.upKbps)) : 0;
  const flags = (b.flags & ~HB_RATE) | (up > 0 ? HB_RATE : 0);
  w.varint(b.round).varint(b.commitEpoch).raw(b.digest).u8(flags);
  writeShardSet(w, b.held, M);
  if (b.cert === null) w.u8(0);
  else {
    w.u8(1);
    writeCommitCert(w, b.cert);
  }
  writeOptionalBytes(w, b.token);
  if (up > 0) w.varint(up);
  return w.finish();
}

export function decodeHeartbeat(bytes: Uint8Array, limits: BodyLimits): HeartbeatBody & { readonly upKbps: number } {
  const r = new ByteReader(bytes, 'heartbeat');
  const round = r.varint('round', 0xffffffff);
  const commitEpoch = r.varint('commitEpoch', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const flags = r.u8('flags');
  if (flags > 15) r.fail('flags', `unknown flags ${flags}`);
  const held = readShardSet(r, 'held', limits);
  const hasCert = r.u8('cert.present');
  if (hasCert > 1) r.fail('cert.present', `must be 0 or 1, got ${hasCert}`);
  const cert = hasCert === 1 ? readCommitCert(r, 'cert') : null;
  const token = readOptionalBytes(r, 'token', MAX_TOKEN_BYTES);
  const upKbps = flags & HB_RATE ? r.varint('upKbps', MAX_UP_KBPS) : 0;
  r.end();
  return { round, commitEpoch, digest, flags, held, cert, token, upKbps };
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
  readonly succession: SignedSuccession | null;
  /** The aggregator's epoch certificate chain (trust/certs.ts), encoded. */
  readonly chain: Uint8Array | null;
}

export function encodeAnnounce(b: AnnounceBody): Uint8Array {
  const w = new ByteWriter(160 + b.successors.length * 56 + (b.chain?.length ?? 0));
  w.varint(b.round).varint(b.commitEpoch).raw(b.digest).u8(b.flags);
  writeSuccession(w, b.successors, b.succession);
  writeOptionalBytes(w, b.chain);
  return w.finish();
}

export function decodeAnnounce(bytes: Uint8Array): AnnounceBody {
  const r = new ByteReader(bytes, 'announce');
  const round = r.varint('round', 0xffffffff);
  const commitEpoch = r.varint('commitEpoch', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const flags = r.u8('flags');
  if (flags > 3) r.fail('flags', `unknown flags ${flags}`);
  const { successors, succession } = readSuccession(r, 'successors');
  const chain = readOptionalBytes(r, 'chain', MAX_CHAIN_BYTES);
  r.end();
  return { round, commitEpoch, digest, flags, successors, succession, chain };
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
  readonly succession: SignedSuccession | null;
  readonly chain: Uint8Array | null;
}

export function encodeOpen(b: OpenBody, M: number): Uint8Array {
  const w = new ByteWriter(192 + b.delta.length * 4 + b.successors.length * 56 + (b.chain?.length ?? 0));
  w.varint(b.attempt).varint(b.iteration).ident(b.phase).varint(b.baseEpoch).raw(b.baseDigest).varint(b.deadlineMs);
  writeDelta(w, b.delta);
  writeShardSet(w, b.wanted, M);
  writeSuccession(w, b.successors, b.succession);
  writeOptionalBytes(w, b.chain);
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
  const { successors, succession } = readSuccession(r, 'successors');
  const chain = readOptionalBytes(r, 'chain', MAX_CHAIN_BYTES);
  r.end();
  return { attempt, iteration, phase, baseEpoch, baseDigest, deadlineMs, delta, wanted, successors, succession, chain };
}

// ------------------------------------------------------------------ UPLINK

/** Uplink entry flag: the shard's memory is fresh (new holder or state transfer), no payload. */
export const UP_FRESH = 1;
/** Uplink entry flag: an audit's answer (the sender computed a shard it does not hold, on request: trust.ts). */
export const UP_AUDIT = 2;

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
    if (flags > 2) r.fail(`entries[${i}].flags`, `unknown flags ${flags}`);
    const payload = r.bytes('entries', limits.maxPayloadBytes, i, 'payload');
    if (flags & UP_FRESH && payload.length !== 0) r.fail(`entries[${i}].payload`, 'a fresh entry carries no payload');
    entries[i] = { shard, flags, payload };
    prev = shard;
  }
  r.end();
  return { attempt, entries };
}

// ------------------------------------------------------------------ AUDIT

/**
 * Aggregator → one member, privately: compute these shards (which the member does not hold) for
 * the round of the message, on the base state `baseDigest`, and answer with UP_AUDIT entries.
 */
export interface AuditBody {
  readonly attempt: number;
  readonly baseDigest: Uint8Array;
  readonly shards: readonly number[];
}

export function encodeAudit(b: AuditBody, M: number): Uint8Array {
  const w = new ByteWriter(32 + 4 * b.shards.length);
  w.varint(b.attempt).raw(b.baseDigest);
  writeShardSet(w, b.shards, M);
  return w.finish();
}

export function decodeAudit(bytes: Uint8Array, limits: BodyLimits): AuditBody {
  const r = new ByteReader(bytes, 'audit');
  const attempt = r.varint('attempt', 0xffffffff);
  const baseDigest = readDigest(r, 'baseDigest');
  const shards = readShardSet(r, 'shards', limits);
  r.end();
  return { attempt, baseDigest, shards };
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
  readonly succession: SignedSuccession | null;
  /** The aggregator's epoch certificate chain (sent with the successor list). */
  readonly chain: Uint8Array | null;
  /** Present when this commit also opens the next round (round + 1, attempt 0). */
  readonly next: CommitNext | null;
  /** The aggregator's ban list (engine/bans.ts), flagged by CM_BANS; absent or null: none. */
  readonly bans?: Uint8Array | null;
}

/**
 * Commit flag (wire only, above the method's downlink flags): a ban list (engine/bans.ts) follows
 * the next-round delta. Commits without one are byte-identical to those before ban lists existed.
 */
export const CM_BANS = 0x40;

/**
 * Encodes a commit's signed part; `sign` gets those bytes and returns the signature block
 * (signer, signature), which is appended.
 */
export function encodeCommit(b: CommitBody, M: number, sign: (signed: Uint8Array) => { signer: string; sig: Uint8Array }): Uint8Array {
  const bans = b.bans ?? null;
  const w = new ByteWriter(
    256 + (b.payload?.length ?? 0) + b.successors.length * 56 + (b.next?.delta.length ?? 0) * 4 + (b.chain?.length ?? 0) + (bans?.length ?? 0),
  );
  if (b.flags & CM_BANS) throw new RangeError(`downlink flags must leave bit ${CM_BANS} to the ban list`);
  w.varint(b.iteration)
    .ident(b.phase)
    .varint(bans === null ? b.flags : b.flags | CM_BANS)
    .raw(b.parentDigest)
    .raw(b.digest);
  writeShardSet(w, b.included, M);
  if (b.payload === null) w.u8(0);
  else w.u8(1).bytes(b.payload);
  writeSuccession(w, b.successors, b.succession);
  writeOptionalBytes(w, b.chain);
  if (b.next === null) w.u8(0);
  else {
    w.u8(1);
    writeDelta(w, b.next.delta);
  }
  if (bans !== null) w.bytes(bans);
  const signed = w.finish();
  const s = sign(signed);
  const out = new ByteWriter(signed.length + 2 + s.sig.length);
  out.raw(signed).bytes(s.sig);
  return out.finish();
}

/** A decoded COMMIT (or REPLAY): the next round's delta is a view of the body. */
export interface DecodedCommit extends Omit<CommitBody, 'next'> {
  readonly next: { readonly delta: DeltaView } | null;
  readonly bans: Uint8Array | null;
  /** Bytes [0, signedLength) of the body are what the signature's body hash covers. */
  readonly signedLength: number;
  /** The aggregator's signature (the signer is not on the wire: the COMMIT's sender, or the aggregator of a REPLAY's epoch). */
  readonly sig: Uint8Array;
}

export function decodeCommit(bytes: Uint8Array, limits: BodyLimits): DecodedCommit {
  const r = new ByteReader(bytes, 'commit');
  const iteration = r.varint('iteration', 0xffffffff);
  const phase = readPhase(r, 'phase');
  const wireFlags = r.varint('flags', 0xffff);
  const flags = wireFlags & ~CM_BANS;
  const parentDigest = readDigest(r, 'parentDigest');
  const digest = readDigest(r, 'digest');
  const included = readShardSet(r, 'included', limits);
  const hasPayload = r.u8('payload.present');
  if (hasPayload > 1) r.fail('payload.present', `must be 0 or 1, got ${hasPayload}`);
  const payload = hasPayload === 1 ? r.bytes('payload', limits.maxPayloadBytes) : null;
  const { successors, succession } = readSuccession(r, 'successors');
  const chain = readOptionalBytes(r, 'chain', MAX_CHAIN_BYTES);
  const hasNext = r.u8('next.present');
  if (hasNext > 1) r.fail('next.present', `must be 0 or 1, got ${hasNext}`);
  const next = hasNext === 1 ? { delta: readDelta(r, bytes, 'next.delta', 'next.delta.peers', limits) } : null;
  const bans = wireFlags & CM_BANS ? r.bytes('bans', MAX_BANS_BYTES) : null;
  const signedLength = r.offset;
  const sig = r.bytes('sig', MAX_SIGNATURE_BYTES);
  r.end();
  return { iteration, phase, flags, parentDigest, digest, included, payload, successors, succession, chain, next, bans, signedLength, sig };
}

// ------------------------------------------------------------------ STATE_REQUEST

export interface StateRequestBody {
  /** The requester's committed round and digest (the responder replays from round + 1 if it can). */
  readonly round: number;
  readonly digest: Uint8Array;
  /** Ask for a full snapshot even if a replay is possible (diverged requester). */
  readonly snapshot: boolean;
  /**
   * Zero bytes that pay for the answer: a server sends back at most twice a request's bytes
   * (serving.ts), so a requester pads to half of what it expects. Decoded as its length.
   */
  readonly padding?: number;
}

export function encodeStateRequest(b: StateRequestBody): Uint8Array {
  const pad = b.padding ?? 0;
  const w = new ByteWriter(32 + pad)
    .varint(b.round)
    .raw(b.digest)
    .u8(b.snapshot ? 1 : 0)
    .varint(pad);
  if (pad > 0) w.raw(new Uint8Array(pad));
  return w.finish();
}

export function decodeStateRequest(bytes: Uint8Array): StateRequestBody {
  const r = new ByteReader(bytes, 'stateRequest');
  const round = r.varint('round', 0xffffffff);
  const digest = readDigest(r, 'digest');
  const s = r.u8('snapshot');
  if (s > 1) r.fail('snapshot', `must be 0 or 1, got ${s}`);
  const padding = r.varint('padding', bytes.length);
  r.raw(padding, 'padding');
  r.end();
  return { round, digest, snapshot: s === 1, padding };
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

export function encodeState(
  h: StateHeader,
  vectors: Readonly<Record<string, Float64Array | Float32Array>>,
  shape: ReplicaShape,
  cert: CommitCert | null,
): Uint8Array {
  let size = 400 + h.nextPhase.length;
  for (let i = 0; i < shape.names.length; i++) size += 8 + shape.names[i].length + vectors[shape.names[i]].byteLength;
  const w = new ByteWriter(size);
  w.varint(h.round)
    .varint(h.commitEpoch)
    .raw(h.digest)
    .varint(h.iteration)
    .u8(h.initialized ? 1 : 0)
    .ident(h.nextPhase, true);
  w.varint(shape.names.length);
  for (const name of shape.names) {
    const v = vectors[name];
    w.ident(name).varint(v.length).f64s(v);
  }
  if (cert === null) w.u8(0);
  else {
    w.u8(1);
    writeCommitCert(w, cert);
  }
  return w.finish();
}

/**
 * Decodes a snapshot into `out` (vectors of the replica's shape, overwritten). The body must name
 * exactly the shape's vectors, in sorted order, with the shape's lengths, and finite values.
 * On error `out` may be partly written: decode into scratch vectors, not the live replica.
 */
export function decodeStateInto(
  bytes: Uint8Array,
  shape: ReplicaShape,
  out: Record<string, Float64Array | Float32Array>,
): StateHeader & { readonly cert: CommitCert | null } {
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
  const hasCert = r.u8('cert.present');
  if (hasCert > 1) r.fail('cert.present', `must be 0 or 1, got ${hasCert}`);
  const cert = hasCert === 1 ? readCommitCert(r, 'cert') : null;
  r.end();
  return { round, commitEpoch, digest, iteration, initialized: init === 1, nextPhase, cert };
}

// ------------------------------------------------------------------ SUSPECT / EQUIVOCATION

export interface SuspectBody {
  /** The aggregator of the frame's epoch that the sender saw make no progress. */
  readonly aggregator: string;
  readonly sig: Uint8Array;
}

export function encodeSuspect(b: SuspectBody): Uint8Array {
  return new ByteWriter(160).ident(b.aggregator).bytes(b.sig).finish();
}

export function decodeSuspect(bytes: Uint8Array): SuspectBody {
  const r = new ByteReader(bytes, 'suspect');
  const aggregator = r.ident('aggregator');
  const sig = r.bytes('sig', MAX_SIGNATURE_BYTES).slice();
  r.end();
  return { aggregator, sig };
}

export interface EquivocationBody {
  readonly a: CommitCert;
  readonly b: CommitCert;
}

export function encodeEquivocation(b: EquivocationBody): Uint8Array {
  const w = new ByteWriter(700);
  writeCommitCert(w, b.a);
  writeCommitCert(w, b.b);
  return w.finish();
}

export function decodeEquivocation(bytes: Uint8Array): EquivocationBody {
  const r = new ByteReader(bytes, 'equivocation');
  const a = readCommitCert(r, 'a');
  const b = readCommitCert(r, 'b');
  r.end();
  return { a, b };
}

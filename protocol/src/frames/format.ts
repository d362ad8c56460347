import { crc32c, crc32cUpdate } from './crc32c.js';

/**
 * Wire layout of a Masha frame (format version 1). All integers little-endian.
 *
 *   off  size  field
 *     0     4  magic "MSHF"
 *     4     1  format version (1)
 *     5     1  message kind
 *     6     2  phase
 *     8     2  payload codec id
 *    10     1  sender length s (1..MAX_SENDER_BYTES, printable ASCII)
 *    11     1  flags (reserved, must be 0)
 *    12     4  epoch
 *    16     4  round
 *    20     4  message id
 *    24     4  chunk index i
 *    28     4  chunk count n
 *    32     4  total message length L
 *    36     4  stride: payload bytes of every chunk but the last (chunk i starts at i·stride)
 *    40     4  this chunk's payload length
 *    44     4  CRC-32C of this chunk's payload
 *    48     4  message digest: CRC-32C over (kind, phase, codec, epoch, round, L, stride) and
 *              the n chunk CRCs in order, the same in every frame of the message
 *    52    32  run id (32-byte hash)
 *    84     s  sender peer id
 *  84+s     4  CRC-32C of header bytes [0, 84+s)
 *  88+s     …  chunk payload
 *
 * The header CRC covers the payload CRC, so together they check header + chunk, and a damaged
 * header is refused before the payload is read. The digest lets the reassembler check the whole
 * message end to end at no extra pass over the body: a chunk placed at the wrong index or taken
 * from another message cannot yield a wrong message, only a refused one. Geometry is redundant on purpose:
 * n = max(1, ⌈L / stride⌉), chunk i < n − 1 carries exactly `stride` bytes, the last carries the
 * rest (≥ 1 byte unless L = 0), and the frame's length is header + chunk length — so truncation,
 * extension or a lying length field is caught by `decodeFrame` without any context.
 */

export const FRAME_MAGIC = 0x4648534d; // "MSHF" read as u32 LE
export const FRAME_VERSION = 1;

/** Header bytes before the sender id. */
export const FIXED_HEADER_BYTES = 84;
/** Header bytes apart from the sender id (fixed part + header CRC). */
export const HEADER_OVERHEAD_BYTES = FIXED_HEADER_BYTES + 4;
export const MAX_SENDER_BYTES = 128;
export const RUN_ID_BYTES = 32;

/** Smallest configurable frame: a maximal header (216 bytes) still leaves 296 payload bytes. */
export const MIN_FRAME_BYTES = 512;
export const DEFAULT_FRAME_BYTES = 64 * 1024;
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Field limits. */
export const MAX_KIND = 0xff;
export const MAX_PHASE = 0xffff;
export const MAX_CODEC = 0xffff;
export const MAX_U32 = 0xffffffff;

export const OFF = {
  magic: 0,
  version: 4,
  kind: 5,
  phase: 6,
  codec: 8,
  senderLength: 10,
  flags: 11,
  epoch: 12,
  round: 16,
  messageId: 20,
  index: 24,
  count: 28,
  totalLength: 32,
  stride: 36,
  chunkLength: 40,
  payloadCrc: 44,
  digest: 48,
  runId: 52,
  sender: 84,
} as const;

/** Header size for a sender id of `senderBytes` bytes. */
export function frameHeaderBytes(senderBytes: number): number {
  return HEADER_OVERHEAD_BYTES + senderBytes;
}

/** Number of chunks a message of `totalLength` bytes is cut into at `stride` payload bytes each. */
export function chunkCount(totalLength: number, stride: number): number {
  return totalLength === 0 ? 1 : Math.ceil(totalLength / stride);
}

/** Payload bytes of chunk `index` in a message of `totalLength` bytes cut at `stride`. */
export function chunkLength(totalLength: number, stride: number, index: number, count: number): number {
  return index < count - 1 ? stride : totalLength - (count - 1) * stride;
}

/** Exact wire size in bytes of a message of `bodyBytes` bytes from a `senderBytes`-byte sender at `frameBytes` frames. */
export function encodedBytes(bodyBytes: number, senderBytes: number, frameBytes = DEFAULT_FRAME_BYTES): number {
  const header = frameHeaderBytes(senderBytes);
  return chunkCount(bodyBytes, frameBytes - header) * header + bodyBytes;
}

/** Wire overhead: frame bytes / payload bytes for one message. */
export function wireOverhead(bodyBytes: number, senderBytes: number, frameBytes = DEFAULT_FRAME_BYTES): number {
  return encodedBytes(bodyBytes, senderBytes, frameBytes) / bodyBytes;
}

const HEX: string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes[start, end). */
export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[bytes[i]];
  return s;
}

/** Run ids travel as 32 raw bytes and surface as lower-case hex, so only lower-case is canonical. */
const HEX_RE = /^[0-9a-f]*$/;

/** Writes the hex string `hex` (already validated as 2·n hex digits) into out[at, at + n). */
export function writeHex(hex: string, out: Uint8Array, at: number): void {
  for (let i = 0; i < hex.length; i += 2) out[at + (i >> 1)] = parseInt(hex.slice(i, i + 2), 16);
}

// A process sees one run id, or a few, over and over: the last one is kept both ways, so frames
// do not re-parse or re-format 64 hex digits each. Pure caches: the results are what
// `isRunIdHex` / `writeHex` / `toHex` compute.
let lastValidRunId = '';
let lastRunIdHex = '';
const lastRunIdBytes = new Uint8Array(RUN_ID_BYTES);

export function isRunIdHex(s: string): boolean {
  if (s === lastValidRunId) return true;
  const ok = s.length === 2 * RUN_ID_BYTES && HEX_RE.test(s);
  if (ok) lastValidRunId = s;
  return ok;
}

/** Writes the run id `hex` (validated by `isRunIdHex`) as 32 bytes into out[at, at + 32). */
export function writeRunId(hex: string, out: Uint8Array, at: number): void {
  if (hex !== lastRunIdHex) {
    writeHex(hex, lastRunIdBytes, 0);
    lastRunIdHex = hex;
  }
  out.set(lastRunIdBytes, at);
}

/** The lower-case hex of the 32-byte run id at bytes[at, at + 32). */
export function readRunId(bytes: Uint8Array, at: number): string {
  if (lastRunIdHex !== '') {
    let same = true;
    for (let i = 0; i < RUN_ID_BYTES; i++) {
      if (bytes[at + i] !== lastRunIdBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastRunIdHex;
  }
  const hex = toHex(bytes, at, at + RUN_ID_BYTES);
  lastRunIdBytes.set(bytes.subarray(at, at + RUN_ID_BYTES));
  lastRunIdHex = hex;
  return hex;
}

/** A sender id is 1..MAX_SENDER_BYTES printable ASCII characters (libp2p peer ids are base58/base32). */
export function isValidSender(s: string): boolean {
  if (s.length < 1 || s.length > MAX_SENDER_BYTES) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

export function getU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

export function getU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** The fields the message digest covers besides the chunk CRCs. */
export interface DigestFields {
  readonly kind: number;
  readonly phase: number;
  readonly codec: number;
  readonly epoch: number;
  readonly round: number;
  readonly totalLength: number;
  readonly stride: number;
}

/**
 * Message digest: CRC-32C over (kind u8, phase u16, codec u16, epoch u32, round u32, length u32,
 * stride u32) followed by the chunk CRCs (u32 LE each, in chunk order, `chunkCrcs`).
 */
export function messageDigest(f: DigestFields, chunkCrcs: Uint8Array): number {
  return crc32cUpdate(crc32c(digestFields(f), 0, 21), chunkCrcs);
}

/** `messageDigest` of a one-chunk message whose chunk CRC is `crc` (no buffer allocated). */
export function singleChunkDigest(f: DigestFields, crc: number): number {
  const d = digestFields(f);
  putU32(d, 21, crc);
  return crc32c(d, 0, 25);
}

/** The 21 digest field bytes, then room for one chunk CRC (scratch: used and dropped at once). */
const DIGEST_SCRATCH = new Uint8Array(25);

function digestFields(f: DigestFields): Uint8Array {
  const d = DIGEST_SCRATCH;
  d[0] = f.kind;
  putU16(d, 1, f.phase);
  putU16(d, 3, f.codec);
  putU32(d, 5, f.epoch);
  putU32(d, 9, f.round);
  putU32(d, 13, f.totalLength);
  putU32(d, 17, f.stride);
  return d;
}

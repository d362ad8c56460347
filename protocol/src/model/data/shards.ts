/**
 * Token shard files: a compact binary format for tokenised examples, so that a volunteer fetches
 * only the files that hold its shards (a browser over HTTP, a Node peer from disk). Little-endian:
 *
 *   offset  size        field
 *   0       4           magic "MTOK"
 *   4       2           version (1)
 *   6       2           classes C (labels are < C)
 *   8       4           vocabSize V (token ids are < V)
 *   12      4           count n (examples)
 *   16      4           tokens T (total)
 *   20      4           first (index of the file's first example in its split)
 *   24      4·(n+1)     offsets (example i = tokens[offsets[i], offsets[i+1]))
 *   …       n           labels (u8), then zero padding to a multiple of 2
 *   …       2·T         tokens (u16)
 *   end−4   4           CRC-32C of every preceding byte
 *
 * Files are untrusted: `decodeShard` checks every field and throws a ValidationError naming it
 * (`train-003.bin: header.count`, `…: offsets[17]`, `…: tokens[2051]`, `…: crc`).
 */
import { ValidationError } from '../../errors.js';
import { crc32c } from '../../frames/crc32c.js';

export const SHARD_MAGIC = 0x4b4f544d; // "MTOK" read as little-endian u32
export const SHARD_VERSION = 1;
const HEADER = 24;

/** Tokenised examples: example i is tokens[offsets[i], offsets[i+1]) with class labels[i]. */
export interface TokenSet {
  readonly vocabSize: number;
  readonly classes: number;
  readonly count: number;
  readonly offsets: Uint32Array;
  readonly tokens: Uint16Array;
  readonly labels: Uint8Array;
}

export interface TokenShard extends TokenSet {
  /** Index of the first example within its split. */
  readonly first: number;
}

function layout(n: number, t: number): { labels: number; tokens: number; total: number } {
  const labels = HEADER + 4 * (n + 1);
  const tokens = labels + n + (n % 2);
  return { labels, tokens, total: tokens + 2 * t + 4 };
}

export function encodeShard(s: TokenShard): Uint8Array {
  const n = s.count;
  const t = s.offsets[n];
  const l = layout(n, t);
  const buf = new Uint8Array(l.total);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, SHARD_MAGIC, true);
  dv.setUint16(4, SHARD_VERSION, true);
  dv.setUint16(6, s.classes, true);
  dv.setUint32(8, s.vocabSize, true);
  dv.setUint32(12, n, true);
  dv.setUint32(16, t, true);
  dv.setUint32(20, s.first, true);
  for (let i = 0; i <= n; i++) dv.setUint32(HEADER + 4 * i, s.offsets[i], true);
  buf.set(s.labels.subarray(0, n), l.labels);
  for (let i = 0; i < t; i++) dv.setUint16(l.tokens + 2 * i, s.tokens[s.offsets[0] + i], true);
  dv.setUint32(l.total - 4, crc32c(buf.subarray(0, l.total - 4)), true);
  return buf;
}

/** Parses and validates a shard file; `file` names it in errors. */
export function decodeShard(bytes: Uint8Array, file: string): TokenShard {
  const fail = (field: string, msg: string): never => {
    throw new ValidationError(`${file}: ${field}`, msg);
  };
  if (bytes.length < HEADER + 8) fail('header', `file too short (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== SHARD_MAGIC) fail('header.magic', 'not a Masha token shard (bad magic)');
  const version = dv.getUint16(4, true);
  if (version !== SHARD_VERSION) fail('header.version', `unsupported version ${version} (expected ${SHARD_VERSION})`);
  const classes = dv.getUint16(6, true);
  if (classes < 1) fail('header.classes', 'must be ≥ 1');
  const vocabSize = dv.getUint32(8, true);
  if (vocabSize < 1 || vocabSize > 65536) fail('header.vocabSize', `must be in [1, 65536], got ${vocabSize}`);
  const n = dv.getUint32(12, true);
  const t = dv.getUint32(16, true);
  const first = dv.getUint32(20, true);
  // Bound n and t by the file size before allocating anything.
  if (HEADER + 4 * (n + 1) + n + 4 > bytes.length) fail('header.count', `${n} examples cannot fit in ${bytes.length} bytes`);
  const l = layout(n, t);
  if (l.total !== bytes.length) fail('header.tokens', `${n} examples with ${t} tokens need ${l.total} bytes, the file has ${bytes.length}`);
  const crc = dv.getUint32(l.total - 4, true);
  if (crc32c(bytes.subarray(0, l.total - 4)) !== crc) fail('crc', 'checksum mismatch: the file is damaged');
  const offsets = new Uint32Array(n + 1);
  for (let i = 0; i <= n; i++) {
    const o = dv.getUint32(HEADER + 4 * i, true);
    if ((i === 0 && o !== 0) || (i > 0 && o < offsets[i - 1]) || o > t) fail(`offsets[${i}]`, `bad offset ${o}`);
    offsets[i] = o;
  }
  if (offsets[n] !== t) fail(`offsets[${n}]`, `last offset ${offsets[n]} differs from the token count ${t}`);
  const labels = bytes.slice(l.labels, l.labels + n);
  for (let i = 0; i < n; i++) if (labels[i] >= classes) fail(`labels[${i}]`, `label ${labels[i]} ≥ classes ${classes}`);
  const tokens = new Uint16Array(t);
  for (let i = 0; i < t; i++) {
    const v = dv.getUint16(l.tokens + 2 * i, true);
    if (v >= vocabSize) fail(`tokens[${i}]`, `token id ${v} ≥ vocabSize ${vocabSize}`);
    tokens[i] = v;
  }
  return { vocabSize, classes, count: n, offsets, tokens, labels, first };
}

/** Concatenates token sets (same vocabulary and classes) into one. */
export function concatTokenSets(sets: readonly TokenSet[]): TokenSet {
  if (sets.length === 0) throw new ValidationError('shards', 'no token sets to concatenate');
  const { vocabSize, classes } = sets[0];
  let n = 0;
  let t = 0;
  for (const s of sets) {
    if (s.vocabSize !== vocabSize || s.classes !== classes) throw new ValidationError('shards', 'token sets differ in vocabulary size or classes');
    n += s.count;
    t += s.offsets[s.count] - s.offsets[0];
  }
  const offsets = new Uint32Array(n + 1);
  const tokens = new Uint16Array(t);
  const labels = new Uint8Array(n);
  let i = 0;
  let o = 0;
  for (const s of sets) {
    tokens.set(s.tokens.subarray(s.offsets[0], s.offsets[s.count]), o);
    labels.set(s.labels.subarray(0, s.count), i);
    for (let k = 0; k < s.count; k++) offsets[i + k] = o + s.offsets[k] - s.offsets[0];
    i += s.count;
    o += s.offsets[s.count] - s.offsets[0];
    offsets[i] = o;
  }
  return { vocabSize, classes, count: n, offsets, tokens, labels };
}

/** Examples [start, end) of a token set (a view of its tokens). */
export function sliceTokenSet(s: TokenSet, start: number, end: number): TokenSet {
  if (!(start >= 0 && end >= start && end <= s.count)) throw new RangeError(`sliceTokenSet: bad range [${start}, ${end}) of ${s.count}`);
  const base = s.offsets[start];
  const offsets = new Uint32Array(end - start + 1);
  for (let i = start; i <= end; i++) offsets[i - start] = s.offsets[i] - base;
  return { vocabSize: s.vocabSize, classes: s.classes, count: end - start, offsets, tokens: s.tokens.subarray(base, s.offsets[end]), labels: s.labels.subarray(start, end) };
}

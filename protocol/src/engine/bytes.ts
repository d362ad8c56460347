/**
 * Bounded binary reader/writer for engine message bodies. Little-endian; unsigned integers as
 * LEB128 varints (at most 2^53 − 1); identifiers as length-prefixed printable ASCII. The reader
 * checks every bound before touching memory and throws only `MessageError`.
 */
import { ValidationError } from '../errors.js';
import { ByteSlab } from './slab.js';

/** An engine message body is malformed (wrong length, out-of-range field, non-finite value…). */
export class MessageError extends ValidationError {
  constructor(field: string, message: string) {
    super(field, message);
  }
}

/** Longest identifier (peer id, phase name, vector name) a body may carry. */
export const MAX_IDENT_BYTES = 128;

/** Scratch for float64 ⇄ bytes (little-endian platforms: every JS engine we target). */
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

/** Bodies are small and short-lived (or kept whole, in a commit log): carved from shared blocks. */
const BODIES = new ByteSlab();

export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = BODIES.take(capacity);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = BODIES.take(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  /** Unsigned varint, 0 ≤ v ≤ 2^53 − 1. */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint: ${v} is not a non-negative safe integer`);
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    F64[0] = v;
    this.buf.set(F64_BYTES, this.pos);
    this.pos += 8;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    const b = this.buf;
    b[this.pos] = v & 0xff;
    b[this.pos + 1] = (v >>> 8) & 0xff;
    b[this.pos + 2] = (v >>> 16) & 0xff;
    b[this.pos + 3] = (v >>> 24) & 0xff;
    this.pos += 4;
    return this;
  }

  /** Raw bytes, no length prefix. */
  raw(bytes: Uint8Array): this {
    const n = bytes.length;
    this.ensure(n);
    if (n <= 32) {
      // Digests and small payloads: a loop beats TypedArray.prototype.set's setup cost.
      const buf = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) buf[p + i] = bytes[i];
    } else this.buf.set(bytes, this.pos);
    this.pos += n;
    return this;
  }

  /** Length-prefixed bytes. */
  bytes(bytes: Uint8Array): this {
    this.varint(bytes.length);
    return this.raw(bytes);
  }

  /** Length-prefixed printable ASCII (1..MAX_IDENT_BYTES chars, or empty when `allowEmpty`). */
  ident(s: string, allowEmpty = false): this {
    if (!isIdent(s, allowEmpty)) throw new RangeError(`identifier ${JSON.stringify(s)} is not 1..${MAX_IDENT_BYTES} printable ASCII characters`);
    this.ensure(1 + s.length);
    this.buf[this.pos++] = s.length;
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
    return this;
  }

  /** Dense float64 or float32 vector, raw (the reader knows its length and type). */
  f64s(v: Float64Array | Float32Array): this {
    const n = v.byteLength;
    this.ensure(n);
    this.buf.set(new Uint8Array(v.buffer, v.byteOffset, n), this.pos);
    this.pos += n;
    return this;
  }

  /** The written bytes (a view of the internal buffer; the writer must not be reused after). */
  finish(): Uint8Array {
    return BODIES.shrinkLast(this.buf, this.pos);
  }
}

export function isIdent(s: string, allowEmpty = false): boolean {
  if (typeof s !== 'string') return false;
  if (s.length === 0) return allowEmpty;
  if (s.length > MAX_IDENT_BYTES) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Field names for error messages are composed only when a read fails: `field`, then `[index]`
 * when index ≥ 0, then `.leaf` when given, then `.suffix` — so hot decoders pass constant
 * strings and numbers instead of building a name per read.
 */
function fieldName(field: string, index: number, leaf: string, suffix = ''): string {
  let name = index >= 0 ? `${field}[${index}]` : field;
  if (leaf !== '') name += `.${leaf}`;
  if (suffix !== '') name += `.${suffix}`;
  return name;
}

export class ByteReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly context: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  fail(field: string, message: string): never {
    throw new MessageError(`${this.context}.${field}`, message);
  }

  private need(n: number, field: string, index: number, leaf: string, suffix = ''): void {
    if (n > this.buf.length - this.pos) {
      this.fail(fieldName(field, index, leaf, suffix), `truncated: need ${n} byte(s) at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  /** One byte. The field is named `field[index].leaf` (see fieldName) if the body ends first. */
  u8(field: string, index = -1, leaf = ''): number {
    this.need(1, field, index, leaf);
    return this.buf[this.pos++];
  }

  varint(field: string, max = Number.MAX_SAFE_INTEGER, index = -1, leaf = '', suffix = ''): number {
    // Fast paths: one- and two-byte values (shard gaps, counts, refs), same checks as below.
    const buf = this.buf;
    const p = this.pos;
    if (p + 1 < buf.length) {
      const b0 = buf[p];
      if (b0 < 0x80) {
        if (b0 <= max) {
          this.pos = p + 1;
          return b0;
        }
      } else {
        const b1 = buf[p + 1];
        if (b1 < 0x80 && b1 !== 0) {
          const v = (b0 & 0x7f) | (b1 << 7);
          if (v <= max) {
            this.pos = p + 2;
            return v;
          }
        }
      }
    }
    return this.varintSlow(field, max, index, leaf, suffix);
  }

  private varintSlow(field: string, max: number, index: number, leaf: string, suffix: string): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) this.fail(fieldName(field, index, leaf, suffix), 'varint longer than 8 bytes');
      this.need(1, field, index, leaf, suffix);
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) this.fail(fieldName(field, index, leaf, suffix), 'varint not minimally encoded');
        break;
      }
      mul *= 0x80;
    }
    if (!(v <= max)) this.fail(fieldName(field, index, leaf, suffix), `${v} exceeds the limit ${max}`);
    return v;
  }

  u32(field: string): number {
    this.need(4, field, -1, '');
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** A zero-copy view of the next n bytes. */
  raw(n: number, field: string, index = -1, leaf = ''): Uint8Array {
    this.need(n, field, index, leaf);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Length-prefixed bytes (zero-copy view), length ≤ max (the length is the field's `.length`). */
  bytes(field: string, max: number, index = -1, leaf = ''): Uint8Array {
    const n = this.varint(field, max, index, leaf, 'length');
    return this.raw(n, field, index, leaf);
  }

  ident(field: string, allowEmpty = false, index = -1, leaf = ''): string {
    const n = this.identSpan(field, allowEmpty, index, leaf);
    return n === 0 ? '' : internIdent(this.buf, this.pos - n, n);
  }

  /**
   * Checks a length-prefixed identifier (printable ASCII, 1 to MAX_IDENT_BYTES bytes, or empty when
   * allowed), steps over it and returns its length; the bytes end at the new position.
   */
  private identSpan(field: string, allowEmpty: boolean, index: number, leaf: string): number {
    const n = this.buf.length > this.pos ? this.buf[this.pos] : -1;
    if (n < 0) this.need(1, field, index, leaf, 'length');
    this.pos++;
    if (n === 0) {
      if (allowEmpty) return 0;
      this.fail(fieldName(field, index, leaf), 'empty identifier');
    }
    if (n > MAX_IDENT_BYTES) this.fail(fieldName(field, index, leaf), `identifier of ${n} bytes exceeds ${MAX_IDENT_BYTES}`);
    this.need(n, field, index, leaf);
    const buf = this.buf;
    const start = this.pos;
    for (let i = start; i < start + n; i++) {
      const c = buf[i];
      if (c < 0x21 || c > 0x7e) this.fail(fieldName(field, index, leaf), `byte ${c} is not printable ASCII`);
    }
    this.pos += n;
    return n;
  }

  /** Moves forward to `pos` (≤ the body's length): for callers that validated bytes[offset, pos) themselves. */
  advanceTo(pos: number): void {
    if (!(pos >= this.pos && pos <= this.buf.length)) throw new RangeError(`cannot advance from ${this.pos} to ${pos}`);
    this.pos = pos;
  }

  /** Checks an identifier like `ident` and steps over it without building the string. */
  skipIdent(field: string, index = -1, leaf = ''): void {
    this.identSpan(field, false, index, leaf);
  }

  /** Reads n float64 (or float32, by `out`'s type) values into `out` (length n), refusing non-finite values. */
  f64sInto(out: Float64Array | Float32Array, field: string): void {
    const n = out.length;
    const bytes = out.byteLength;
    this.need(bytes, field, -1, '');
    new Uint8Array(out.buffer, out.byteOffset, bytes).set(this.buf.subarray(this.pos, this.pos + bytes));
    for (let i = 0; i < n; i++) if (!Number.isFinite(out[i])) this.fail(`${field}[${i}]`, `non-finite value ${out[i]}`);
    this.pos += bytes;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.pos !== this.buf.length) this.fail('end', `${this.buf.length - this.pos} trailing byte(s)`);
  }
}

/**
 * Identifiers decoded recently (phase names, peer ids), so that the same bytes yield the same
 * string without building it again: a direct-mapped table of 1,024 entries keyed by a hash of the
 * bytes. Pure cache: the result is the identifier the bytes spell.
 */
const INTERNED: string[] = new Array<string>(1024).fill('');

/** The identifier spelled by buf[start, start + n) (validated printable ASCII), through the intern table. */
export function internIdent(buf: Uint8Array, start: number, n: number): string {
  let h = n;
  for (let i = start; i < start + n; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  const slot = (h ^ (h >>> 15)) & 1023;
  const hit = INTERNED[slot];
  if (hit.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const s = String.fromCharCode.apply(null, buf.subarray(start, start + n) as unknown as number[]);
  INTERNED[slot] = s;
  return s;
}

/**
 * Bounded binary reader/writer for engine message bodies. Little-endian; unsigned integers as
 * LEB128 varints (at most 2^53 − 1); identifiers as length-prefixed printable ASCII. The reader
 * checks every bound before touching memory and throws only `MessageError`.
 */
import { ValidationError } from '../errors.js';

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

export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
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
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
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

  /** Dense float64 vector, raw (the reader knows its length). */
  f64s(v: Float64Array): this {
    const n = v.length * 8;
    this.ensure(n);
    this.buf.set(new Uint8Array(v.buffer, v.byteOffset, n), this.pos);
    this.pos += n;
    return this;
  }

  /** The written bytes (a view of the internal buffer; the writer must not be reused after). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
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

  private need(n: number, field: string): void {
    if (n > this.buf.length - this.pos) this.fail(field, `truncated: need ${n} byte(s) at offset ${this.pos}, have ${this.buf.length - this.pos}`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++];
  }

  varint(field: string, max = Number.MAX_SAFE_INTEGER): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) this.fail(field, 'varint longer than 8 bytes');
      this.need(1, field);
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) this.fail(field, 'varint not minimally encoded');
        break;
      }
      mul *= 0x80;
    }
    if (!(v <= max)) this.fail(field, `${v} exceeds the limit ${max}`);
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** A zero-copy view of the next n bytes. */
  raw(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Length-prefixed bytes (zero-copy view), length ≤ max. */
  bytes(field: string, max: number): Uint8Array {
    const n = this.varint(`${field}.length`, max);
    return this.raw(n, field);
  }

  ident(field: string, allowEmpty = false): string {
    const n = this.u8(`${field}.length`);
    if (n === 0) {
      if (allowEmpty) return '';
      this.fail(field, 'empty identifier');
    }
    if (n > MAX_IDENT_BYTES) this.fail(field, `identifier of ${n} bytes exceeds ${MAX_IDENT_BYTES}`);
    this.need(n, field);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    for (let i = 0; i < n; i++) {
      const c = bytes[i];
      if (c < 0x21 || c > 0x7e) this.fail(field, `byte ${c} is not printable ASCII`);
    }
    this.pos += n;
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }

  /** Reads n float64 values into `out` (length n), refusing non-finite values. */
  f64sInto(out: Float64Array, field: string): void {
    const n = out.length;
    this.need(n * 8, field);
    new Uint8Array(out.buffer, out.byteOffset, n * 8).set(this.buf.subarray(this.pos, this.pos + n * 8));
    for (let i = 0; i < n; i++) if (!Number.isFinite(out[i])) this.fail(`${field}[${i}]`, `non-finite value ${out[i]}`);
    this.pos += n * 8;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.pos !== this.buf.length) this.fail('end', `${this.buf.length - this.pos} trailing byte(s)`);
  }
}

import { ByteSlab } from '../engine/slab.js';
import { PayloadError } from '../errors.js';

/**
 * Bit-level packing shared by the compressors' wire formats. Bits are written LSB-first into a
 * little-endian byte stream: bit `i` of the stream is bit `i & 7` of byte `i >>> 3`. A field of
 * `n` bits holding value `v` occupies stream bits `pos … pos+n−1`, least significant first.
 */

/** True on little-endian hosts (all mainstream ones); big-endian hosts take the DataView paths. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Scratch of `readFiniteFloat32Array` for up to SMALL_FLOATS values (one block, three views). */
const SMALL_FLOATS = 64;
const SMALL_F32 = new Float32Array(SMALL_FLOATS);
const SMALL_U8 = new Uint8Array(SMALL_F32.buffer);
const SMALL_I32 = new Int32Array(SMALL_F32.buffer);

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * Encoded payloads are carved from shared blocks: a Uint8Array of its own beyond 64 bytes (a
 * sparsifier's ten floats already) lives off the JS heap and costs a few tenths of a microsecond
 * to create and reclaim, once per message. Views share their `.buffer`: respect `byteOffset`.
 */
const PAYLOADS = new ByteSlab(16 * 1024);

/** A zero-filled buffer of n bytes for an encoded payload. */
export function payloadBytes(n: number): Uint8Array {
  return PAYLOADS.take(n);
}

/** IEEE-754 binary32 bits of x (after rounding x to float32). */
export function float32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/** The float32 whose bits are `bits`. */
export function float32FromBits(bits: number): number {
  u32Scratch[0] = bits;
  return f32Scratch[0];
}

/** Smallest float32 ≥ x (x finite, |x| < 2^128). Used for scales that must not round down. */
export function float32Up(x: number): number {
  const f = Math.fround(x);
  if (f >= x) return f;
  // f < x: step one ulp towards +∞.
  const bits = float32Bits(f);
  if (f > 0) return float32FromBits(bits + 1);
  if (f === 0) return float32FromBits(1); // smallest positive subnormal
  return float32FromBits(bits - 1); // negative: smaller magnitude
}

/** Number of bytes that carry `bits` bits. */
export function bytesFor(bits: number): number {
  return Math.ceil(bits / 8);
}

/** ⌈log2 n⌉ for n ≥ 1 (0 for n = 1): the bits needed to write a value in [0, n). */
export function ceilLog2(n: number): number {
  if (n <= 1) return 0;
  let b = 0;
  let p = 1;
  while (p < n) {
    p *= 2;
    b++;
  }
  return b;
}

export class BitWriter {
  readonly bytes: Uint8Array;
  /** Next bit position. */
  pos: number;

  /** Writes into `bytes` (assumed zero from `startBit` on) starting at bit `startBit`. */
  constructor(bytes: Uint8Array, startBit = 0) {
    this.bytes = bytes;
    this.pos = startBit;
  }

  /** Writes the low `n` bits (0 ≤ n ≤ 32) of the unsigned value v. */
  write(v: number, n: number): void {
    let pos = this.pos;
    const bytes = this.bytes;
    v = v >>> 0;
    while (n > 0) {
      const off = pos & 7;
      const take = 8 - off < n ? 8 - off : n;
      bytes[pos >>> 3] |= (v & ((1 << take) - 1)) << off;
      v >>>= take;
      n -= take;
      pos += take;
    }
    this.pos = pos;
  }

  writeBit(b: number): void {
    if (b & 1) this.bytes[this.pos >>> 3] |= 1 << (this.pos & 7);
    this.pos++;
  }

  writeFloat32(x: number): void {
    this.write(float32Bits(x), 32);
  }

  /** Writes a float32 array; byte-aligned positions on little-endian hosts take a bulk copy. */
  writeFloat32Array(values: Float32Array): void {
    if ((this.pos & 7) === 0 && LITTLE_ENDIAN) {
      this.bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), this.pos >>> 3);
      this.pos += 32 * values.length;
      return;
    }
    for (let i = 0; i < values.length; i++) this.write(float32Bits(values[i]), 32);
  }
}

export class BitReader {
  readonly bytes: Uint8Array;
  pos: number;
  /** Bits available (reads beyond it throw PayloadError). */
  readonly end: number;

  constructor(bytes: Uint8Array, startBit = 0, endBit = bytes.length * 8) {
    this.bytes = bytes;
    this.pos = startBit;
    this.end = endBit;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new PayloadError('truncated', `payload truncated: need ${n} more bits at bit ${this.pos}, have ${this.end - this.pos}`);
    }
  }

  /** Reads an unsigned field of n bits (0 ≤ n ≤ 32). */
  read(n: number): number {
    this.need(n);
    let pos = this.pos;
    const bytes = this.bytes;
    let v = 0;
    let shift = 0;
    while (n > 0) {
      const off = pos & 7;
      const take = 8 - off < n ? 8 - off : n;
      const part = (bytes[pos >>> 3] >>> off) & ((1 << take) - 1);
      v += part * 2 ** shift;
      shift += take;
      n -= take;
      pos += take;
    }
    this.pos = pos;
    return v;
  }

  readBit(): number {
    this.need(1);
    const b = (this.bytes[this.pos >>> 3] >>> (this.pos & 7)) & 1;
    this.pos++;
    return b;
  }

  /** Reads a finite float32; `field` names it in the error. */
  readFiniteFloat32(field: string): number {
    const x = float32FromBits(this.read(32));
    if (!Number.isFinite(x)) throw new PayloadError('non-finite', `${field} is not finite (${x})`);
    return x;
  }

  /**
   * Reads n float32 values, all of which must be finite, into `into` (of length n) or a new array
   * (allocated only once the bytes are known to be there).
   */
  readFiniteFloat32Array(n: number, field: string, into?: Float32Array): Float32Array {
    this.need(32 * n);
    if (into !== undefined && into.length !== n) throw new RangeError(`readFiniteFloat32Array: into has length ${into.length}, expected ${n}`);
    const out = into ?? new Float32Array(n);
    if (n <= SMALL_FLOATS && (this.pos & 7) === 0 && LITTLE_ENDIAN) {
      // A few values (a sparsifier's kept ones): through a scratch block, without views of `out`
      // (views of a small array make V8 move it off its heap).
      const start = this.pos >>> 3;
      const b = this.bytes;
      for (let i = 0; i < 4 * n; i++) SMALL_U8[i] = b[start + i];
      this.pos += 32 * n;
      let bad = 0;
      for (let i = 0; i < n; i++) bad |= 0x7f7fffff - (SMALL_I32[i] & 0x7fffffff); // < 0 for ±∞/NaN
      if (bad < 0) {
        for (let i = 0; i < n; i++) {
          const v = SMALL_F32[i];
          if (v - v !== 0) throw new PayloadError('non-finite', `${field}[${i}] is not finite (${v})`);
        }
      }
      for (let i = 0; i < n; i++) out[i] = SMALL_F32[i];
      return out;
    }
    if ((this.pos & 7) === 0 && LITTLE_ENDIAN) {
      const start = this.pos >>> 3;
      new Uint8Array(out.buffer, out.byteOffset, 4 * n).set(this.bytes.subarray(start, start + 4 * n));
      this.pos += 32 * n;
    } else {
      for (let i = 0; i < n; i++) out[i] = float32FromBits(this.read(32));
    }
    const bits = new Int32Array(out.buffer, out.byteOffset, n);
    let bad = 0;
    for (let i = 0; i < n; i++) bad |= 0x7f7fffff - (bits[i] & 0x7fffffff); // < 0 for ±∞/NaN
    if (bad < 0) {
      for (let i = 0; i < n; i++) {
        const v = out[i];
        if (v - v !== 0) throw new PayloadError('non-finite', `${field}[${i}] is not finite (${v})`);
      }
    }
    return out;
  }
}

/** Throws unless `bytes` is exactly ⌈bits/8⌉ long. */
export function expectLength(bytes: Uint8Array, bits: number, codec: string): void {
  const want = bytesFor(bits);
  if (bytes.length !== want) {
    throw new PayloadError('length', `${codec} payload must be ${want} bytes (${bits} bits), got ${bytes.length}`);
  }
}

/** Throws unless every bit from `bits` to the end of the last byte is zero (canonical padding). */
export function expectZeroPadding(bytes: Uint8Array, bits: number, codec: string): void {
  const off = bits & 7;
  if (off === 0) return;
  const last = bytes[bits >>> 3];
  if (last >>> off !== 0) throw new PayloadError('padding', `${codec} payload has non-zero padding bits`);
}

/** Throws unless d is a valid dimension. */
export function expectDimension(d: number, codec: string): void {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) {
    throw new PayloadError('dimension', `${codec}: dimension must be an integer in [0, 2^32), got ${d}`);
  }
}

/**
 * Packs `n` codes of `width` bits (1 ≤ width ≤ 16) into `bytes` from the byte-aligned bit
 * position `startBit`, LSB-first (the same layout as BitWriter.write per code, only faster).
 */
export function packCodes(codes: Uint8Array | Uint16Array, n: number, width: number, bytes: Uint8Array, startBit: number): void {
  if ((startBit & 7) !== 0) throw new RangeError('packCodes: start must be byte-aligned');
  let o = startBit >>> 3;
  let acc = 0;
  let nacc = 0;
  for (let i = 0; i < n; i++) {
    acc |= codes[i] << nacc;
    nacc += width;
    while (nacc >= 8) {
      bytes[o++] = acc & 255;
      acc >>>= 8;
      nacc -= 8;
    }
  }
  if (nacc > 0) bytes[o] = acc & 255;
}

/** Inverse of packCodes; the caller has checked that the bytes are long enough. */
export function unpackCodes<T extends Uint8Array | Uint16Array>(bytes: Uint8Array, startBit: number, n: number, width: number, out: T): T {
  if ((startBit & 7) !== 0) throw new RangeError('unpackCodes: start must be byte-aligned');
  let o = startBit >>> 3;
  let acc = 0;
  let nacc = 0;
  const mask = (1 << width) - 1;
  for (let i = 0; i < n; i++) {
    while (nacc < width) {
      acc |= bytes[o++] << nacc;
      nacc += 8;
    }
    out[i] = acc & mask;
    acc >>>= width;
    nacc -= width;
  }
  return out;
}

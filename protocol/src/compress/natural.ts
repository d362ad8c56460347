import { PayloadError } from '../errors.js';
import { bytesFor, expectDimension, expectLength, expectZeroPadding, LITTLE_ENDIAN, packCodes, unpackCodes } from './bitio.js';
import { expectOut, rejectValue, type FixedRateCompressor } from './checks.js';
import { LaneBits, laneSeed } from './lanes.js';
import { simdKernels } from './wasm/simd.js';
import { ArrayPool } from './pool.js';
import type { CompressContext, CompressorConstants, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Natural compression C_nat (Horváth et al.): each t = ±2^a(1+f), f ∈ [0,1), becomes ±2^a with
 * probability 1−f and ±2^(a+1) with probability f. Unbiased, q = 9/8, 9 bits per element.
 *
 * Code of an element (9 bits): sign·256 + e, where e is a float32 exponent field: e = 0 is zero,
 * e ∈ [1, 254] is 2^(e−127). Values below 2^−126 (float32 subnormals included) round to 0 or
 * 2^−126 with the same unbiased rule (unbiased, but there E C(t)² = |t|·2^−126 > (9/8)t²: q = 9/8
 * holds for entries of magnitude ≥ 2^−126, up to an absolute Σ_{|t|<2^−126}|t|·2^−126 < d·2^−252
 * below it); |t| > 2^127 (and ±∞, NaN) cannot be represented and is rejected with a
 * ValidationError. Code 255 in the exponent never occurs and is rejected on decode.
 *
 * On float32 input the rounding is exact: the stochastic bit compares uniform random bits with the
 * 23 mantissa bits, so P(up) = f exactly. Float64 input compares 52 random bits with the 52-bit
 * mantissa, also exact (below 2^−126 with ⌊|t|·2^178⌋: unbiased up to 2^−178 absolute). Random
 * bits as lanes.ts describes (16 per element, more only on a tie of the top 16); WebAssembly SIMD
 * kernels for both input types, with plain-JS paths that give the same codes.
 */
export interface NaturalPayload extends Payload {
  readonly codec: 'natural';
  /** One 9-bit code per element. */
  readonly codes: Uint16Array;
}

/** Decoded value of every 9-bit code (code 255 / 511 are invalid and map to NaN). */
export const NATURAL_VALUES: Float64Array = (() => {
  const t = new Float64Array(512);
  for (let c = 0; c < 512; c++) {
    const e = c & 255;
    const sign = c >> 8 ? -1 : 1;
    t[c] = e === 0 ? sign * 0 : e === 255 ? Number.NaN : sign * 2 ** (e - 127);
  }
  return t;
})();

const TWO_127 = 2 ** 127;
const TWO_M126 = 2 ** -126;

export interface NaturalOptions {
  /** Use the WebAssembly SIMD kernel where available (default); false: the plain-JS loop (same codes). */
  readonly simd?: boolean;
}

export class NaturalCompressor implements FixedRateCompressor {
  readonly spec = 'natural';
  readonly kind = 'unbiased' as const;
  private readonly pool = new ArrayPool();
  private readonly simd: boolean;

  constructor(opts: NaturalOptions = {}) {
    this.simd = opts.simd ?? true;
  }

  payloadBits(d: number): number {
    return 9 * d;
  }

  release(p: NaturalPayload): void {
    this.pool.give(p.codes);
  }

  constants(_d: number, devices: number): CompressorConstants {
    const q = 9 / 8;
    return { kind: 'unbiased', q, beta: 9 / 32, ab: { A: (q - 1) / devices, B: 0 } };
  }

  /** t = ±2^a(1 + f) goes to ±2^a or ±2^(a+1) ≤ 2|t|: every element at most doubles. */
  maxGain(_d: number, _devices: number): number {
    return 2;
  }

  compress(x: Vec, ctx: CompressContext): NaturalPayload {
    const d = x.length;
    const codes = this.pool.take(Uint16Array, d); // every element is written below
    if (x instanceof Float32Array) compressF32(x, ctx, codes, this.simd);
    else compressF64(x, ctx, codes, this.simd);
    return { codec: 'natural', d, bits: 9 * d, codes };
  }

  decompress(p: NaturalPayload, _ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const codes = p.codes;
    const T = NATURAL_VALUES;
    const n = p.d;
    for (let i = 0; i < n; i++) out[i] = T[codes[i]];
    return out;
  }

  accumulate(p: NaturalPayload, _ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const codes = p.codes;
    const T = NATURAL_VALUES;
    const n = p.d;
    for (let i = 0; i < n; i++) out[i] += a * T[codes[i]];
    return out;
  }

  encode(p: NaturalPayload): Uint8Array {
    const bytes = new Uint8Array(bytesFor(p.bits));
    const kernels = this.simd ? simdKernels() : null;
    if (kernels) kernels.pack(p.codes, p.d, 9, bytes, 0);
    else packCodes(p.codes, p.d, 9, bytes, 0);
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): NaturalPayload {
    expectDimension(d, this.spec);
    const bits = 9 * d;
    expectLength(bytes, bits, this.spec);
    expectZeroPadding(bytes, bits, this.spec);
    const codes = this.pool.take(Uint16Array, d); // every code is written below; `release` recycles it
    const kernels = this.simd ? simdKernels() : null;
    // The kernel flags an exponent field of 255 (vmask 255, vmax 254); the loop below names it.
    const bad = kernels ? kernels.unpack(bytes, 0, d, 9, codes, 255, 254) : (unpackCodes(bytes, 0, d, 9, codes), true);
    for (let i = 0; bad && i < d; i++) {
      if ((codes[i] & 255) === 255) throw new PayloadError('range', `natural.codes[${i}]: exponent 255 is not a valid code`);
    }
    return { codec: 'natural', d, bits, codes };
  }
}

/**
 * Float32 input: each element compares its 16 random bits (the scheme of lanes.ts) with its top 16
 * mantissa bits; a tie (probability 2^−16) is settled after the loop, in order, by one more word
 * from `ctx.local` whose top 7 bits are compared with the low 7 mantissa bits, so that
 * P(up) = mantissa/2^23 exactly. The WebAssembly kernel and the plain-JS loop give the same codes.
 */
function compressF32(x: Float32Array, ctx: CompressContext, codes: Uint16Array, simd: boolean): void {
  const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
  const seed = laneSeed(ctx.local);
  const ties: number[] = [];
  const kernels = simd ? simdKernels() : null;
  const bad = kernels ? kernels.natural(x, seed, codes, ties) : naturalJs(bits, seed, codes, ties);
  const g = ctx.local;
  for (const i of ties) codes[i] += g.nextU32() >>> 25 < (bits[i] & 0x7f) ? 1 : 0;
  if (bad) {
    for (let i = 0; i < x.length; i++) if ((bits[i] & 0x7fffffff) > 0x7f000000) rejectValue(x[i], i, 'natural');
  }
}

/** The plain-JS loop of compressF32 (before ties); true if some |x_i| is beyond 2^127 or not finite. */
function naturalJs(bits: Int32Array, seed: Int32Array, codes: Uint16Array, ties: number[]): boolean {
  const lanes = new LaneBits(seed);
  const r16 = new Int32Array(8);
  const n = bits.length;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    if ((i & 7) === 0) lanes.next8(r16);
    const b = bits[i];
    // |b| above 2^127's bits (0x7f000000) is unrepresentable: remember it without a branch.
    bad |= 0x7f000000 - (b & 0x7fffffff);
    const r = r16[i & 7];
    const m = (b >>> 7) & 0xffff;
    // sign·256 + exponent, plus one (the next power of two) when the draw is below the mantissa
    codes[i] = (b >>> 23) + (r < m ? 1 : 0);
    if (r === m) ties.push(i);
  }
  return bad < 0;
}

/**
 * Float64 input, the same scheme with a 52-bit threshold P (up when 52 uniform bits are below it,
 * so P(up) = P/2^52): the mantissa for |x| ≥ 2^−126 (exact), ⌊|x|·2^126·2^52⌋ below (rounding to
 * 0 or 2^−126; unbiased up to 2^−178 absolute). The element's 16 lane bits meet P's top 16; a tie
 * takes one word from `ctx.local` against P's next 32 bits and, on equality again, 4 more bits
 * against its last 4.
 */
function compressF64(x: Float64Array, ctx: CompressContext, codes: Uint16Array, simd: boolean): void {
  const seed = laneSeed(ctx.local);
  const ties: number[] = [];
  const kernels = simd ? simdKernels() : null;
  const bad = kernels ? kernels.natural(x, seed, codes, ties) : naturalF64Js(x, seed, codes, ties);
  if (bad) {
    for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i]) <= TWO_127)) rejectValue(x[i], i, 'natural');
  }
  const g = ctx.local;
  for (const i of ties) {
    const P = threshold52(x[i]);
    const mid = Math.floor(P / 16) % 4294967296; // P's bits 4 … 35
    const w = g.nextU32();
    if (w < mid || (w === mid && g.nextU32() >>> 28 < P % 16)) codes[i] += 1;
  }
}

const scratch = new Float64Array(1);
const scratchWords = new Uint32Array(scratch.buffer);

/** P = ⌊P(up)·2^52⌋ of a float64 value within range (see compressF64). */
function threshold52(v: number): number {
  const a = Math.abs(v);
  if (a < TWO_M126) return Math.floor(a * 2 ** 178);
  scratch[0] = a;
  const hi = scratchWords[LITTLE_ENDIAN ? 1 : 0];
  const lo = scratchWords[LITTLE_ENDIAN ? 0 : 1];
  return (hi & 0xfffff) * 4294967296 + lo; // the 52 mantissa bits
}

/** The plain-JS loop of compressF64 (before ties); true if some |x_i| > 2^127 or is NaN. */
function naturalF64Js(x: Float64Array, seed: Int32Array, codes: Uint16Array, ties: number[]): boolean {
  const words = new Uint32Array(x.buffer, x.byteOffset, 2 * x.length);
  const hiOff = LITTLE_ENDIAN ? 1 : 0;
  const lanes = new LaneBits(seed);
  const r16 = new Int32Array(8);
  const n = x.length;
  let bad = false;
  for (let i = 0; i < n; i++) {
    if ((i & 7) === 0) lanes.next8(r16);
    const hi = words[2 * i + hiOff];
    const e = ((hi >>> 20) & 0x7ff) - 896; // float32-biased exponent
    const base = ((hi >>> 31) << 8) + Math.max(e, 0);
    const p16 = e > 0 ? (hi >>> 4) & 0xffff : Math.floor(Math.abs(x[i]) * 2 ** 142);
    if (!(Math.abs(x[i]) <= TWO_127)) bad = true;
    const r = r16[i & 7];
    codes[i] = base + (r < p16 ? 1 : 0);
    if (r === p16) ties.push(i);
  }
  return bad;
}

export function natural(opts: NaturalOptions = {}): NaturalCompressor {
  return new NaturalCompressor(opts);
}

import { PayloadError } from '../errors.js';
import { BitReader, BitWriter, bytesFor, expectDimension, expectLength, float32Up } from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue, type FixedRateCompressor } from './checks.js';
import { LaneBits, laneSeed } from './lanes.js';
import { simdKernels } from './wasm/simd.js';
import { ArrayPool } from './pool.js';
import type { CompressContext, CompressorConstants, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/**
 * 8-bit blockwise quantization: per block of B values, scale = max|z| (rounded up to float32) and
 * codes c ∈ [−127, 127] with value scale·c/127.
 *
 * - round-to-nearest: contractive. Each element errs by at most scale/254 and ‖z_block‖² ≥ scale²
 *   (up to float32 rounding of the scale), so E‖C(z) − z‖² ≤ (B/(4·127²))‖z‖²: 1 − 1/δ = B/64516.
 * - stochastic rounding: unbiased. Per-element variance ≤ (scale/127)²/4, so q = 1 + B/64516.
 * (Both bounds carry a 2^−20 relative margin for the float32 rounding of the scale.)
 *
 * Wire: ⌈d/B⌉ float32 scales, then d int8 codes: 32⌈d/B⌉ + 8d bits.
 */
export interface Int8Payload extends Payload {
  readonly codec: string;
  readonly scales: Float32Array;
  readonly codes: Int8Array;
}

export interface Int8Options {
  /** Block size B in [1, 32768]. */
  readonly block: number;
  readonly stochastic: boolean;
  /** Use the WebAssembly SIMD kernel where available and B is a multiple of 8 (default); false: the plain-JS loop (same codes). */
  readonly simd?: boolean;
}

const MARGIN = 1 + 2 ** -20;

export class Int8Compressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind: 'unbiased' | 'contractive';
  readonly block: number;
  readonly stochastic: boolean;
  private readonly simd: boolean;

  constructor(opts: Int8Options) {
    if (!Number.isInteger(opts.block) || opts.block < 1 || opts.block > 32768) {
      throw new RangeError(`int8: block must be an integer in [1, 32768], got ${opts.block}`);
    }
    this.block = opts.block;
    this.stochastic = opts.stochastic;
    this.simd = opts.simd ?? true;
    this.kind = opts.stochastic ? 'unbiased' : 'contractive';
    this.spec = `int8:block=${opts.block}${opts.stochastic ? ',stochastic' : ''}`;
  }

  private readonly pool = new ArrayPool();

  release(p: Int8Payload): void {
    this.pool.give(p.scales);
    this.pool.give(p.codes);
  }

  blocks(d: number): number {
    return Math.ceil(d / this.block);
  }

  payloadBits(d: number): number {
    return 32 * this.blocks(d) + 8 * d;
  }

  /**
   * Worst case over every draw, per block b of B' = min(B, d) values with scale S ≤ max|z_b|·MARGIN
   * ≤ ‖z_b‖·MARGIN: each element errs by at most S/254 (nearest) or S/127 (stochastic), so
   * ‖out_b‖ ≤ ‖z_b‖ + √B'·S/127; and |out_i| ≤ S, so ‖out_b‖ ≤ √B'·S. The gain of every block
   * bounds the whole vector's.
   */
  maxGain(d: number, _devices: number): number {
    const b = Math.sqrt(Math.max(1, Math.min(this.block, d)));
    return Math.min(b, 1 + b / 127) * MARGIN;
  }

  constants(d: number, devices: number): CompressorConstants {
    const b = Math.min(this.block, Math.max(d, 1));
    const eps = (b / 64516) * MARGIN;
    const beta = d === 0 ? 0 : this.payloadBits(d) / (32 * d);
    if (this.stochastic) return { kind: 'unbiased', q: 1 + eps, beta, ab: { A: eps / devices, B: 0 } };
    return { kind: 'contractive', delta: 1 / (1 - eps), beta };
  }

  compress(x: Vec, ctx: CompressContext): Int8Payload {
    const d = x.length;
    const B = this.block;
    const nb = this.blocks(d);
    const scales = this.pool.take(Float32Array, nb);
    const codes = this.pool.take(Int8Array, d);
    // Stochastic rounding draws as lanes.ts describes, element by element across blocks.
    const seed = this.stochastic ? laneSeed(ctx.local) : null;
    const ties: number[] = [];
    const kernels = this.simd && B % 8 === 0 ? simdKernels() : null;
    const bad = kernels ? kernels.int8(x, B, seed, scales, codes, ties) : int8Js(x, B, seed, scales, codes, ties);
    if (bad >= 0) {
      for (let i = bad * B; i < Math.min(d, bad * B + B); i++) if (!(Math.abs(x[i]) <= FLOAT32_MAX)) rejectValue(x[i], i, this.spec);
    }
    // Ties of F's top 16 bits: 15 more bits against F's low 15 (see int8Js).
    const g = ctx.local;
    for (const i of ties) {
      const F = fractionBits(x[i] * invOf(scales[Math.floor(i / B)]) + 128);
      if (g.nextU32() >>> 17 < (F & 0x7fff)) codes[i] = Math.min(127, codes[i] + 1);
    }
    return { codec: this.spec, d, bits: this.payloadBits(d), scales, codes };
  }

  decompress(p: Int8Payload, _ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const { scales, codes } = p;
    const B = this.block;
    const d = p.d;
    for (let b = 0, lo = 0; lo < d; b++, lo += B) {
      const m = scales[b] / 127;
      const hi = lo + B < d ? lo + B : d;
      for (let i = lo; i < hi; i++) out[i] = m * codes[i];
    }
    return out;
  }

  accumulate(p: Int8Payload, _ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const { scales, codes } = p;
    const B = this.block;
    const d = p.d;
    for (let b = 0, lo = 0; lo < d; b++, lo += B) {
      const m = (a * scales[b]) / 127;
      const hi = lo + B < d ? lo + B : d;
      for (let i = lo; i < hi; i++) out[i] += m * codes[i];
    }
    return out;
  }

  encode(p: Int8Payload): Uint8Array {
    const bytes = new Uint8Array(bytesFor(p.bits));
    new BitWriter(bytes).writeFloat32Array(p.scales);
    bytes.set(new Uint8Array(p.codes.buffer, p.codes.byteOffset, p.d), 4 * p.scales.length);
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): Int8Payload {
    expectDimension(d, this.spec);
    const bits = this.payloadBits(d);
    expectLength(bytes, bits, this.spec);
    const nb = this.blocks(d);
    const scales = new BitReader(bytes).readFiniteFloat32Array(nb, 'int8.scales');
    const codes = this.pool.take(Int8Array, d); // overwritten whole; `release` recycles it
    new Uint8Array(codes.buffer, codes.byteOffset, d).set(bytes.subarray(4 * nb, 4 * nb + d));
    if (plainlyValid(scales, codes)) return { codec: this.spec, d, bits, scales, codes };
    // Something is wrong: find the first offence, block by block.
    const B = this.block;
    for (let b = 0; b < nb; b++) {
      const s = scales[b];
      if (s < 0 || Object.is(s, -0)) throw new PayloadError('range', `int8.scales[${b}] must be ≥ 0, got ${s}`);
      const lo = b * B;
      const hi = Math.min(lo + B, d);
      for (let i = lo; i < hi; i++) {
        const c = codes[i];
        if (c === -128) throw new PayloadError('range', `int8.codes[${i}] = −128 is not a valid code`);
        if (s === 0 && c !== 0) throw new PayloadError('range', `int8.codes[${i}] must be 0 in a block with scale 0`);
      }
    }
    return { codec: this.spec, d, bits, scales, codes };
  }
}

const TWO_31 = 2 ** 31;

/**
 * True when no scale is negative, −0 or zero and no code is −128 (the common case, checked four
 * codes per step: a byte equal to 0x80 is a zero byte of w ^ 0x80808080). When false, decode's
 * block-by-block loop finds and names the offence (a zero scale is valid with all-zero codes).
 */
function plainlyValid(scales: Float32Array, codes: Int8Array): boolean {
  for (let b = 0; b < scales.length; b++) if (!(scales[b] > 0)) return false;
  const n = codes.length;
  const words = new Int32Array(codes.buffer, codes.byteOffset, n >>> 2);
  let hit = 0;
  for (let i = 0; i < words.length; i++) {
    const v = words[i] ^ 0x80808080;
    hit |= (v - 0x01010101) & ~v & 0x80808080;
  }
  for (let i = words.length << 2; i < n; i++) hit |= +(codes[i] === -128);
  return hit === 0;
}

/** max|x_i| over [lo, hi), NaN if any is NaN; four partial maxima keep four comparisons in flight. */
function blockMax(x: Vec, lo: number, hi: number): number {
  let m0 = 0;
  let m1 = 0;
  let m2 = 0;
  let m3 = 0;
  let i = lo;
  for (; i + 3 < hi; i += 4) {
    m0 = Math.max(m0, Math.abs(x[i]));
    m1 = Math.max(m1, Math.abs(x[i + 1]));
    m2 = Math.max(m2, Math.abs(x[i + 2]));
    m3 = Math.max(m3, Math.abs(x[i + 3]));
  }
  for (; i < hi; i++) m0 = Math.max(m0, Math.abs(x[i]));
  return Math.max(Math.max(m0, m1), Math.max(m2, m3));
}

/** 127/scale of a block, 0 for a block of zeros (whose codes are then all 0, stochastic or not). */
function invOf(scale: number): number {
  return scale === 0 ? 0 : 127 / scale;
}

/** ⌊frac(t)·2^31⌋ for t > 0. */
function fractionBits(t: number): number {
  return ((t - Math.floor(t)) * TWO_31) >>> 0;
}

/**
 * The plain-JS path, the same codes as the kernel (before ties): per block, scale = float32Up of
 * max|x_i| and y = x_i·127/scale. Round-to-nearest: c = trunc(y + 128.5) − 128 (half up; |y| ≤ 127
 * up to rounding, so c ∈ [−127, 127]). Stochastic: with t = y + 128 (positive), c = ⌊t⌋ − 128, plus
 * one when the element's 16 random bits are below the top 16 bits of F = ⌊frac(t)·2^31⌋, so
 * E c = y within 2^−31 of a step; on equality the position is recorded and settled with 15 more
 * bits. Clamped to [−127, 127] (only y = ±127 + rounding needs it). Returns −1, or the first block
 * whose maximum is not a finite float32.
 */
function int8Js(x: Vec, B: number, seed: Int32Array | null, scales: Float32Array, codes: Int8Array, ties: number[]): number {
  const d = x.length;
  const lanes = seed ? new LaneBits(seed) : null;
  const r16 = new Int32Array(8);
  for (let b = 0, lo = 0; lo < d; b++, lo += B) {
    const hi = Math.min(lo + B, d);
    const max = blockMax(x, lo, hi);
    if (!(max <= FLOAT32_MAX)) return b;
    const scale = max === 0 ? 0 : float32Up(max);
    scales[b] = scale;
    const inv = invOf(scale);
    for (let i = lo; i < hi; i++) {
      const y = x[i] * inv;
      if (!lanes) {
        codes[i] = Math.trunc(y + 128.5) - 128;
        continue;
      }
      if ((i & 7) === 0) lanes.next8(r16);
      const t = y + 128;
      const F = fractionBits(t) >>> 15;
      const r = r16[i & 7];
      codes[i] = Math.min(127, Math.max(-127, Math.floor(t) - 128 + (r < F ? 1 : 0)));
      if (r === F) ties.push(i);
    }
  }
  return -1;
}

export function int8(opts: Int8Options = { block: 256, stochastic: false }): Int8Compressor {
  return new Int8Compressor(opts);
}

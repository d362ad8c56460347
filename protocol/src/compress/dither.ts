import { PayloadError, ValidationError } from '../errors.js';
import { BitReader, BitWriter, bytesFor, ceilLog2, expectDimension, expectLength, expectZeroPadding, float32Up, packCodes, unpackCodes } from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue, type FixedRateCompressor } from './checks.js';
import { LaneBits, laneSeed } from './lanes.js';
import { simdKernels } from './wasm/simd.js';
import { ArrayPool } from './pool.js';
import type { CompressContext, CompressorConstants, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Natural dithering D_nat^{p,s} (Horváth et al.): levels 1, 1/2, …, 2^(1−s), 0. Each
 * u_i = |z_i|/‖z‖_p is rounded stochastically to its two neighbouring levels (unbiasedly), and the
 * output is ‖z‖_p·sign(z_i)·level. Unbiased with q = 1 + 1/8 + d^(1/r)2^(1−s)·min(1, d^(1/r)2^(1−s)),
 * r = min(p, 2). Wire: the norm as float32 (rounded up, so that u_i ≤ 1 stays exact), then one code
 * per element of 1 + ⌈log2(s+1)⌉ bits: level index j ∈ [0, s] (level 2^−j, j = s is 0) in the low
 * bits, the sign above it.
 *
 * The rounding probability is compared with a 31-bit uniform draw (16 bits per element as
 * lanes.ts describes, 15 more on a tie), so each element is unbiased up to 2^−31 of a level gap.
 */
export interface DitherPayload extends Payload {
  readonly codec: string;
  /** ‖z‖_p rounded up to float32. */
  readonly norm: number;
  /** Per element: level index j in the low bits, sign in bit ⌈log2(s+1)⌉. */
  readonly codes: Uint8Array;
}

export interface DitherOptions {
  /** Norm exponent p ≥ 1, or Infinity. */
  readonly p: number;
  /** Number of non-zero levels, 1 ≤ s ≤ 32. */
  readonly s: number;
  /** Use the WebAssembly SIMD kernel where available (default); false: the plain-JS loop (same codes). */
  readonly simd?: boolean;
}

const TWO_31 = 2 ** 31;

export class DitherCompressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind = 'unbiased' as const;
  readonly p: number;
  readonly s: number;
  /** Bits of the level index. */
  private readonly levelBits: number;
  private readonly simd: boolean;
  /** Decoded level per code (sign included), for a unit norm. */
  private readonly levels: Float64Array;

  constructor(opts: DitherOptions) {
    const { p, s } = opts;
    if (!(p >= 1)) throw new RangeError(`dither: p must be ≥ 1 or inf, got ${p}`);
    if (!Number.isInteger(s) || s < 1 || s > 32) throw new RangeError(`dither: s must be an integer in [1, 32], got ${s}`);
    this.p = p;
    this.s = s;
    this.spec = `dither:p=${p === Infinity ? 'inf' : p},s=${s}`;
    this.levelBits = ceilLog2(s + 1);
    this.simd = opts.simd ?? true;
    const codesN = 1 << (this.levelBits + 1);
    this.levels = new Float64Array(codesN).fill(Number.NaN);
    for (let j = 0; j <= s; j++) {
      const level = j === s ? 0 : 2 ** -j;
      this.levels[j] = level;
      this.levels[j | (1 << this.levelBits)] = -level;
    }
  }

  private readonly pool = new ArrayPool();

  release(p: DitherPayload): void {
    this.pool.give(p.codes);
  }

  /** 1 + ⌈log2(s+1)⌉ bits per element. */
  get bitsPerElement(): number {
    return 1 + this.levelBits;
  }

  payloadBits(d: number): number {
    return 32 + this.bitsPerElement * d;
  }

  constants(d: number, devices: number): CompressorConstants {
    const r = Math.min(this.p, 2);
    const t = Math.max(d, 1) ** (1 / r) * 2 ** (1 - this.s);
    const q = 1 + 1 / 8 + t * Math.min(1, t);
    return { kind: 'unbiased', q, beta: d === 0 ? 0 : this.payloadBits(d) / (32 * d), ab: { A: (q - 1) / devices, B: 0 } };
  }

  /**
   * Worst case over every draw. The norm N travels rounded up (≤ ‖z‖_p·(1 + 2^−23), and ≥ max|z_i|),
   * so u_i = |z_i|/N ≤ 1 and each level is at most 1: ‖out‖ ≤ √d·N. A u_i at or above the lowest
   * level 2^(1−s) rounds up to at most 2u_i (levels are powers of two), a smaller one to at most
   * 2^(1−s): |out_i| ≤ 2|z_i| + N·2^(1−s), so ‖out‖ ≤ 2‖z‖ + √d·2^(1−s)·N. And ‖z‖_p ≤ P‖z‖₂ with
   * P = 1 for p ≥ 2, d^(1/p − 1/2) for 1 ≤ p < 2 (Hölder).
   */
  maxGain(d: number, _devices: number): number {
    const n = Math.max(d, 1);
    const P = Math.max(1, this.p >= 2 ? 1 : n ** (1 / this.p - 1 / 2)) * (1 + 2 ** -22);
    return Math.min(Math.sqrt(n) * P, 2 + Math.sqrt(n) * 2 ** (1 - this.s) * P);
  }

  /**
   * ‖x‖_p in float64, and max|x_i|; rejects values outside the float32 range. (p = 2 comes here
   * only when the one-pass sum of squares could underflow: the sum is then taken scaled by 1/max.)
   */
  private normOf(x: Vec): { norm: number; max: number } {
    const n = x.length;
    const p = this.p;
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(x[i])); // NaN sticks
    if (!(max <= FLOAT32_MAX)) {
      for (let i = 0; i < n; i++) if (!(Math.abs(x[i]) <= FLOAT32_MAX)) rejectValue(x[i], i, this.spec);
    }
    if (p === Infinity || max === 0) return { norm: max, max };
    let s = 0;
    if (p === 1) {
      for (let i = 0; i < n; i++) s += Math.abs(x[i]);
      return { norm: s, max };
    }
    const inv = 1 / max;
    for (let i = 0; i < n; i++) s += Math.abs(x[i] * inv) ** p;
    return { norm: max * s ** (1 / p), max };
  }

  compress(x: Vec, ctx: CompressContext): DitherPayload {
    const d = x.length;
    const kernels = this.simd ? simdKernels() : null;
    let exact = -1;
    let max = -1;
    if (this.p === 2) {
      // One pass for Σ z_i² and max|z_i|; squares of float32-range values neither overflow nor,
      // above the threshold, underflow (otherwise normOf rescales).
      const one = kernels ? kernels.sumSquares(x) : sumSquares(x);
      if (one.max <= FLOAT32_MAX && one.sum < Infinity && one.sum > 1e-280) {
        exact = Math.sqrt(one.sum);
        max = one.max;
      }
    }
    if (exact < 0) ({ norm: exact, max } = this.normOf(x));
    // Round the norm up to float32 and never below max|z_i|, so that every u_i = |z_i|/norm ≤ 1.
    const norm = exact === 0 ? 0 : float32Up(Math.max(exact, max));
    if (!(norm <= FLOAT32_MAX)) throw new ValidationError('x', `${this.spec}: ‖x‖_p = ${exact} exceeds the float32 range`);
    const codes = this.pool.take(Uint8Array, d);
    if (norm === 0) codes.fill(0);
    else {
      const s = this.s;
      const k = 2 ** (s - 1) / norm;
      const signBit = 1 << this.levelBits;
      const seed = laneSeed(ctx.local);
      const ties: number[] = [];
      if (kernels) kernels.dither(x, seed, k, s, signBit, codes, ties);
      else ditherJs(x, seed, k, s, signBit, codes, ties);
      // A tie: round up (index − 1) when 15 more bits are below the low 15 bits of P.
      const cap = 2 ** (s - 1);
      const g = ctx.local;
      for (const i of ties) if (g.nextU32() >>> 17 < (thresholdOf(Math.min(Math.abs(x[i]) * k, cap)) & 0x7fff)) codes[i] -= 1;
    }
    return { codec: this.spec, d, bits: this.payloadBits(d), norm, codes };
  }

  decompress(p: DitherPayload, _ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const codes = p.codes;
    const L = this.levels;
    const norm = p.norm;
    const n = p.d;
    for (let i = 0; i < n; i++) out[i] = norm * L[codes[i]];
    return out;
  }

  accumulate(p: DitherPayload, _ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const codes = p.codes;
    const L = this.levels;
    const an = a * p.norm;
    const n = p.d;
    for (let i = 0; i < n; i++) out[i] += an * L[codes[i]];
    return out;
  }

  encode(p: DitherPayload): Uint8Array {
    const bytes = new Uint8Array(bytesFor(p.bits));
    new BitWriter(bytes).writeFloat32(p.norm);
    const kernels = this.simd ? simdKernels() : null;
    if (kernels) kernels.pack(p.codes, p.d, this.bitsPerElement, bytes, 4);
    else packCodes(p.codes, p.d, this.bitsPerElement, bytes, 32);
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): DitherPayload {
    expectDimension(d, this.spec);
    const bits = this.payloadBits(d);
    expectLength(bytes, bits, this.spec);
    expectZeroPadding(bytes, bits, this.spec);
    const norm = new BitReader(bytes).readFiniteFloat32('dither.norm');
    if (norm < 0 || Object.is(norm, -0)) throw new PayloadError('range', `dither.norm must be ≥ 0, got ${norm}`);
    const codes = this.pool.take(Uint8Array, d); // every code is written below; `release` recycles it
    const mask = (1 << this.levelBits) - 1;
    const kernels = this.simd ? simdKernels() : null;
    // The kernel flags a level index above s; the loop below names it.
    const bad = kernels ? kernels.unpack(bytes, 4, d, this.bitsPerElement, codes, mask, this.s) : (unpackCodes(bytes, 32, d, this.bitsPerElement, codes), true);
    for (let i = 0; bad && i < d; i++) {
      if ((codes[i] & mask) > this.s) throw new PayloadError('range', `dither.codes[${i}]: level index ${codes[i] & mask} > s = ${this.s}`);
    }
    return { codec: this.spec, d, bits, norm, codes };
  }
}

/** Σ x_i² and max|x_i| exactly as the SIMD kernel computes them (partial sums over i mod 8). */
function sumSquares(x: Vec): { sum: number; max: number } {
  const n = x.length;
  const part = new Float64Array(8);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    part[i & 7] += v * v;
    m = Math.max(m, Math.abs(v));
  }
  return { sum: part[0] + part[1] + (part[2] + part[3]) + (part[4] + part[5] + (part[6] + part[7])), max: m };
}

/**
 * The level index before rounding up, for t = min(|z_i|·2^(s−1)/norm, 2^(s−1)) (|z_i|/norm in
 * units of the smallest non-zero level): s (the zero level) below 1, else s − 1 − ⌊log2 t⌋.
 */
function indexOf(t: number, s: number): number {
  return t < 1 ? s : s - 1 - (31 - Math.clz32(t >>> 0));
}

/**
 * P = ⌊P(round up)·2^31⌋: t itself below 1 (between the levels 0 and 1), else the fraction f of
 * t = 2^E(1 + f) (between the levels 2^E and 2^(E+1)).
 */
function thresholdOf(t: number): number {
  if (t < 1) return (t * TWO_31) >>> 0;
  const e = 31 - Math.clz32(t >>> 0);
  return ((t / 2 ** e - 1) * TWO_31) >>> 0;
}

/** The plain-JS loop of the kernel (before ties): per element, 16 random bits against P's top 16. */
function ditherJs(x: Vec, seed: Int32Array, k: number, s: number, signBit: number, codes: Uint8Array, ties: number[]): void {
  const lanes = new LaneBits(seed);
  const r16 = new Int32Array(8);
  const cap = 2 ** (s - 1);
  const n = x.length;
  for (let i = 0; i < n; i++) {
    if ((i & 7) === 0) lanes.next8(r16);
    const v = x[i];
    const t = Math.min(Math.abs(v) * k, cap);
    const P = thresholdOf(t) >>> 15;
    const r = r16[i & 7];
    // the sign bit of z_i (−0 included)
    codes[i] = (indexOf(t, s) - (r < P ? 1 : 0)) | (v < 0 || (v === 0 && 1 / v < 0) ? signBit : 0);
    if (r === P) ties.push(i);
  }
}

export function dither(opts: DitherOptions = { p: 2, s: 8 }): DitherCompressor {
  return new DitherCompressor(opts);
}

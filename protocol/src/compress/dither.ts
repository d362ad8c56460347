import { PayloadError } from '../errors.js';
import {
  BitReader,
  BitWriter,
  bytesFor,
  ceilLog2,
  expectDimension,
  expectLength,
  expectZeroPadding,
  float32Up,
  packCodes,
  unpackCodes,
} from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue, type FixedRateCompressor } from './checks.js';
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
 * The rounding probability is compared with a 32-bit uniform draw, so each element is unbiased up
 * to 2^−32 of a level gap.
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
}

const TWO_31 = 2 ** 31;
const TWO_M32 = 2 ** -32;

export class DitherCompressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind = 'unbiased' as const;
  readonly p: number;
  readonly s: number;
  /** Bits of the level index. */
  private readonly levelBits: number;
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
    const codesN = 1 << (this.levelBits + 1);
    this.levels = new Float64Array(codesN).fill(Number.NaN);
    for (let j = 0; j <= s; j++) {
      const level = j === s ? 0 : 2 ** -j;
      this.levels[j] = level;
      this.levels[j | (1 << this.levelBits)] = -level;
    }
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

  /** ‖x‖_p in float64 (no overflow for float32-range inputs). */
  private normOf(x: Vec): number {
    const n = x.length;
    const p = this.p;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(x[i]);
      if (!(a <= FLOAT32_MAX)) rejectValue(x[i], i, this.spec);
      if (a > max) max = a;
    }
    if (p === Infinity || max === 0) return max;
    let s = 0;
    if (p === 2) {
      const inv = 1 / max;
      for (let i = 0; i < n; i++) {
        const v = x[i] * inv;
        s += v * v;
      }
      return max * Math.sqrt(s);
    }
    if (p === 1) {
      for (let i = 0; i < n; i++) s += Math.abs(x[i]);
      return s;
    }
    const inv = 1 / max;
    for (let i = 0; i < n; i++) s += Math.abs(x[i] * inv) ** p;
    return max * s ** (1 / p);
  }

  compress(x: Vec, ctx: CompressContext): DitherPayload {
    const d = x.length;
    const exact = this.normOf(x);
    // ‖z‖_p ≥ max|z_i|: guard rounding of the norm computation, then round up to float32.
    const norm = exact === 0 ? 0 : float32Up(exact);
    if (!(norm <= FLOAT32_MAX)) rejectValue(exact, -1, this.spec);
    const codes = new Uint8Array(d);
    if (norm > 0) this.quantize(x, norm, ctx, codes);
    return { codec: this.spec, d, bits: this.payloadBits(d), norm, codes };
  }

  private quantize(x: Vec, norm: number, ctx: CompressContext, codes: Uint8Array): void {
    const rng = ctx.local;
    const s = this.s;
    const signBit = 1 << this.levelBits;
    const minLevel = 2 ** (1 - s);
    const invMin = 2 ** (s - 1);
    const inv = 1 / norm;
    const n = x.length;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      let u = (v < 0 ? -v : v) * inv;
      if (u > 1) u = 1; // only a rounding of inv can push it above 1
      const r = rng.nextU32() * TWO_M32;
      let j: number;
      if (u >= minLevel) {
        // lower neighbour 2^−jl with jl = floor(−log2 u) = clz32(floor(u·2^31)).
        const jl = Math.clz32((u * TWO_31) >>> 0);
        const pUp = u * (2 ** jl) - 1; // (u − 2^−jl) / 2^−jl
        j = r < pUp ? jl - 1 : jl;
      } else {
        j = r < u * invMin ? s - 1 : s;
      }
      codes[i] = v < 0 ? j | signBit : j;
    }
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
    packCodes(p.codes, p.d, this.bitsPerElement, bytes, 32);
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): DitherPayload {
    expectDimension(d, this.spec);
    const bits = this.payloadBits(d);
    expectLength(bytes, bits, this.spec);
    expectZeroPadding(bytes, bits, this.spec);
    const norm = new BitReader(bytes).readFiniteFloat32('dither.norm');
    if (norm < 0 || Object.is(norm, -0)) throw new PayloadError('range', `dither.norm must be ≥ 0, got ${norm}`);
    const codes = unpackCodes(bytes, 32, d, this.bitsPerElement, new Uint8Array(d));
    const mask = (1 << this.levelBits) - 1;
    for (let i = 0; i < d; i++) {
      if ((codes[i] & mask) > this.s) throw new PayloadError('range', `dither.codes[${i}]: level index ${codes[i] & mask} > s = ${this.s}`);
    }
    return { codec: this.spec, d, bits, norm, codes };
  }
}

export function dither(opts: DitherOptions = { p: 2, s: 8 }): DitherCompressor {
  return new DitherCompressor(opts);
}

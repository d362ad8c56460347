import { PayloadError, ValidationError } from '../errors.js';
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
import { hotSeed } from './hotrng.js';
import { Rng } from '../rng/xoshiro128.js';
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
 * The rounding probability is compared with a 31-bit uniform draw (16 bits per element, 15 more on
 * a tie), so each element is unbiased up to 2^−31 of a level gap.
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

export class DitherCompressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind = 'unbiased' as const;
  readonly p: number;
  readonly s: number;
  /** Bits of the level index. */
  private readonly levelBits: number;
  /** Lower neighbour level for jl = min(floor(−log2 u), s), and 2^31 / (gap to the upper one). */
  private readonly low: Float64Array;
  private readonly gapInv31: Float64Array;
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
    this.low = Float64Array.from({ length: s + 1 }, (_, j) => (j < s ? 2 ** -j : 0));
    this.gapInv31 = Float64Array.from({ length: s + 1 }, (_, j) => (j < s ? 2 ** j : 2 ** (s - 1)) * TWO_31);
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

  /** ‖x‖_p in float64, and max|x_i|; rejects values outside the float32 range. */
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
    if (p === 2 && max > 1e-140) {
      // unscaled: squares of float32-range values cannot overflow, and do not underflow here
      for (let i = 0; i < n; i++) {
        const v = x[i];
        s += v * v;
      }
      return { norm: Math.sqrt(s), max };
    }
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
    let exact = -1;
    let max = -1; // unknown
    if (this.p === 2 && x instanceof Float32Array) {
      // One pass: a finite sum of squares means every value is finite (float32 squares cannot
      // overflow), and sqrt(Σ v²) ≥ max|v| holds exactly (v² is exact in float64, and adding
      // non-negative terms never rounds below the largest), so max|v| is not needed here. Four
      // partial sums keep four additions in flight instead of waiting on one chain.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      const d4 = d & ~3;
      for (let i = 0; i < d4; i += 4) {
        const a = x[i];
        const b = x[i + 1];
        const c = x[i + 2];
        const e = x[i + 3];
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += e * e;
      }
      for (let i = d4; i < d; i++) s0 += x[i] * x[i];
      const sum = s0 + s1 + (s2 + s3);
      if (sum < Infinity && sum > 1e-280) exact = Math.sqrt(sum);
    }
    if (exact < 0) ({ norm: exact, max } = this.normOf(x));
    // Round the norm up to float32 and never below max|z_i|, so that every u_i = |z_i|/norm ≤ 1.
    const norm = exact === 0 ? 0 : float32Up(Math.max(exact, max));
    if (!(norm <= FLOAT32_MAX)) throw new ValidationError('x', `${this.spec}: ‖x‖_p = ${exact} exceeds the float32 range`);
    const codes = this.pool.take(Uint8Array, d);
    if (norm === 0) codes.fill(0);
    // Usual for large d: every u_i below the smallest non-zero level, a loop with one case only.
    // It reports whether that held (max|z_i| is unknown on the float32 path); the general loop
    // redoes the work (from fresh draws) if not.
    else if (max < 0 || max / norm < 2 ** (1 - this.s)) {
      if (!this.quantizeLow(x, norm, ctx, codes)) this.quantize(x, norm, ctx, codes);
    } else this.quantize(x, norm, ctx, codes);
    return { codec: this.spec, d, bits: this.payloadBits(d), norm, codes };
  }

  /**
   * u_i ∈ [0, 1] → level index j: with jl = min(floor(−log2 u), s) the lower neighbour is
   * LOW[jl] (2^−jl, or 0 for jl = s) and the gap to the upper one 1/GAP_INV[jl]; round up (j = jl−1)
   * with probability p = (u − LOW[jl])·GAP_INV[jl], i.e. when a uniform 31-bit R is below
   * P = ⌊p·2^31⌋ (so p is honoured within 2^−31). One 32-bit draw serves two elements: each compares
   * 16 random bits with the top 16 bits of P, decided without a branch by the sign of their
   * difference; on equality (probability 2^−16) the position is recorded and settled after the loop
   * by `settleTies` with 15 more bits against P's low 15 — together exactly R < P.
   */
  private quantize(x: Vec, norm: number, ctx: CompressContext, codes: Uint8Array): void {
    const s = this.s;
    const signShift = this.levelBits;
    const low = this.low;
    const gapInv = this.gapInv31;
    const inv = 1 / norm;
    // Below the smallest non-zero level (u < 2^(1−s), the bulk of a large vector) the level is s
    // and P = u·2^(s−1)·2^31 directly; only the larger entries take the general formula.
    const scale31 = (2 ** (s - 1) * TWO_31) / norm;
    const n = x.length;
    const seed = hotSeed(ctx.local);
    let s0 = seed[0];
    let s1 = seed[1];
    let s2 = seed[2];
    let s3 = seed[3];
    const ties: number[] = [];
    for (let i = 0; i < n; i += 2) {
      // xoshiro128** step (see hotrng.ts)
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const t = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ t;
      s3 = (n3 << 11) | (n3 >>> 21);
      const v = x[i];
      const q = Math.abs(v) * scale31;
      let P: number;
      let jl = s;
      if (q < TWO_31) P = q >>> 15;
      else {
        const u = unitOf(v, inv);
        jl = levelOf(u, s);
        P = upperThreshold(u, jl, low, gapInv) >>> 15;
      }
      const ra = r >>> 16;
      codes[i] = (jl - ((ra - P) >>> 31)) | (+(v < 0) << signShift);
      if (ra === P) ties.push(i);
      if (i + 1 === n) break;
      const w = x[i + 1];
      const qw = Math.abs(w) * scale31;
      let Pw: number;
      let jw = s;
      if (qw < TWO_31) Pw = qw >>> 15;
      else {
        const u = unitOf(w, inv);
        jw = levelOf(u, s);
        Pw = upperThreshold(u, jw, low, gapInv) >>> 15;
      }
      const rb = r & 0xffff;
      codes[i + 1] = (jw - ((rb - Pw) >>> 31)) | (+(w < 0) << signShift);
      if (rb === Pw) ties.push(i + 1);
    }
    if (ties.length > 0) settleTies(ties, new Rng(s0, s1, s2, s3), 15, codes, x, scale31, inv, s, low, gapInv);
  }

  /**
   * quantize() when every u_i < 2^(1−s): j = s or s − 1 with p = u·2^(s−1), P = ⌊p·2^31⌋. One
   * 32-bit draw serves four elements (8 bits each against P's top 8; ties, about 1 in 256, are
   * settled after the loop with 23 more bits against P's low 23 — together exactly R < P); a tail
   * of n mod 4 elements takes 31 bits each after the loop. False (codes unusable) if some u_i was
   * not below the level after all.
   */
  private quantizeLow(x: Vec, norm: number, ctx: CompressContext, codes: Uint8Array): boolean {
    const s = this.s;
    const signShift = this.levelBits;
    const scale31 = (2 ** (s - 1) * TWO_31) / norm;
    const scale8 = scale31 * 2 ** -23; // P's top 8 bits
    const n = x.length;
    const seed = hotSeed(ctx.local);
    let s0 = seed[0];
    let s1 = seed[1];
    let s2 = seed[2];
    let s3 = seed[3];
    let over = 0;
    const ties: number[] = [];
    const quads = n & ~3;
    for (let i = 0; i < quads; i += 4) {
      // xoshiro128** step (see hotrng.ts)
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const t = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ t;
      s3 = (n3 << 11) | (n3 >>> 21);
      const a = x[i];
      const b = x[i + 1];
      const c = x[i + 2];
      const e = x[i + 3];
      const qa = Math.abs(a) * scale8; // < 2^8 while u < 2^(1−s)
      const qb = Math.abs(b) * scale8;
      const qc = Math.abs(c) * scale8;
      const qe = Math.abs(e) * scale8;
      over |= +(qa >= 256) | +(qb >= 256) | +(qc >= 256) | +(qe >= 256);
      const Pa = qa | 0;
      const Pb = qb | 0;
      const Pc = qc | 0;
      const Pe = qe | 0;
      const ra = r >>> 24;
      const rb = (r >>> 16) & 255;
      const rc = (r >>> 8) & 255;
      const re = r & 255;
      codes[i] = (s - ((ra - Pa) >>> 31)) | (+(a < 0) << signShift);
      codes[i + 1] = (s - ((rb - Pb) >>> 31)) | (+(b < 0) << signShift);
      codes[i + 2] = (s - ((rc - Pc) >>> 31)) | (+(c < 0) << signShift);
      codes[i + 3] = (s - ((re - Pe) >>> 31)) | (+(e < 0) << signShift);
      if (ra === Pa) ties.push(i);
      if (rb === Pb) ties.push(i + 1);
      if (rc === Pc) ties.push(i + 2);
      if (re === Pe) ties.push(i + 3);
    }
    const g = new Rng(s0, s1, s2, s3);
    for (let i = quads; i < n; i++) {
      const v = x[i];
      const q = Math.abs(v) * scale31;
      over |= +(q >= TWO_31);
      codes[i] = (s - (((g.nextU32() >>> 1) - (q | 0)) >>> 31)) | (+(v < 0) << signShift);
    }
    if (over !== 0) return false;
    if (ties.length > 0) settleTies(ties, g, 23, codes, x, scale31, 1 / norm, s, this.low, this.gapInv31);
    return true;
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

/**
 * Tied elements (the draw's top bits equal to P's top bits), in order: round up, i.e. decrement the
 * level index, when `lowBits` more random bits are below P's low `lowBits` bits. P as in
 * `quantize` (the one-case loop's P is the same expression, since all its entries are below the
 * smallest level).
 */
function settleTies(
  ties: readonly number[],
  g: Rng,
  lowBits: number,
  codes: Uint8Array,
  x: Vec,
  scale31: number,
  inv: number,
  s: number,
  low: Float64Array,
  gapInv: Float64Array,
): void {
  const mask = (1 << lowBits) - 1;
  const shift = 32 - lowBits;
  for (let t = 0; t < ties.length; t++) {
    const i = ties[t];
    const q = Math.abs(x[i]) * scale31;
    let P = q;
    if (q >= TWO_31) {
      const u = unitOf(x[i], inv);
      P = upperThreshold(u, levelOf(u, s), low, gapInv);
    }
    if (g.nextU32() >>> shift < ((P | 0) & mask)) codes[i] -= 1;
  }
}

/**
 * The general formula of `quantize`, for entries at or above the smallest non-zero level (rare in a
 * large vector, so kept out of its loop): u = |v|/norm, its level index jl = min(⌊−log2 u⌋, s),
 * and P(round up)·2^31 = (u − LOW[jl])·GAP_INV[jl].
 */
function unitOf(v: number, inv: number): number {
  return Math.min(Math.abs(v) * inv, 1); // only a rounding of inv can push it above 1
}
function levelOf(u: number, s: number): number {
  return Math.min(Math.clz32((u * TWO_31) >>> 0), s);
}
function upperThreshold(u: number, jl: number, low: Float64Array, gapInv: Float64Array): number {
  return (u - low[jl]) * gapInv[jl];
}

export function dither(opts: DitherOptions = { p: 2, s: 8 }): DitherCompressor {
  return new DitherCompressor(opts);
}

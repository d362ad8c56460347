import { PayloadError } from '../errors.js';
import { BitReader, BitWriter, bytesFor, expectDimension, expectLength, float32Up } from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue, type FixedRateCompressor } from './checks.js';
import { hotSeed } from './hotrng.js';
import { Rng } from '../rng/xoshiro128.js';
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
}

const MARGIN = 1 + 2 ** -20;

export class Int8Compressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind: 'unbiased' | 'contractive';
  readonly block: number;
  readonly stochastic: boolean;

  constructor(opts: Int8Options) {
    if (!Number.isInteger(opts.block) || opts.block < 1 || opts.block > 32768) {
      throw new RangeError(`int8: block must be an integer in [1, 32768], got ${opts.block}`);
    }
    this.block = opts.block;
    this.stochastic = opts.stochastic;
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
    // Stochastic rounding's generator state, carried from block to block.
    const state = this.stochastic ? hotSeed(ctx.local) : null;
    const ties: number[] = [];
    for (let b = 0; b < nb; b++) {
      const lo = b * B;
      const hi = lo + B < d ? lo + B : d;
      const max = blockMax(x, lo, hi);
      if (!(max <= FLOAT32_MAX)) {
        for (let i = lo; i < hi; i++) if (!(Math.abs(x[i]) <= FLOAT32_MAX)) rejectValue(x[i], i, this.spec);
      }
      if (max === 0) {
        scales[b] = 0;
        codes.fill(0, lo, hi);
        continue;
      }
      const scale = float32Up(max);
      scales[b] = scale;
      const inv = 127 / scale;
      if (state) stochasticBlock(x, lo, hi, inv, state, codes, ties);
      else if (x instanceof Float32Array) nearestF32(x, lo, hi, inv, codes);
      else nearestF64(x, lo, hi, inv, codes);
    }
    if (state && ties.length > 0) {
      // Ties of the top 16 bits: 15 more random bits against the fraction's low 15 (see stochasticBlock).
      // scales[b] holds the float32 scale exactly, so 127/scales[b] is the block's inv.
      const g = new Rng(state[0], state[1], state[2], state[3]);
      for (const i of ties) {
        const t = x[i] * (127 / scales[Math.floor(i / B)]) + 128;
        const F = ((t - Math.floor(t)) * TWO_31) | 0;
        if (g.nextU32() >>> 17 < (F & 0x7fff)) codes[i] = Math.min(127, codes[i] + 1);
      }
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
    const codes = new Int8Array(d);
    new Uint8Array(codes.buffer).set(bytes.subarray(4 * nb, 4 * nb + d));
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

/** Round half up; |x·inv| ≤ 127 (+ rounding), so the result stays in [−127, 127]. One loop per input type. */
function nearestF32(x: Float32Array, lo: number, hi: number, inv: number, codes: Int8Array): void {
  for (let i = lo; i < hi; i++) codes[i] = ((x[i] * inv + 128.5) | 0) - 128;
}
function nearestF64(x: Float64Array, lo: number, hi: number, inv: number, codes: Int8Array): void {
  for (let i = lo; i < hi; i++) codes[i] = ((x[i] * inv + 128.5) | 0) - 128;
}

/**
 * Stochastic rounding of one block: c = ⌊t⌋ + 1 with probability frac(t) (t = x·inv), i.e. when a
 * uniform 31-bit R is below F = ⌊frac(t)·2^31⌋, so E c = t within 2^−31 of a step. One 32-bit draw
 * serves two elements (16 bits each against F's top 16); on equality (probability 2^−16) the
 * position is recorded and settled after the whole vector with 15 more bits. `state` carries the
 * xoshiro128** state across blocks. The clamp only catches t = ±127 + rounding.
 */
function stochasticBlock(x: Vec, lo: number, hi: number, inv: number, state: Int32Array, codes: Int8Array, ties: number[]): void {
  let s0 = state[0];
  let s1 = state[1];
  let s2 = state[2];
  let s3 = state[3];
  for (let i = lo; i < hi; i += 2) {
    // xoshiro128** step (see hotrng.ts)
    let r = Math.imul(s1, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    const u = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    s1 ^= n2;
    s0 ^= n3;
    s2 = n2 ^ u;
    s3 = (n3 << 11) | (n3 >>> 21);
    // The +128 keeps the floor argument positive.
    const t = x[i] * inv + 128;
    const fl = t | 0;
    const F = ((t - fl) * TWO_31) >>> 15;
    const ra = r >>> 16;
    codes[i] = Math.min(127, Math.max(-127, fl - 128 + ((ra - F) >>> 31)));
    if (ra === F) ties.push(i);
    if (i + 1 === hi) break;
    const tw = x[i + 1] * inv + 128;
    const fw = tw | 0;
    const Fw = ((tw - fw) * TWO_31) >>> 15;
    const rb = r & 0xffff;
    codes[i + 1] = Math.min(127, Math.max(-127, fw - 128 + ((rb - Fw) >>> 31)));
    if (rb === Fw) ties.push(i + 1);
  }
  state[0] = s0;
  state[1] = s1;
  state[2] = s2;
  state[3] = s3;
}

export function int8(opts: Int8Options = { block: 256, stochastic: false }): Int8Compressor {
  return new Int8Compressor(opts);
}

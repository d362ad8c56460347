import { PayloadError } from '../errors.js';
import { BitReader, BitWriter, bytesFor, expectDimension, expectLength, float32Up } from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue, type FixedRateCompressor } from './checks.js';
import { hotSeed } from './hotrng.js';
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
    const seed = this.stochastic ? hotSeed(ctx.local) : null;
    let s0 = seed ? seed[0] : 0;
    let s1 = seed ? seed[1] : 0;
    let s2 = seed ? seed[2] : 0;
    let s3 = seed ? seed[3] : 0;
    for (let b = 0; b < nb; b++) {
      const lo = b * B;
      const hi = lo + B < d ? lo + B : d;
      let max = 0;
      for (let i = lo; i < hi; i++) max = Math.max(max, Math.abs(x[i]));
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
      if (seed) {
        for (let i = lo; i < hi; i++) {
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
          // floor(t + U), U uniform in [0,1): E = t. The +128 keeps the floor argument positive;
          // the clamp only catches t = ±127 + rounding.
          const c = ((x[i] * inv + 128 + (r >>> 0) * 2.3283064365386963e-10) | 0) - 128;
          codes[i] = Math.max(-127, Math.min(127, c));
        }
      } else {
        for (let i = lo; i < hi; i++) {
          // round half up; |x·inv| ≤ 127 (+ rounding), so the result stays in [−127, 127].
          codes[i] = ((x[i] * inv + 128.5) | 0) - 128;
        }
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

export function int8(opts: Int8Options = { block: 256, stochastic: false }): Int8Compressor {
  return new Int8Compressor(opts);
}

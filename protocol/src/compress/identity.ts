import { BitReader, BitWriter, bytesFor, expectDimension, expectLength, payloadBytes } from './bitio.js';
import { expectOut, expectSendable, firstNonFiniteF32, rejectValue, type FixedRateCompressor } from './checks.js';
import { ArrayPool } from './pool.js';
import type { CompressContext, CompressorConstants, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/** The dense vector as float32 values: 32d bits. */
export interface IdentityPayload extends Payload {
  readonly codec: 'identity';
  readonly values: Float32Array;
}

/** Q(z) = z (up to the rounding of the values to float32 for the wire). q = 1, 32d bits. */
export class IdentityCompressor implements FixedRateCompressor {
  readonly spec = 'identity';
  readonly kind = 'unbiased' as const;
  // Every length: a sparsifier's kept values (ten floats) are taken and released once per message.
  private readonly pool = new ArrayPool(2, 1);

  payloadBits(d: number): number {
    return 32 * d;
  }

  release(p: IdentityPayload): void {
    this.pool.give(p.values);
  }

  constants(_d: number, _devices: number): CompressorConstants {
    return { kind: 'unbiased', q: 1, beta: 1, ab: { A: 0, B: 0 } };
  }

  /** Values are rounded to the nearest float32: |fl(x_i)| ≤ (1 + 2^−24)|x_i|. */
  maxGain(_d: number, _devices: number): number {
    return 1 + 2 ** -23;
  }

  compress(x: Vec, _ctx?: CompressContext): IdentityPayload {
    const values = this.pool.take(Float32Array, x.length);
    values.set(x); // rounds to float32; beyond its range becomes ±∞, caught next
    expectSendable(values, this.spec);
    return { codec: 'identity', d: x.length, bits: 32 * x.length, values };
  }

  /** The payload of x at the given coordinates (a sparsifier's kept values); an error names x[idx[j]]. */
  gathered(x: Vec, idx: Uint32Array): IdentityPayload {
    const k = idx.length;
    const values = this.pool.take(Float32Array, k);
    if (x instanceof Float32Array) gatherIntoF32(values, x, idx);
    else gatherIntoF64(values, x, idx);
    const bad = firstNonFiniteF32(values);
    if (bad >= 0) rejectValue(x[idx[bad]], idx[bad], this.spec);
    return { codec: 'identity', d: k, bits: 32 * k, values };
  }

  decompress(p: IdentityPayload, _ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    out.set(p.values);
    return out;
  }

  accumulate(p: IdentityPayload, _ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const v = p.values;
    const n = v.length;
    for (let i = 0; i < n; i++) out[i] += a * v[i];
    return out;
  }

  encode(p: IdentityPayload): Uint8Array {
    const bytes = payloadBytes(bytesFor(p.bits));
    new BitWriter(bytes).writeFloat32Array(p.values);
    return bytes;
  }

  /** What `encode` returns, written at the start of `bytes` (at least as long). */
  encodeInto(p: IdentityPayload, bytes: Uint8Array): void {
    new BitWriter(bytes).writeFloat32Array(p.values);
  }

  decode(bytes: Uint8Array, d: number): IdentityPayload {
    expectDimension(d, this.spec);
    expectLength(bytes, 32 * d, this.spec);
    // into a recycled array: receivers release decoded payloads once applied
    const values = new BitReader(bytes).readFiniteFloat32Array(d, 'identity.values', this.pool.take(Float32Array, d));
    return { codec: 'identity', d, bits: 32 * d, values };
  }
}

/** out[j] = x[idx[j]], one monomorphic loop per source type. */
function gatherIntoF32(out: Float32Array, x: Float32Array, idx: Uint32Array): void {
  for (let j = 0; j < idx.length; j++) out[j] = x[idx[j]];
}
function gatherIntoF64(out: Float32Array, x: Float64Array, idx: Uint32Array): void {
  for (let j = 0; j < idx.length; j++) out[j] = x[idx[j]];
}

export function identity(): IdentityCompressor {
  return new IdentityCompressor();
}

import { ValidationError } from '../errors.js';
import type { Compressor } from './types.js';
import type { Vec } from '../vec/kernels.js';

/** Largest finite float32. Values beyond it cannot travel as float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Throws unless `out` has the payload's dimension. */
export function expectOut(out: Vec, d: number, codec: string): void {
  if (out.length !== d) {
    throw new ValidationError('out', `${codec}: output vector has length ${out.length}, payload dimension is ${d}`);
  }
}

/** Throws a ValidationError naming x[i] when a value to be sent is not a finite float32. */
export function rejectValue(x: number, i: number, codec: string): never {
  throw new ValidationError(`x[${i}]`, `${codec}: cannot compress ${x}: input must be finite and within float32 range`);
}

/** Index of the first ±∞/NaN of a float32 array, or −1. Branch-free scan of the bit patterns. */
export function firstNonFiniteF32(v: Float32Array): number {
  const bits = new Int32Array(v.buffer, v.byteOffset, v.length);
  const n = v.length;
  let bad = 0;
  // exponent field 255 ⟺ (b & 0x7fffffff) > 0x7f7fffff ⟺ the difference below is negative
  for (let i = 0; i < n; i++) bad |= 0x7f7fffff - (bits[i] & 0x7fffffff);
  if (bad >= 0) return -1;
  for (let i = 0; i < n; i++) if ((bits[i] & 0x7fffffff) > 0x7f7fffff) return i;
  return -1;
}

/** Throws unless every value of x is finite and within float32 range. */
export function expectSendable(x: Vec, codec: string): void {
  if (x instanceof Float32Array) {
    const i = firstNonFiniteF32(x);
    if (i >= 0) rejectValue(x[i], i, codec);
    return;
  }
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (!(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) rejectValue(v, i, codec);
  }
}

/**
 * A compressor whose payload size depends only on the dimension: the value quantizers that can
 * follow a sparsifier in a composition (`topk:0.3+natural`).
 */
export interface FixedRateCompressor extends Compressor {
  /** Exact payload bits for dimension d. */
  payloadBits(d: number): number;
}

export function isFixedRate(c: Compressor): c is FixedRateCompressor {
  return typeof (c as Partial<FixedRateCompressor>).payloadBits === 'function';
}

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
  throw new ValidationError(
    `x[${i}]`,
    `${codec}: cannot compress ${x}: input must be finite and within float32 range`,
  );
}

/** Throws unless every value of x is finite and within float32 range. */
export function expectSendable(x: Vec, codec: string): void {
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

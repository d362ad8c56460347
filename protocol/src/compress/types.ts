import type { Rng } from '../rng/xoshiro128.js';
import type { Streams } from '../rng/streams.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Compressor contracts (SPEC §2).
 *
 * - unbiased Q:     E Q(z) = z,  E‖Q(z)‖² ≤ q‖z‖²
 * - contractive C:  E‖C(z) − z‖² ≤ (1 − 1/δ)‖z‖²   (seed convention, δ ≥ 1)
 * - biased:         neither guarantee (e.g. PowerSGD); use with error feedback
 */
export type CompressorKind = 'unbiased' | 'contractive' | 'biased';

export interface CompressorConstants {
  readonly kind: CompressorKind;
  /** Second-moment constant of an unbiased compressor (ω = q − 1). */
  readonly q?: number;
  /** Contraction constant of a contractive compressor. */
  readonly delta?: number;
  /** Expected density β = E bits(Q(z)) / (32 d); exact when the bit count does not depend on z. */
  readonly beta: number;
  /**
   * AB-inequality constants (PermK paper): for compressors C_1..C_M applied to a_1..a_M,
   * E‖(1/M)Σ C_m(a_m) − ā‖² ≤ A·(1/M)Σ‖a_m‖² − B·‖ā‖². Independent unbiased: A = (q−1)/M, B = 0.
   */
  readonly ab?: { readonly A: number; readonly B: number };
}

/**
 * What sender and receiver share: with it the receiver regenerates any indices the sender drew
 * from the shared streams (RandK, PermK), so payloads carry no indices.
 */
export interface SharedContext {
  readonly streams: Streams;
  /** Iteration number k the message belongs to. */
  readonly round: number;
  /** Distinguishes the compressions within one round, e.g. `up:diff`, `down:diff`, `up:extra1`. */
  readonly purpose: string;
  /** Sender's shard index m in [0, devices), or SERVER (−1) for the aggregator. */
  readonly device: number;
  /** Number of shards M (PermK partitions coordinates among them). */
  readonly devices: number;
}

/** The sender's context: the shared part plus private randomness (stochastic rounding). */
export interface CompressContext extends SharedContext {
  readonly local: Rng;
}

/**
 * A compressed message exactly as it will travel: `encode` turns it into ⌈bits/8⌉ bytes.
 * `codec` is the canonical spec of the compressor that produced it.
 */
export interface Payload {
  readonly codec: string;
  /** Dimension of the dense vector this payload represents. */
  readonly d: number;
  /** Exact number of payload bits (before byte padding). */
  readonly bits: number;
}

export interface Compressor<P extends Payload = Payload> {
  /** Canonical spec string, e.g. `randk:0.1`, `dither:p=2,s=8`, `randk:0.1+natural`. */
  readonly spec: string;
  readonly kind: CompressorKind;
  /** Constants for dimension d and M devices. */
  constants(d: number, devices: number): CompressorConstants;
  /**
   * Optional: the worst-case gain G(d, M) = sup over x ≠ 0 and every random draw of
   * ‖decompress(compress(x))‖₂ / ‖x‖₂ (not an expectation: every single draw). Receivers use it to
   * bound what an honest sender can send (engine/guard.ts); a compressor without it (PowerSGD) is
   * never bounded that way. A tiny absolute slack for subnormal inputs is the receiver's.
   */
  maxGain?(d: number, devices: number): number;
  /** Compresses x (not modified). */
  compress(x: Vec, ctx: CompressContext): P;
  /** out ← Q(x) as a dense vector of length p.d. */
  decompress(p: P, ctx: SharedContext, out: Vec): Vec;
  /** out ← out + a·Q(x), touching only the coordinates the payload carries where possible. */
  accumulate(p: P, ctx: SharedContext, a: number, out: Vec): Vec;
  /** Wire bytes of the payload: exactly ⌈p.bits / 8⌉ bytes (possibly a view into a shared block: respect `byteOffset`). */
  encode(p: P): Uint8Array;
  /** Parses wire bytes for dimension d; throws PayloadError on anything malformed. */
  decode(bytes: Uint8Array, d: number): P;
  /**
   * Optional: the caller is finished with `p` (encoded, decompressed…), so the compressor may
   * recycle its buffers for a later payload; at large d this saves allocating (and page-faulting)
   * tens of MB per message. `p` must not be used after it is released.
   */
  release?(p: P): void;
}

import { PayloadError, ValidationError } from '../errors.js';
import { BitReader, BitWriter, bytesFor, expectDimension, expectLength, expectZeroPadding, payloadBytes } from './bitio.js';
import { expectOut, type FixedRateCompressor } from './checks.js';
import { IdentityCompressor, type IdentityPayload } from './identity.js';
import type { CompressContext, Compressor, CompressorConstants, CompressorKind, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Sparsifiers (RandK, TopK, PermK) keep k of d coordinates. A SparseCompressor pairs one with a
 * fixed-rate value codec that carries the kept values: `identity` (float32, the plain sparsifier)
 * or a quantizer (`randk:0.1+natural`).
 *
 * Wire layout: the value codec's payload for the k kept values (its own bit layout, from bit 0),
 * immediately followed by the sparsifier's support bits (none when the receiver regenerates the
 * indices from the shared context), then zero padding to a whole byte.
 */

/** Which coordinates a sparse payload carries. */
export interface Support {
  /** Number of kept coordinates. */
  readonly k: number;
  /** Kept indices, ascending; null when the receiver regenerates them from the shared context. */
  readonly indices: Uint32Array | null;
  /** Sparsifier-specific coding selector (TopK: 0 = index list, 1 = bitmap). */
  readonly coding: number;
}

export interface Sparsifier {
  /** Canonical spec, e.g. `randk:0.1`. */
  readonly spec: string;
  readonly kind: 'unbiased' | 'contractive';
  /** Number of kept coordinates for dimension d. */
  keep(d: number): number;
  /** Factor the kept values are multiplied by on reconstruction (RandK d/k, TopK 1). */
  gain(d: number, ctx?: SharedContext): number;
  /** The largest `gain` over every shared context, for dimension d and M devices. */
  maxGain(d: number, devices: number): number;
  /** Constants of the sparsifier with exact (unquantized) values. Must include q or delta, and ab for unbiased ones. */
  constants(d: number, devices: number): CompressorConstants;
  /**
   * Sender: chooses the kept coordinates of x; `indices` ascending and never null here. The array
   * may be a buffer the sparsifier reuses: valid until its next `select` or `resolve`.
   */
  select(x: Vec, ctx: CompressContext): Support & { readonly indices: Uint32Array };
  /** What travels: the support stripped of anything the receiver can regenerate. */
  wireSupport(s: Support): Support;
  /** Exact bits the support occupies on the wire (a function of s.k and d only). */
  supportBits(s: Support, d: number): number;
  writeSupport(s: Support, d: number, w: BitWriter): void;
  /** Parses the support for dimension d; throws PayloadError when malformed. */
  readSupport(r: BitReader, d: number): Support;
  /** Receiver: the kept indices of a wire support (regenerated from ctx when it carries none; possibly a reused buffer, as for `select`). */
  resolve(s: Support, d: number, ctx: SharedContext): Uint32Array;
  /** Number of kept coordinates a wire payload of dimension d must carry (for decode). */
  keepOnWire(d: number): number;
}

export interface SparsePayload<I extends Payload = Payload> extends Payload {
  readonly support: Support;
  /** The value codec's payload for the k kept values (dimension k). */
  readonly values: I;
}

export class SparseCompressor<I extends Payload = Payload> implements Compressor<SparsePayload<I>> {
  readonly spec: string;
  readonly kind: CompressorKind;
  readonly sparsifier: Sparsifier;
  readonly inner: FixedRateCompressor;
  private readonly plain: boolean;

  constructor(sparsifier: Sparsifier, inner: FixedRateCompressor = new IdentityCompressor()) {
    this.sparsifier = sparsifier;
    this.inner = inner;
    this.plain = inner instanceof IdentityCompressor;
    this.spec = this.plain ? sparsifier.spec : `${sparsifier.spec}+${inner.spec}`;
    this.kind = composedKind(sparsifier.kind, inner.kind, this.innerQ());
  }

  private innerQ(): number {
    // The kind is fixed per compressor, so it is judged at k = 1. Dithering's q grows with k:
    // `constants(d, M)` re-checks at the actual k and reports 'biased' where the bound fails.
    return this.inner.constants(1, 1).q ?? Number.NaN;
  }

  /** The kept values' codec gain (on k values) times the sparsifier's largest scale: ‖x_S‖ ≤ ‖x‖. */
  maxGain(d: number, devices: number): number {
    const k = this.sparsifier.keep(d);
    const inner = this.inner.maxGain?.(k, devices);
    return inner === undefined ? Number.POSITIVE_INFINITY : this.sparsifier.maxGain(d, devices) * inner;
  }

  constants(d: number, devices: number): CompressorConstants {
    const s = this.sparsifier.constants(d, devices);
    const k = this.sparsifier.keep(d);
    const bits = this.inner.payloadBits(k) + this.sparsifier.supportBits({ k, indices: null, coding: -1 }, d);
    const beta = d === 0 ? 0 : bits / (32 * d);
    if (this.plain) return { ...s, beta };
    const c = this.inner.constants(k, devices);
    if (s.kind === 'unbiased' && c.kind === 'unbiased') {
      const q1 = s.q as number;
      const q2 = c.q as number;
      const ab = s.ab ?? { A: (q1 - 1) / devices, B: 0 };
      // Extra variance of quantizing the kept (scaled) values: (q2−1)/M² Σ E‖S_m(a_m)‖² = (q2−1)q1/M · (1/M)Σ‖a_m‖².
      return { kind: 'unbiased', q: q1 * q2, beta, ab: { A: ab.A + ((q2 - 1) * q1) / devices, B: ab.B } };
    }
    if (s.kind === 'contractive' && c.kind === 'unbiased' && (c.q as number) < 2) {
      // Support-restricted errors are orthogonal to the dropped part: E‖C(z)−z‖² ≤ (1 − (2−q2)/δ1)‖z‖².
      return { kind: 'contractive', delta: (s.delta as number) / (2 - (c.q as number)), beta };
    }
    if (s.kind === 'contractive' && c.kind === 'contractive') {
      return { kind: 'contractive', delta: (s.delta as number) * (c.delta as number), beta };
    }
    return { kind: 'biased', beta };
  }

  compress(x: Vec, ctx: CompressContext): SparsePayload<I> {
    const d = x.length;
    const sel = this.sparsifier.select(x, ctx);
    const idx = sel.indices;
    let values: I;
    if (this.plain) {
      // Straight into the float32 payload (pooled), checked as it goes: no intermediate copy.
      values = (this.inner as IdentityCompressor).gathered(x, idx) as unknown as I;
    } else {
      const kept = x instanceof Float32Array ? gatherF32(x, idx) : gatherF64(x, idx);
      values = this.inner.compress(kept, ctx) as unknown as I;
    }
    const support = this.sparsifier.wireSupport(sel);
    const bits = values.bits + this.sparsifier.supportBits(support, d);
    return { codec: this.spec, d, bits, support, values };
  }

  /** Kept values as a dense k-vector (decoded by the value codec, before the gain). */
  private keptValues(p: SparsePayload<I>, ctx: SharedContext): Float32Array | Float64Array {
    if (this.plain) return (p.values as unknown as { values: Float32Array }).values;
    const out = new Float64Array(p.values.d);
    this.inner.decompress(p.values, ctx, out);
    return out;
  }

  release(p: SparsePayload<I>): void {
    this.inner.release?.(p.values);
  }

  decompress(p: SparsePayload<I>, ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    out.fill(0);
    return this.accumulate(p, ctx, 1, out);
  }

  accumulate(p: SparsePayload<I>, ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const idx = this.sparsifier.resolve(p.support, p.d, ctx);
    if (idx.length !== p.values.d) {
      throw new ValidationError('support', `${this.spec}: support has ${idx.length} indices, payload carries ${p.values.d} values`);
    }
    const v = this.keptValues(p, ctx);
    const scale = a * this.sparsifier.gain(p.d, ctx);
    // One monomorphic loop per (output, values) array type: a shared loop runs several times slower.
    if (out instanceof Float32Array) {
      if (v instanceof Float32Array) scatterF32F32(out, idx, v, scale);
      else scatterF32F64(out, idx, v, scale);
    } else if (v instanceof Float32Array) scatterF64F32(out, idx, v, scale);
    else scatterF64F64(out, idx, v, scale);
    return out;
  }

  encode(p: SparsePayload<I>): Uint8Array {
    const bytes = payloadBytes(bytesFor(p.bits));
    // The plain sparsifier's float32 values go straight in (no intermediate array).
    if (this.plain) (this.inner as IdentityCompressor).encodeInto(p.values as unknown as IdentityPayload, bytes);
    else bytes.set(this.inner.encode(p.values));
    this.sparsifier.writeSupport(p.support, p.d, new BitWriter(bytes, p.values.bits));
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): SparsePayload<I> {
    expectDimension(d, this.spec);
    const k = this.sparsifier.keepOnWire(d);
    const innerBits = this.inner.payloadBits(k);
    if (bytes.length * 8 < innerBits) {
      throw new PayloadError('length', `${this.spec} payload too short: ${bytes.length} bytes, values alone need ${innerBits} bits`);
    }
    const support = this.sparsifier.readSupport(new BitReader(bytes, innerBits), d);
    if (support.k !== k) throw new PayloadError('range', `${this.spec}: support has ${support.k} coordinates, expected ${k}`);
    const bits = innerBits + this.sparsifier.supportBits(support, d);
    expectLength(bytes, bits, this.spec);
    expectZeroPadding(bytes, bits, this.spec);
    // The value codec sees exactly its own bytes, with the support's bits masked off its last byte
    // (a copy then; a view when they end on a byte boundary: decoders never write their input).
    const innerBytes = innerBits & 7 ? bytes.slice(0, bytesFor(innerBits)) : bytes.subarray(0, bytesFor(innerBits));
    if (innerBits & 7) innerBytes[innerBytes.length - 1] &= (1 << (innerBits & 7)) - 1;
    const values = this.inner.decode(innerBytes, k) as unknown as I;
    return { codec: this.spec, d, bits, support, values };
  }
}

function composedKind(s: 'unbiased' | 'contractive', inner: CompressorKind, q2: number): CompressorKind {
  if (inner === 'unbiased' && s === 'unbiased') return 'unbiased';
  if (s === 'contractive' && (inner === 'contractive' || (inner === 'unbiased' && q2 < 2))) return 'contractive';
  return 'biased';
}

/** out[idx[j]] += s·v[j], one copy per array-type pair. */
function scatterF32F32(out: Float32Array, idx: Uint32Array, v: Float32Array, s: number): void {
  for (let j = 0; j < idx.length; j++) out[idx[j]] += s * v[j];
}
function scatterF32F64(out: Float32Array, idx: Uint32Array, v: Float64Array, s: number): void {
  for (let j = 0; j < idx.length; j++) out[idx[j]] += s * v[j];
}
function scatterF64F32(out: Float64Array, idx: Uint32Array, v: Float32Array, s: number): void {
  for (let j = 0; j < idx.length; j++) out[idx[j]] += s * v[j];
}
function scatterF64F64(out: Float64Array, idx: Uint32Array, v: Float64Array, s: number): void {
  for (let j = 0; j < idx.length; j++) out[idx[j]] += s * v[j];
}

function gatherF32(x: Float32Array, idx: Uint32Array): Float32Array {
  const k = idx.length;
  const out = new Float32Array(k);
  for (let j = 0; j < k; j++) out[j] = x[idx[j]];
  return out;
}

function gatherF64(x: Float64Array, idx: Uint32Array): Float64Array {
  const k = idx.length;
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) out[j] = x[idx[j]];
  return out;
}

/**
 * Per-tensor compression (seed §5.2): a model's flat parameter vector is a concatenation of named
 * tensors, and the compressor is chosen per tensor from its shape, as the seed does:
 *
 *   `identity`                      every tensor as float32 (the baseline): 32·d bits
 *   `int8[:block=B]`                every tensor 8-bit blockwise ("full 8-bit"):
 *                                   Σ_t 32⌈d_t/B⌉ + 8d_t bits
 *   `int8:min=N[,block=B]`          tensors of at least N elements 8-bit, the others float32
 *                                   ("mixed 8-bit"; the seed's "more than 2^16" is min=65537)
 *   `powersgd:r=R[,min=N]`          matrix-shaped tensors (2-D) of at least N elements PowerSGD
 *                                   rank R on their own n×m shape (32(n+m)·min(R,n,m) bits), the
 *                                   others float32. Biased: methods apply error feedback.
 *
 * Every part's payload is a whole number of bytes, so the message is the parts' encodings
 * concatenated in layout order and its bit count is exactly the sum of theirs. PowerSGD draws its
 * Gaussian Q₀ from the shared stream keyed by (round, `<purpose>/t<index>/powersgd`, device), a
 * fresh one per tensor and round (no warm start: the compressor is stateless).
 */
import { PayloadError, SpecError } from '../errors.js';
import { expectOut } from './checks.js';
import type { FixedRateCompressor } from './checks.js';
import { IdentityCompressor } from './identity.js';
import { Int8Compressor } from './int8.js';
import { PowerSgdCompressor } from './powersgd.js';
import { SpecArgs } from './registry.js';
import type { CompressContext, Compressor, CompressorConstants, CompressorKind, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/** One tensor of a flat parameter vector. */
export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

export type TensorRuleName = 'identity' | 'int8' | 'powersgd';

/** What a per-tensor spec asks for. */
export interface TensorRule {
  readonly name: TensorRuleName;
  /** Tensors with fewer elements are sent as float32 (0: every tensor is compressed). */
  readonly min: number;
  /** int8 block size. */
  readonly block: number;
  /** PowerSGD rank. */
  readonly rank: number;
}

export interface PerTensorPayload extends Payload {
  readonly parts: readonly Payload[];
}

interface Part {
  readonly tensor: TensorSpec;
  readonly codec: FixedRateCompressor;
  readonly bytes: number;
}

const RULE_NAMES: readonly TensorRuleName[] = ['identity', 'int8', 'powersgd'];

/** Parses `identity`, `int8[:block=B][,min=N]`, `powersgd:r=R[,min=N]` (SpecError naming what is wrong). */
export function parseTensorRule(spec: string): TensorRule {
  if (typeof spec !== 'string' || spec.trim() === '') throw new SpecError('empty compressor spec');
  const s = spec.trim();
  const colon = s.indexOf(':');
  const name = (colon < 0 ? s : s.slice(0, colon)).trim().toLowerCase();
  const raw = colon < 0 ? '' : s.slice(colon + 1).trim();
  if (!(RULE_NAMES as readonly string[]).includes(name)) {
    throw new SpecError(`unknown per-tensor compressor '${name}' in '${spec}' (known: ${RULE_NAMES.join(', ')})`);
  }
  const args = new SpecArgs(name, raw);
  const min = args.number('min', { min: 0, max: 2 ** 31, integer: true, fallback: 0 });
  let block = 256;
  let rank = 0;
  if (name === 'int8') block = args.number('block', { min: 8, max: 32768, integer: true, fallback: 256 });
  if (name === 'powersgd') {
    if (args.has('r') && args.has('rank')) throw new SpecError("powersgd: give 'r' or 'rank', not both");
    rank = args.has('rank') ? args.number('rank', { min: 1, max: 1024, integer: true }) : args.number('r', { min: 1, max: 1024, integer: true });
  }
  args.done();
  return { name: name as TensorRuleName, min, block, rank };
}

/** Canonical text of a rule (what manifests hash). */
export function tensorRuleSpec(rule: TensorRule): string {
  const min = rule.min > 0 ? `min=${rule.min}` : '';
  switch (rule.name) {
    case 'identity':
      return 'identity';
    case 'int8':
      return `int8:${[`block=${rule.block}`, min].filter(Boolean).join(',')}`;
    case 'powersgd':
      return `powersgd:${[`r=${rule.rank}`, min].filter(Boolean).join(',')}`;
    default: {
      const never: never = rule.name;
      throw new SpecError(`unknown rule ${String(never)}`);
    }
  }
}

const KIND_ORDER: Record<CompressorKind, number> = { unbiased: 0, contractive: 1, biased: 2 };

export class PerTensorCompressor implements Compressor<PerTensorPayload> {
  readonly spec: string;
  readonly kind: CompressorKind;
  readonly rule: TensorRule;
  readonly parts: readonly Part[];
  readonly dim: number;
  private readonly totalBits: number;
  private readonly totalBytes: number;

  constructor(rule: TensorRule, tensors: readonly TensorSpec[]) {
    this.rule = rule;
    this.spec = tensorRuleSpec(rule);
    const identity = new IdentityCompressor();
    const int8 = rule.name === 'int8' ? new Int8Compressor({ block: rule.block, stochastic: false }) : null;
    const psgd = new Map<number, PowerSgdCompressor>();
    let at = 0;
    let bits = 0;
    let kind: CompressorKind = 'unbiased';
    const parts: Part[] = [];
    for (const t of tensors) {
      if (t.offset !== at || !(Number.isSafeInteger(t.size) && t.size >= 1))
        throw new SpecError(`${this.spec}: tensor '${t.name}' is not contiguous with the previous one`);
      at += t.size;
      let codec: FixedRateCompressor = identity;
      const big = t.size >= rule.min;
      if (int8 && big) codec = int8;
      else if (rule.name === 'powersgd' && big && t.shape.length === 2) {
        const cols = t.shape[1];
        let c = psgd.get(cols);
        if (!c) psgd.set(cols, (c = new PowerSgdCompressor(rule.rank, cols)));
        codec = c;
      }
      const b = codec.payloadBits(t.size);
      if (b % 8 !== 0) throw new SpecError(`${this.spec}: part '${t.name}' is not a whole number of bytes`);
      bits += b;
      const k = codec.kind;
      if (KIND_ORDER[k] > KIND_ORDER[kind]) kind = k;
      parts.push({ tensor: t, codec, bytes: b / 8 });
    }
    this.parts = parts;
    this.dim = at;
    this.totalBits = bits;
    this.totalBytes = bits / 8;
    this.kind = kind;
  }

  /** Exact payload bits of one message (it does not depend on the values). */
  payloadBits(d: number): number {
    this.expectDim(d);
    return this.totalBits;
  }

  /** Which codec each tensor uses, with its bits (for reports). */
  describe(): { name: string; size: number; codec: string; bits: number }[] {
    return this.parts.map((p) => ({ name: p.tensor.name, size: p.tensor.size, codec: p.codec.spec, bits: 8 * p.bytes }));
  }

  constants(d: number, devices: number): CompressorConstants {
    this.expectDim(d);
    const beta = this.totalBits / (32 * d);
    if (this.kind === 'biased') return { kind: 'biased', beta };
    // Parts act on disjoint coordinates: ‖C(x) − x‖² = Σ_t ‖C_t(x_t) − x_t‖², so the worst part bounds the whole.
    let delta = 1;
    let q = 1;
    for (const p of this.parts) {
      const c = p.codec.constants(p.tensor.size, devices);
      if (c.delta !== undefined) delta = Math.max(delta, c.delta);
      if (c.q !== undefined) q = Math.max(q, c.q);
    }
    if (this.kind === 'contractive') return { kind: 'contractive', delta, beta };
    return { kind: 'unbiased', q, beta, ab: { A: (q - 1) / devices, B: 0 } };
  }

  private expectDim(d: number): void {
    if (d !== this.dim) throw new PayloadError('dimension', `${this.spec}: the model has ${this.dim} parameters, got a vector of ${d}`);
  }

  private partCtx<C extends SharedContext>(ctx: C, i: number): C {
    return { ...ctx, purpose: `${ctx.purpose}/t${i}` };
  }

  compress(x: Vec, ctx: CompressContext): PerTensorPayload {
    this.expectDim(x.length);
    const parts: Payload[] = [];
    for (let i = 0; i < this.parts.length; i++) {
      const p = this.parts[i];
      const t = p.tensor;
      parts.push(p.codec.compress(x.subarray(t.offset, t.offset + t.size), this.partCtx(ctx, i)));
    }
    return { codec: this.spec, d: this.dim, bits: this.totalBits, parts };
  }

  decompress(p: PerTensorPayload, ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    for (let i = 0; i < this.parts.length; i++) {
      const t = this.parts[i].tensor;
      this.parts[i].codec.decompress(p.parts[i], this.partCtx(ctx, i), out.subarray(t.offset, t.offset + t.size));
    }
    return out;
  }

  accumulate(p: PerTensorPayload, ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    for (let i = 0; i < this.parts.length; i++) {
      const t = this.parts[i].tensor;
      this.parts[i].codec.accumulate(p.parts[i], this.partCtx(ctx, i), a, out.subarray(t.offset, t.offset + t.size));
    }
    return out;
  }

  encode(p: PerTensorPayload): Uint8Array {
    const bytes = new Uint8Array(this.totalBytes);
    let at = 0;
    for (let i = 0; i < this.parts.length; i++) {
      const b = this.parts[i].codec.encode(p.parts[i]);
      bytes.set(b, at);
      at += b.length;
    }
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): PerTensorPayload {
    this.expectDim(d);
    if (bytes.length !== this.totalBytes) throw new PayloadError('length', `${this.spec}: expected ${this.totalBytes} bytes, got ${bytes.length}`);
    const parts: Payload[] = [];
    let at = 0;
    for (const p of this.parts) {
      parts.push(p.codec.decode(bytes.subarray(at, at + p.bytes), p.tensor.size));
      at += p.bytes;
    }
    return { codec: this.spec, d, bits: this.totalBits, parts };
  }

  release(p: PerTensorPayload): void {
    for (let i = 0; i < this.parts.length; i++) this.parts[i].codec.release?.(p.parts[i]);
  }
}

/** The per-tensor compressor of `spec` over a model's tensors. */
export function perTensorCompressor(spec: string, tensors: readonly TensorSpec[]): PerTensorCompressor {
  return new PerTensorCompressor(parseTensorRule(spec), tensors);
}

import { PayloadError } from '../errors.js';
import { ceilLog2, type BitReader, type BitWriter } from './bitio.js';
import { keepCount, keepRuleSpec, validateKeepRule, type KeepRule } from './randk.js';
import { topKIndices } from './select.js';
import { SparseCompressor, type Sparsifier, type Support } from './sparse.js';
import type { CompressContext, CompressorConstants, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/** TopK support codings. */
export const TOPK_LIST = 0;
export const TOPK_BITMAP = 1;

/**
 * TopK: keeps the K entries of largest magnitude, unscaled. Contractive with δ = d/K.
 * The support travels as a 1-bit selector and then the cheaper of an ascending index list
 * (K·⌈log2 d⌉ bits) and a d-bit bitmap (the list on a tie), so a payload is
 * 32K + 1 + min(K⌈log2 d⌉, d) bits.
 */
export class TopKSparsifier implements Sparsifier {
  readonly spec: string;
  readonly kind = 'contractive' as const;
  readonly rule: KeepRule;

  constructor(rule: KeepRule) {
    validateKeepRule(rule, 'topk');
    this.rule = rule;
    this.spec = `topk:${keepRuleSpec(rule)}`;
  }

  keep(d: number): number {
    return keepCount(this.rule, d);
  }

  keepOnWire(d: number): number {
    return keepCount(this.rule, d);
  }

  gain(): number {
    return 1;
  }

  maxGain(_d: number, _devices: number): number {
    return 1;
  }

  /** The coding the sender uses for k of d: the list unless the bitmap is strictly smaller. */
  static coding(k: number, d: number): number {
    return k * ceilLog2(d) <= d ? TOPK_LIST : TOPK_BITMAP;
  }

  constants(d: number, _devices: number): CompressorConstants {
    const k = this.keep(d);
    const bits = 32 * k + this.supportBits({ k, indices: null, coding: -1 }, d);
    return { kind: 'contractive', delta: k === 0 ? 1 : d / k, beta: d === 0 ? 0 : bits / (32 * d) };
  }

  select(x: Vec, _ctx: CompressContext): Support & { readonly indices: Uint32Array } {
    const d = x.length;
    const indices = topKIndices(x, this.keep(d));
    return { k: indices.length, indices, coding: TopKSparsifier.coding(indices.length, d) };
  }

  wireSupport(s: Support): Support {
    return s;
  }

  supportBits(s: Support, d: number): number {
    return 1 + Math.min(s.k * ceilLog2(d), d);
  }

  writeSupport(s: Support, d: number, w: BitWriter): void {
    const idx = s.indices;
    if (!idx) throw new RangeError('topk: support without indices');
    const coding = TopKSparsifier.coding(s.k, d);
    w.writeBit(coding);
    if (coding === TOPK_LIST) {
      const b = ceilLog2(d);
      for (let j = 0; j < idx.length; j++) w.write(idx[j], b);
    } else {
      const start = w.pos;
      const bytes = w.bytes;
      for (let j = 0; j < idx.length; j++) {
        const p = start + idx[j];
        bytes[p >>> 3] |= 1 << (p & 7);
      }
      w.pos = start + d;
    }
  }

  readSupport(r: BitReader, d: number): Support {
    const k = this.keep(d);
    const coding = r.readBit();
    if (coding !== TopKSparsifier.coding(k, d)) {
      throw new PayloadError('range', `${this.spec}: support coding ${coding} is not the canonical one for k=${k}, d=${d}`);
    }
    const indices = new Uint32Array(k);
    if (coding === TOPK_LIST) {
      const b = ceilLog2(d);
      let prev = -1;
      for (let j = 0; j < k; j++) {
        const v = r.read(b);
        if (v >= d) throw new PayloadError('range', `${this.spec}: index ${v} out of range [0, ${d})`);
        if (v <= prev) throw new PayloadError('duplicate', `${this.spec}: indices must be strictly increasing (index ${j}: ${v} after ${prev})`);
        indices[j] = v;
        prev = v;
      }
    } else {
      if (r.pos + d > r.end) throw new PayloadError('truncated', `${this.spec}: bitmap truncated`);
      const bytes = r.bytes;
      const start = r.pos;
      let n = 0;
      for (let i = 0; i < d; i++) {
        const p = start + i;
        if ((bytes[p >>> 3] >>> (p & 7)) & 1) {
          if (n === k) throw new PayloadError('range', `${this.spec}: bitmap has more than k=${k} bits set`);
          indices[n++] = i;
        }
      }
      if (n !== k) throw new PayloadError('range', `${this.spec}: bitmap has ${n} bits set, expected k=${k}`);
      r.pos = start + d;
    }
    return { k, indices, coding };
  }

  resolve(s: Support, d: number, _ctx: SharedContext): Uint32Array {
    if (!s.indices) throw new PayloadError('range', `${this.spec}: payload carries no indices`);
    if (s.k !== this.keep(d) || s.indices.length !== s.k) throw new PayloadError('range', `${this.spec}: support size does not match k`);
    return s.indices;
  }
}

export function topkSparsifier(rule: KeepRule): TopKSparsifier {
  return new TopKSparsifier(rule);
}

/** TopK with float32 values: `topk:0.3` / `topk:k=10`. */
export function topk(rule: KeepRule): SparseCompressor {
  return new SparseCompressor(new TopKSparsifier(rule));
}

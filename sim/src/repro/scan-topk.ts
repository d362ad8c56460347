/**
 * TopK for small K by a single scan: the same sparsifier, spec, payload bits and wire format as
 * @masha/protocol's `topk:k=K` (it subclasses TopKSparsifier and only replaces `select`), with the
 * same choice — the K largest |x_i|, ties going to the lowest indices, ascending — found in
 * O(d·K) without the 2^16-bin histogram the general selector allocates on every call. At n = 1000
 * devices with K = 1 that allocation, not the selection, would dominate the PermK reproduction.
 * Inputs must be finite (the protocol selector ranks NaN above everything; this one never picks it).
 */
import { type CompressContext } from '@masha/protocol';
import { SparseCompressor, TopKSparsifier, type Support } from '@masha/protocol/compress';
import { type Vec } from '@masha/protocol/vec';

/** K up to which the scan is used; larger K falls back to the protocol's selector. */
export const SCAN_TOPK_MAX_K = 16;

export class ScanTopKSparsifier extends TopKSparsifier {
  private readonly mags = new Float64Array(SCAN_TOPK_MAX_K + 1);
  private readonly idx = new Uint32Array(SCAN_TOPK_MAX_K + 1);

  override select(x: Vec, ctx: CompressContext): Support & { readonly indices: Uint32Array } {
    const d = x.length;
    const k = this.keep(d);
    if (k > SCAN_TOPK_MAX_K || k === 0) return super.select(x, ctx);
    const mags = this.mags;
    const idx = this.idx;
    let count = 0;
    // Buffer sorted by magnitude descending, equal magnitudes in index order (earlier first).
    for (let i = 0; i < d; i++) {
      const m = Math.abs(x[i]);
      if (count === k && !(m > mags[k - 1])) continue;
      let pos = count === k ? k - 1 : count;
      while (pos > 0 && mags[pos - 1] < m) {
        mags[pos] = mags[pos - 1];
        idx[pos] = idx[pos - 1];
        pos--;
      }
      mags[pos] = m;
      idx[pos] = i;
      if (count < k) count++;
    }
    const indices = idx.slice(0, k).sort();
    return { k, indices, coding: TopKSparsifier.coding(k, d) };
  }
}

/** `topk:k=K` with the scanning selector. */
export function scanTopk(k: number): SparseCompressor {
  return new SparseCompressor(new ScanTopKSparsifier({ k }));
}

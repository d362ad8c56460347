import { LITTLE_ENDIAN } from './bitio.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Indices of the k entries of largest |x_i|, ascending, in O(d) without sorting.
 *
 * Radix-select: the bits of |x_i| as an unsigned integer order like |x_i| (IEEE-754), so a
 * histogram of their top 16 bits finds the bin holding the k-th largest in one pass; a second pass
 * takes everything above that bin and collects the bin's members, among which a quickselect on the
 * exact magnitudes settles the rest. Ties at the threshold go to the lowest indices. NaN counts as
 * larger than everything (its bits are), so callers that reject NaN see it.
 */
export function topKIndices(x: Vec, k: number): Uint32Array {
  const d = x.length;
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`topKIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  if (k === 0) return new Uint32Array(0);
  if (k === d) {
    const all = new Uint32Array(d);
    for (let i = 0; i < d; i++) all[i] = i;
    return all;
  }
  // Key words: float32 bits, or the high word of each float64.
  const f32 = x instanceof Float32Array;
  // Int32 (not Uint32) views: words ≥ 2^31 would leave V8's small-integer fast path.
  const words = f32 ? new Int32Array(x.buffer, x.byteOffset, d) : new Int32Array(x.buffer, x.byteOffset, 2 * d);
  const stride = f32 ? 1 : 2;
  const off = f32 ? 0 : LITTLE_ENDIAN ? 1 : 0;

  const hist = new Int32Array(65536);
  for (let i = 0, w = off; i < d; i++, w += stride) hist[(words[w] & 0x7fffffff) >>> 15]++;
  let above = 0;
  let bin = 65535;
  for (; bin >= 0; bin--) {
    const c = hist[bin];
    if (above + c >= k) break;
    above += c;
  }
  const inBin = hist[bin];
  const need = k - above; // 1 ≤ need ≤ inBin

  const sure = new Uint32Array(above);
  const cand = new Uint32Array(inBin);
  let ns = 0;
  let nc = 0;
  for (let i = 0, w = off; i < d; i++, w += stride) {
    const b = (words[w] & 0x7fffffff) >>> 15;
    if (b > bin) sure[ns++] = i;
    else if (b === bin) cand[nc++] = i;
  }

  let chosen: Uint32Array;
  if (need === nc) {
    chosen = cand;
  } else {
    const mags = new Float64Array(nc);
    for (let j = 0; j < nc; j++) mags[j] = Math.abs(x[cand[j]]);
    const work = mags.slice();
    const t = kthLargest(work, need);
    let greater = 0;
    for (let j = 0; j < nc; j++) if (mags[j] > t) greater++;
    let ties = need - greater;
    chosen = new Uint32Array(need);
    let n = 0;
    for (let j = 0; j < nc; j++) {
      const m = mags[j];
      if (m > t || (m === t && ties-- > 0)) chosen[n++] = cand[j];
    }
  }
  return mergeSorted(sure, chosen);
}

/** The k-th largest value of a (1 ≤ k ≤ a.length); reorders a. Iterative quickselect. */
export function kthLargest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1; // position in descending order
  while (hi > lo) {
    // median of three as pivot, descending partition
    const mid = (lo + hi) >>> 1;
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

function mergeSorted(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = new Uint32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < a.length && j < b.length) out[o++] = a[i] < b[j] ? a[i++] : b[j++];
  while (i < a.length) out[o++] = a[i++];
  while (j < b.length) out[o++] = b[j++];
  return out;
}

import { LITTLE_ENDIAN } from './bitio.js';
import type { Vec } from '../vec/kernels.js';

/**
 * Indices of the k entries of largest |x_i|, ascending, in O(d) without sorting.
 *
 * The bits of |x_i| as an unsigned integer order like |x_i| (IEEE-754). Large vectors take a
 * sampled threshold and one pass (see sampledTopK); otherwise, or if the sample misjudged, a
 * radix-select: a histogram of the top 16 key bits finds the bin holding the k-th largest, a
 * second pass takes everything above that bin and collects the bin's members, among which a
 * quickselect on the exact magnitudes settles the rest. Ties at the threshold go to the lowest
 * indices. NaN counts as larger than everything (its bits are), so callers that reject NaN see it.
 */
/** Below this many entries selection uses quickselect on magnitudes instead of the 2^16-bin histogram. */
const SMALL = 4096;

export function topKIndices(x: Vec, k: number): Uint32Array {
  const d = x.length;
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`topKIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  if (k === 0) return new Uint32Array(0);
  if (k === d) {
    const all = new Uint32Array(d);
    for (let i = 0; i < d; i++) all[i] = i;
    return all;
  }
  // Small vectors: a quickselect on the magnitudes beats allocating and scanning a 2^16-bin histogram.
  if (d < SMALL) {
    const all = new Uint32Array(d);
    for (let i = 0; i < d; i++) all[i] = i;
    return pickLargest(x, all, k);
  }
  // Key words: float32 bits, or the high word of each float64; Int32 (not Uint32) views, since
  // words ≥ 2^31 would leave V8's small-integer fast path.
  const f32 = x instanceof Float32Array;
  const words = f32 ? new Int32Array(x.buffer, x.byteOffset, d) : new Int32Array(x.buffer, x.byteOffset, 2 * d);
  const stride = f32 ? 1 : 2;
  const off = f32 ? 0 : LITTLE_ENDIAN ? 1 : 0;
  return (d >= 1 << 16 && sampledTopK(x, k, words, stride, off)) || histogramTopK(x, k, words, stride, off);
}

/**
 * Fast path for large d: a threshold key from a strided sample of 2^14 keys, chosen so that about
 * 1.25k + 4σ keys of the whole vector lie at or above it; one pass collects those candidates and an
 * exact selection among them finishes. Returns null (use the exact histogram path) in the unlikely
 * case the sample misjudged and fewer than k or more than 2k + 4096 candidates turned up.
 */
function sampledTopK(x: Vec, k: number, words: Int32Array, stride: number, off: number): Uint32Array | null {
  const d = x.length;
  const m = 1 << 14;
  const step = d / m;
  const sample = new Float64Array(m);
  for (let j = 0; j < m; j++) sample[j] = words[Math.floor(j * step) * stride + off] & 0x7fffffff;
  const expected = (k * m) / d;
  const rank = Math.min(m, Math.ceil(1.25 * expected + 4 * Math.sqrt(expected)) + 1);
  const threshold = kthLargest(sample, rank) | 0;
  const cap = 2 * k + 4096;
  const cand = new Uint32Array(cap);
  const ckey = new Int32Array(cap);
  let nc = 0;
  for (let i = 0, w = off; i < d; i++, w += stride) {
    const key = words[w] & 0x7fffffff;
    if (key >= threshold) {
      if (nc === cap) return null;
      ckey[nc] = key;
      cand[nc++] = i;
    }
  }
  if (nc < k) return null;
  return selectAmong(x, cand.subarray(0, nc), ckey.subarray(0, nc), k);
}

/**
 * The k entries of largest |x_i| among candidates (ascending indices with their monotone keys),
 * ascending: a histogram of the keys' top 16 bits finds the threshold bin, exact magnitudes decide
 * inside it (ties to the lowest index).
 */
function selectAmong(x: Vec, cand: Uint32Array, ckey: Int32Array, k: number): Uint32Array {
  const nc = cand.length;
  if (k === nc) return cand.slice();
  if (nc < SMALL) return pickLargest(x, cand, k);
  const hist = new Int32Array(65536);
  for (let j = 0; j < nc; j++) hist[ckey[j] >>> 15]++;
  let above = 0;
  let bin = 65535;
  for (; bin >= 0; bin--) {
    const c = hist[bin];
    if (above + c >= k) break;
    above += c;
  }
  // Exact magnitudes of the threshold bin's members decide the last k − above places.
  const members = new Uint32Array(hist[bin]);
  let nm = 0;
  for (let j = 0; j < nc; j++) if (ckey[j] >>> 15 === bin) members[nm++] = cand[j];
  const inBin = pickLargest(x, members, k - above);
  const out = new Uint32Array(k);
  let n = 0;
  let p = 0;
  for (let j = 0; j < nc; j++) {
    const b = ckey[j] >>> 15;
    if (b > bin) out[n++] = cand[j];
    else if (b === bin && p < inBin.length && inBin[p] === cand[j]) {
      out[n++] = cand[j];
      p++;
    }
  }
  return out;
}

/** Exact path: histogram of the top 16 key bits, then selection inside the threshold bin. */
function histogramTopK(x: Vec, k: number, words: Int32Array, stride: number, off: number): Uint32Array {
  const d = x.length;
  const hist = new Int32Array(65536);
  for (let i = 0, w = off; i < d; i++, w += stride) hist[(words[w] & 0x7fffffff) >>> 15]++;
  let above = 0;
  let bin = 65535;
  for (; bin >= 0; bin--) {
    const c = hist[bin];
    if (above + c >= k) break;
    above += c;
  }
  const sure = new Uint32Array(above);
  const cand = new Uint32Array(hist[bin]);
  let ns = 0;
  let nc = 0;
  for (let i = 0, w = off; i < d; i++, w += stride) {
    const b = (words[w] & 0x7fffffff) >>> 15;
    if (b > bin) sure[ns++] = i;
    else if (b === bin) cand[nc++] = i;
  }
  return mergeSorted(sure, pickLargest(x, cand, k - above));
}

/** The `need` entries of largest |x_i| among ascending candidate indices, ascending; ties to the lowest index. */
function pickLargest(x: Vec, cand: Uint32Array, need: number): Uint32Array {
  const nc = cand.length;
  if (need === nc) return cand.slice();
  const mags = new Float64Array(nc);
  for (let j = 0; j < nc; j++) {
    const a = Math.abs(x[cand[j]]);
    mags[j] = a === a ? a : Infinity; // NaN ranks above everything, as in the histogram path
  }
  const t = kthLargest(mags.slice(), need);
  let greater = 0;
  for (let j = 0; j < nc; j++) if (mags[j] > t) greater++;
  let ties = need - greater;
  const chosen = new Uint32Array(need);
  let n = 0;
  for (let j = 0; j < nc; j++) {
    const m = mags[j];
    if (m > t || (m === t && ties-- > 0)) chosen[n++] = cand[j];
  }
  return chosen;
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

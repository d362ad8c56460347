import type { Rng } from '../rng/xoshiro128.js';
import { hotSeed } from './hotrng.js';

/**
 * k distinct indices drawn uniformly without replacement from [0, d), in draw order.
 *
 * Sender and receiver call this with generators derived from the same key, so it is a pure
 * function of (generator state, d, k): Floyd's algorithm — for j = d−k … d−1 draw t uniform in
 * [0, j] and keep t, or j if t was already kept — which makes every k-subset equally likely with
 * exactly k bounded draws. The bounded draws are exact (masked rejection on a xoshiro128**
 * stream seeded from `rng`). Membership lives in a d-bit bitmap when that is small next to k
 * (d ≤ 1024·k, at most 128 bytes per kept index), otherwise in an O(k) hash set; both give the
 * same output. Cost O(k) (plus zeroing d/8 bytes on the bitmap path); the vector is never touched.
 * The order is the draw order, not sorted: gathers and scatters at random positions cost the same
 * as sorted ones, and sorting would cost more than the sampling.
 */
export function sampleIndices(rng: Rng, d: number, k: number, method: 'auto' | 'bitmap' | 'hash' = 'auto'): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) throw new RangeError(`sampleIndices: bad dimension ${d}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`sampleIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  const out = new Uint32Array(k);
  if (k === 0) return out;
  const bitmap = method === 'bitmap' || (method === 'auto' && d <= 1024 * k);
  const words = bitmap ? new Int32Array(Math.ceil(d / 32)) : null;
  const set = bitmap ? null : new IndexSet(k);
  const seed = hotSeed(rng);
  let s0 = seed[0];
  let s1 = seed[1];
  let s2 = seed[2];
  let s3 = seed[3];
  let n = 0;
  for (let j = d - k; j < d; j++) {
    // t uniform in [0, j]: draw ⌈log2(j+1)⌉-bit integers until one is ≤ j (expected < 2 draws).
    const shift = Math.clz32(j); // 32 only for j = 0, where t = 0
    let t: number;
    do {
      // xoshiro128** step (see hotrng.ts)
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const u = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ u;
      s3 = (n3 << 11) | (n3 >>> 21);
      t = shift === 32 ? 0 : r >>> shift;
    } while (t > j);
    if (words) {
      const w = t >>> 5;
      const bit = 1 << (t & 31);
      if (words[w] & bit) {
        t = j; // j is new: every earlier pick is < j
        words[j >>> 5] |= 1 << (j & 31);
      } else {
        words[w] |= bit;
      }
    } else if (!(set as IndexSet).add(t)) {
      t = j;
      (set as IndexSet).add(j);
    }
    out[n++] = t;
  }
  return out;
}

/** Open-addressing set of indices in [0, 2^32), stored as index + 1 (0 = empty). */
class IndexSet {
  private readonly table: Float64Array;
  private readonly mask: number;

  constructor(k: number) {
    let size = 16;
    while (size < 2 * k) size *= 2;
    this.table = new Float64Array(size);
    this.mask = size - 1;
  }

  /** Adds t; false if it was already present. */
  add(t: number): boolean {
    const table = this.table;
    const mask = this.mask;
    let h = Math.imul(t | 0, 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 16)) & mask;
    for (;;) {
      const e = table[h];
      if (e === 0) {
        table[h] = t + 1;
        return true;
      }
      if (e === t + 1) return false;
      h = (h + 1) & mask;
    }
  }
}

/** LSD radix sort of unsigned 32-bit keys, 11-bit digits (up to 3 passes), in place. */
export function radixSort(a: Uint32Array): Uint32Array {
  const n = a.length;
  if (n < 256) return a.sort();
  let src: Uint32Array = a;
  let dst: Uint32Array = new Uint32Array(n);
  const count = new Int32Array(2048);
  let max = 0;
  for (let i = 0; i < n; i++) if (a[i] > max) max = a[i];
  for (let shift = 0; shift < 33 && max >>> shift !== 0; shift += 11) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(src[i] >>> shift) & 2047]++;
    let sum = 0;
    for (let b = 0; b < 2048; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const v = src[i];
      dst[count[(v >>> shift) & 2047]++] = v;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== a) a.set(src);
  return a;
}

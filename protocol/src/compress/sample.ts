import type { Rng } from '../rng/xoshiro128.js';

/**
 * k distinct indices drawn uniformly without replacement from [0, d), sorted ascending.
 *
 * Sender and receiver call this with generators derived from the same key, so it must be a pure
 * function of (generator state, d, k). Cost: O(k) expected time and memory when k ≤ d/16 (Floyd's
 * algorithm with an open-addressing hash set, then a radix sort), O(d) otherwise (partial
 * Fisher–Yates). The ascending order makes gathers and scatters walk memory forwards.
 */
export function sampleIndices(rng: Rng, d: number, k: number): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) throw new RangeError(`sampleIndices: bad dimension ${d}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`sampleIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  if (k === 0) return new Uint32Array(0);
  if (k * 16 > d) return partialShuffle(rng, d, k);
  return radixSort(floyd(rng, d, k));
}

/** Floyd's algorithm: every k-subset equally likely; output in insertion order. */
function floyd(rng: Rng, d: number, k: number): Uint32Array {
  let size = 1;
  while (size < 2 * k) size *= 2;
  const mask = size - 1;
  const EMPTY = 0xffffffff; // d ≤ 2^32 − 1, so no index equals it
  const table = new Uint32Array(size).fill(EMPTY);
  const out = new Uint32Array(k);
  let n = 0;
  for (let j = d - k; j < d; j++) {
    let t = rng.nextInt(j + 1);
    // Look t up; if present use j instead (j is new: every earlier insertion is < j).
    let h = Math.imul(t, 0x9e3779b1) & mask;
    let e = table[h];
    while (e !== EMPTY && e !== t) {
      h = (h + 1) & mask;
      e = table[h];
    }
    if (e === t) {
      t = j;
      h = Math.imul(t, 0x9e3779b1) & mask;
      while (table[h] !== EMPTY) h = (h + 1) & mask;
    }
    table[h] = t;
    out[n++] = t;
  }
  return out;
}

/** First k entries of a uniformly random permutation of [0, d), sorted. */
function partialShuffle(rng: Rng, d: number, k: number): Uint32Array {
  const a = new Uint32Array(d);
  for (let i = 0; i < d; i++) a[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(d - i);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  const out = a.slice(0, k);
  return k > 1 << 12 ? radixSort(out) : out.sort();
}

/** LSD radix sort of unsigned 32-bit keys, 11-bit digits (3 passes), in place. */
export function radixSort(a: Uint32Array): Uint32Array {
  const n = a.length;
  if (n < 256) return a.sort();
  let src: Uint32Array = a;
  let dst: Uint32Array = new Uint32Array(n);
  const count = new Uint32Array(2048);
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

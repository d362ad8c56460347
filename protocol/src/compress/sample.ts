import type { Rng } from '../rng/xoshiro128.js';

/**
 * k distinct indices drawn uniformly without replacement from [0, d), sorted ascending.
 *
 * Sender and receiver call this with generators derived from the same key, so it is a pure
 * function of (generator state, d, k): Floyd's algorithm, which makes exactly k draws
 * `nextInt(j + 1)` for j = d−k … d−1 and keeps every k-subset equally likely. Membership is held in
 * a d-bit bitmap when that is small next to k (d ≤ 1024·k: at most 128 bytes per kept index,
 * scanned 32 bits at a time to emit the indices in order), otherwise in an O(k) hash set followed
 * by a radix sort. Both give the same set from the same draws, so the choice is invisible.
 * Cost: O(k) draws, plus d/32 word reads on the bitmap path; the vector itself is never touched.
 */
export function sampleIndices(rng: Rng, d: number, k: number, method: 'auto' | 'bitmap' | 'hash' = 'auto'): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) throw new RangeError(`sampleIndices: bad dimension ${d}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`sampleIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  if (k === 0) return new Uint32Array(0);
  const bitmap = method === 'bitmap' || (method === 'auto' && d <= 1024 * k);
  return bitmap ? floydBitmap(rng, d, k) : radixSort(floydHash(rng, d, k));
}

function floydBitmap(rng: Rng, d: number, k: number): Uint32Array {
  const words = new Int32Array((d + 31) >>> 5);
  for (let j = d - k; j < d; j++) {
    const t = rng.nextInt(j + 1);
    const w = t >>> 5;
    const bit = 1 << (t & 31);
    if (words[w] & bit) words[j >>> 5] |= 1 << (j & 31);
    else words[w] |= bit;
  }
  const out = new Uint32Array(k);
  let n = 0;
  for (let w = 0; w < words.length; w++) {
    let v = words[w];
    while (v !== 0) {
      const low = v & -v;
      out[n++] = w * 32 + 31 - Math.clz32(low);
      v ^= low;
    }
  }
  return out;
}

/** Floyd with an open-addressing hash set of (index + 1), 0 = empty; output in insertion order. */
function floydHash(rng: Rng, d: number, k: number): Uint32Array {
  let size = 16;
  while (size < 2 * k) size *= 2;
  const mask = size - 1;
  const table = new Float64Array(size); // exact for indices up to 2^32, no heap numbers
  const out = new Uint32Array(k);
  let n = 0;
  for (let j = d - k; j < d; j++) {
    let t = rng.nextInt(j + 1);
    let h = Math.imul(t | 0, 0x9e3779b1) >>> 0;
    h = (h ^ (h >>> 16)) & mask;
    let e = table[h];
    while (e !== 0 && e !== t + 1) {
      h = (h + 1) & mask;
      e = table[h];
    }
    if (e !== 0) {
      // t was taken: j is new (every earlier insertion is < j).
      t = j;
      h = Math.imul(t | 0, 0x9e3779b1) >>> 0;
      h = (h ^ (h >>> 16)) & mask;
      while (table[h] !== 0) h = (h + 1) & mask;
    }
    table[h] = t + 1;
    out[n++] = t;
  }
  return out;
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

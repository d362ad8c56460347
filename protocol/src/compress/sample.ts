import type { Rng } from '../rng/xoshiro128.js';
import { hotSeed } from './hotrng.js';

/**
 * k distinct indices drawn uniformly without replacement from [0, d), ascending.
 *
 * Sender and receiver call this with generators derived from the same key, so it is a pure
 * function of (generator state, d, k). The draws come from a xoshiro128** stream seeded from
 * `rng`, and every bounded draw is exact (no modulo bias). Two algorithms, chosen by (d, k) alone:
 * - k ≤ d/16 (sparse): draw k uniform indices in [0, d), radix-sort them and drop repeats; then
 *   keep drawing one at a time, skipping values already kept (binary search in the sorted draws, a
 *   small hash set for the new ones), until k are distinct, and merge. The kept set is exactly
 *   the distinct values of the i.i.d. sequence up to the draw that makes k distinct, so every
 *   k-subset is equally likely (exchangeability). Nothing of size d is touched: O(k) time and
 *   memory, and the sort runs over the k draws only, in cache. (A d-bit membership bitmap costs a
 *   cache miss per draw once d/8 bytes no longer fit in cache, which dominated at d = 10^7.)
 * - otherwise Floyd's algorithm: for j = d−k … d−1 draw t in [0, j], keep t or, if taken, j;
 *   membership in a d-bit scratch bitmap (d < 16k here, so it is small next to the output), read
 *   out in ascending order, which also clears it.
 * Ascending order makes the gathers and scatters of the k coordinates walk memory forwards.
 * `into` (length k) receives the indices instead of a new array: a caller that samples every
 * round reuses one buffer rather than allocating k fresh words each time.
 */
export function sampleIndices(rng: Rng, d: number, k: number, into?: Uint32Array): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) throw new RangeError(`sampleIndices: bad dimension ${d}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`sampleIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  if (into !== undefined && into.length !== k) throw new RangeError(`sampleIndices: output has length ${into.length}, need ${k}`);
  const out = into ?? new Uint32Array(k);
  if (k === 0) return out;
  const g = HotRng.seeded(rng);
  if (16 * k <= d) sparse(g, d, k, out);
  else floyd(g, d, k, out);
  return out;
}

/**
 * n exact uniform draws in [0, d) from a xoshiro128** stream seeded by `hotSeed(rng)`: the draws
 * `sampleIndices` starts from (exported for tests).
 */
export function uniformBelow(rng: Rng, d: number, n: number): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 1 || d > 0xffffffff) throw new RangeError(`uniformBelow: bad bound ${d}`);
  const out = new Uint32Array(n);
  new HotRng(hotSeed(rng)).fillBelow(d, out, 0, n);
  return out;
}

const ZERO_SEED = new Int32Array(4);

/** xoshiro128** with the state in fields of one monomorphic object (see hotrng.ts for the step). */
class HotRng {
  s0: number;
  s1: number;
  s2: number;
  s3: number;

  constructor(seed: Int32Array) {
    this.s0 = seed[0];
    this.s1 = seed[1];
    this.s2 = seed[2];
    this.s3 = seed[3];
  }

  /** The generator `new HotRng(hotSeed(rng))` makes, without the seed array (once per message). */
  static seeded(rng: Rng): HotRng {
    const g = new HotRng(ZERO_SEED);
    g.s0 = rng.nextU32() | 0;
    g.s1 = rng.nextU32() | 0;
    g.s2 = rng.nextU32() | 0;
    g.s3 = rng.nextU32() | 0;
    if ((g.s0 | g.s1 | g.s2 | g.s3) === 0) g.s0 = 0x9e3779b9 | 0;
    return g;
  }

  /** Fills out[from, to) with exact uniform draws in [0, d) (Lemire multiply-shift with rejection). */
  fillBelow(d: number, out: Uint32Array, from: number, to: number): void {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    // Lemire: hi = ⌊x·d / 2^32⌋ is uniform once products with (x·d mod 2^32) < (2^32 − d) mod d are
    // rejected. x·d < 2^64 is first formed in floating point (error ≤ 2^10); only when that leaves
    // hi or the rejection test in doubt (about 1 draw in 10^6, plus those near the rejection
    // threshold) is it formed exactly from 16-bit halves of x. Both paths give the same draws.
    const reject = (4294967296 - d) % d;
    const safeLo = reject + 4096;
    const safeHi = 4294967296 - 4096;
    let n = from;
    while (n < to) {
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const u = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s1 ^= n2;
      s0 ^= n3;
      s2 = n2 ^ u;
      s3 = (n3 << 11) | (n3 >>> 21);
      const p = (r >>> 0) * d;
      let hi = Math.floor(p * 2.3283064365386963e-10); // p / 2^32
      const approxLo = p - hi * 4294967296;
      if (approxLo < safeLo || approxLo > safeHi) {
        const b = (r & 0xffff) * d; // < 2^48
        const bh = Math.floor(b / 65536);
        const mid = (r >>> 16) * d + bh; // ⌊x·d / 2^16⌋ < 2^49
        hi = Math.floor(mid / 65536); // ⌊x·d / 2^32⌋
        const lo = (mid - hi * 65536) * 65536 + (b - bh * 65536); // x·d mod 2^32
        if (lo < reject) continue;
      }
      out[n++] = hi;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** One exact draw in [0, j] (masked rejection, expected < 2 words). */
  atMost(j: number): number {
    const shift = Math.clz32(j); // 32 only for j = 0, where the draw is 0
    let t: number;
    do {
      let r = Math.imul(this.s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const u = this.s1 << 9;
      const n2 = this.s2 ^ this.s0;
      const n3 = this.s3 ^ this.s1;
      this.s1 ^= n2;
      this.s0 ^= n3;
      this.s2 = n2 ^ u;
      this.s3 = (n3 << 11) | (n3 >>> 21);
      t = shift === 32 ? 0 : r >>> shift;
    } while (t > j);
    return t;
  }
}

function sparse(g: HotRng, d: number, k: number, out: Uint32Array): void {
  g.fillBelow(d, out, 0, k);
  const n = d <= BUCKETED_MAX_RATIO * k ? sortUniqueBucketed(out, d) : sortUniqueRadix(out, d);
  if (n === k) return;
  // Top up one draw at a time; the kept set is the first n entries of `out`, sorted.
  const need = k - n;
  const extra = new Uint32Array(need);
  const seen = new IndexSet(need);
  const one = new Uint32Array(1);
  let e = 0;
  while (e < need) {
    g.fillBelow(d, one, 0, 1);
    const t = one[0];
    if (contains(out, n, t) || !seen.add(t)) continue;
    extra[e++] = t;
  }
  extra.sort();
  mergeInto(out, n, extra);
}

/** Up to this d/k the bucketed bitmap sort is used (below it most buckets hold values). */
const BUCKETED_MAX_RATIO = 128;
/** Bucket width of the bucketed sort: 2^15 values, a 4 KiB bitmap that stays in L1. */
const BUCKET_BITS = 15;

/** Sorts a (values < d) ascending and drops repeats in place, by radix sort; returns the distinct count. */
function sortUniqueRadix(a: Uint32Array, d: number): number {
  sortU32(a, d);
  return dropRepeats(a);
}

/** Scatter scratch of the bucketed sort, reused between calls. */
let bucketTmp = new Uint32Array(0);
let bucketStarts = new Uint32Array(0);
const bucketBitmap = new Int32Array(1 << (BUCKET_BITS - 5));
const bucketSummary = new Int32Array(1 << (BUCKET_BITS - 10));

/**
 * Sorts a (values < d) ascending and drops repeats in place; returns the distinct count. One
 * counting-sort pass by the value's top bits into buckets of 2^15 values, then each bucket's
 * values are set in a 4 KiB bitmap and read back in order (which sorts and deduplicates at once).
 * Cost O(k + d/2^15) with every random access inside L1, against two scatter passes of a radix sort.
 */
function sortUniqueBucketed(a: Uint32Array, d: number): number {
  const n = a.length;
  const buckets = Math.ceil(d / (1 << BUCKET_BITS));
  if (bucketTmp.length < n) bucketTmp = new Uint32Array(n);
  if (bucketStarts.length < buckets + 1) bucketStarts = new Uint32Array(buckets + 1);
  const tmp = bucketTmp;
  const starts = bucketStarts;
  starts.fill(0, 0, buckets + 1);
  for (let i = 0; i < n; i++) starts[(a[i] >>> BUCKET_BITS) + 1]++;
  for (let b = 0; b < buckets; b++) starts[b + 1] += starts[b];
  for (let i = 0; i < n; i++) {
    const v = a[i];
    tmp[starts[v >>> BUCKET_BITS]++] = v;
  }
  // starts[b] is now the end of bucket b (the start of b + 1). Each bucket's values go into a
  // 2^15-bit bitmap with a 32-word summary (bit w set when word w is nonzero), so reading them back
  // visits only the nonzero words.
  const bits = bucketBitmap;
  const summary = bucketSummary;
  const low = (1 << BUCKET_BITS) - 1;
  let out = 0;
  let from = 0;
  for (let b = 0; b < buckets; b++) {
    const to = starts[b];
    if (to === from) continue;
    for (let i = from; i < to; i++) {
      const v = tmp[i] & low;
      const w = v >>> 5;
      bits[w] |= 1 << (v & 31);
      summary[w >>> 5] |= 1 << (w & 31);
    }
    const base = b * (1 << BUCKET_BITS);
    for (let sw = 0; sw < summary.length; sw++) {
      let y = summary[sw];
      if (y === 0) continue;
      summary[sw] = 0;
      while (y !== 0) {
        const yl = y & -y;
        y ^= yl;
        const w = (sw << 5) + 31 - Math.clz32(yl);
        let x = bits[w];
        bits[w] = 0;
        const wb = base + (w << 5);
        while (x !== 0) {
          const xl = x & -x;
          a[out++] = wb + 31 - Math.clz32(xl);
          x ^= xl;
        }
      }
    }
    from = to;
  }
  return out;
}

/** Floyd's algorithm with exact bounded draws; the d-bit bitmap is read out ascending. */
function floyd(g: HotRng, d: number, k: number, out: Uint32Array): void {
  const words = scratchBitmap(d);
  for (let j = d - k; j < d; j++) {
    let t = g.atMost(j);
    let w = t >>> 5;
    let bit = 1 << (t & 31);
    if (words[w] & bit) {
      t = j; // j is new: every earlier pick is < j
      w = t >>> 5;
      bit = 1 << (t & 31);
    }
    words[w] |= bit;
  }
  let n = 0;
  const nw = (d + 31) >>> 5;
  for (let w = 0; w < nw; w++) {
    let v = words[w];
    if (v === 0) continue;
    words[w] = 0;
    const base = w << 5;
    while (v !== 0) {
      const low = v & -v;
      out[n++] = base + 31 - Math.clz32(low);
      v ^= low;
    }
  }
}

/** Scratch bitmap shared by all calls (single-threaded JS: no call can interleave with another); all zero between calls. */
let scratchWords = new Int32Array(0);

function scratchBitmap(d: number): Int32Array {
  const need = (d + 31) >>> 5;
  if (scratchWords.length < need) scratchWords = new Int32Array(need);
  return scratchWords;
}

/** Radix-sort scratch, reused between calls. */
let sortTmp = new Uint32Array(0);
let sortCounts = new Uint32Array(0);

/**
 * Sorts a ascending, all values < d: LSD radix sort in passes of at most 12 bits (two passes for
 * d ≤ 2^24), native sort for short arrays.
 */
export function sortU32(a: Uint32Array<ArrayBufferLike>, d: number): void {
  const n = a.length;
  if (n <= 512) {
    a.sort();
    return;
  }
  const bits = d <= 1 ? 1 : 32 - Math.clz32(d - 1);
  const passes = Math.ceil(bits / 12);
  const width = Math.ceil(bits / passes);
  const buckets = 1 << width;
  const mask = buckets - 1;
  if (sortTmp.length < n) sortTmp = new Uint32Array(n);
  if (sortCounts.length < buckets + 1) sortCounts = new Uint32Array(buckets + 1);
  let src: Uint32Array<ArrayBufferLike> = a;
  let dst: Uint32Array<ArrayBufferLike> = sortTmp.subarray(0, n);
  const counts = sortCounts;
  for (let p = 0, shift = 0; p < passes; p++, shift += width) {
    counts.fill(0, 0, buckets + 1);
    for (let i = 0; i < n; i++) counts[((src[i] >>> shift) & mask) + 1]++;
    for (let b = 0; b < buckets; b++) counts[b + 1] += counts[b];
    for (let i = 0; i < n; i++) {
      const v = src[i];
      dst[counts[(v >>> shift) & mask]++] = v;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== a) a.set(src);
}

/** Compacts a sorted array to its distinct values in place; returns how many. */
function dropRepeats(a: Uint32Array): number {
  let n = 1;
  for (let i = 1; i < a.length; i++) {
    const v = a[i];
    if (v !== a[n - 1]) a[n++] = v;
  }
  return n;
}

/** Whether t is among the sorted a[0, n). */
function contains(a: Uint32Array, n: number, t: number): boolean {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && a[lo] === t;
}

/** Merges sorted extra into the sorted a[0, n) in place (a has room for n + extra.length). */
function mergeInto(a: Uint32Array, n: number, extra: Uint32Array): void {
  let i = n - 1;
  let j = extra.length - 1;
  let w = n + extra.length - 1;
  while (j >= 0) {
    if (i >= 0 && a[i] > extra[j]) a[w--] = a[i--];
    else a[w--] = extra[j--];
  }
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

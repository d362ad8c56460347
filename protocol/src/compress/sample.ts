import type { Rng } from '../rng/xoshiro128.js';
import { hotSeed } from './hotrng.js';

/**
 * k distinct indices drawn uniformly without replacement from [0, d), in draw order.
 *
 * Sender and receiver call this with generators derived from the same key, so it is a pure
 * function of (generator state, d, k). The draws come from a xoshiro128** stream seeded from
 * `rng`, and every bounded draw is exact (no modulo bias). Two algorithms, chosen by (d, k) alone:
 * - k ≤ d/16: draw uniform indices in [0, d) and skip repeats (about k(1 + k/2d) draws);
 * - otherwise Floyd's algorithm: for j = d−k … d−1 draw t in [0, j], keep t or, if taken, j.
 * Both make every k-subset equally likely. Membership lives in a d-bit bitmap when d ≤ 1024·k
 * (a scratch bitmap kept between calls and cleared in O(k) after use), otherwise in an O(k) hash
 * set; the two give identical output. Cost O(k); the vector itself is never touched. The order is
 * the draw order: gathers and scatters at random positions cost about the same as sorted ones, and
 * sorting would cost more than the sampling.
 */
export function sampleIndices(rng: Rng, d: number, k: number, method: 'auto' | 'bitmap' | 'hash' = 'auto'): Uint32Array {
  if (!Number.isSafeInteger(d) || d < 0 || d > 0xffffffff) throw new RangeError(`sampleIndices: bad dimension ${d}`);
  if (!Number.isSafeInteger(k) || k < 0 || k > d) throw new RangeError(`sampleIndices: need 0 ≤ k ≤ d, got k=${k}, d=${d}`);
  const out = new Uint32Array(k);
  if (k === 0) return out;
  const useBitmap = method === 'bitmap' || (method === 'auto' && d <= 1024 * k);
  const members: Membership = useBitmap ? new BitmapMembership(d) : new IndexSet(k);
  const seed = hotSeed(rng);
  try {
    if (16 * k <= d) sparseDraws(seed, d, k, members, out);
    else floyd(seed, d, k, members, out);
  } finally {
    members.clear(out);
  }
  return out;
}

interface Membership {
  /** Adds t; false if it was already present. */
  add(t: number): boolean;
  /** Forgets everything (given the indices that were added). */
  clear(added: Uint32Array): void;
}

/** Draws uniform indices in [0, d) (exact Lemire multiply-shift), skipping repeats. */
function sparseDraws(seed: Int32Array, d: number, k: number, members: Membership, out: Uint32Array): void {
  let s0 = seed[0];
  let s1 = seed[1];
  let s2 = seed[2];
  let s3 = seed[3];
  // Lemire: hi = ⌊x·d / 2^32⌋ is uniform once products with (x·d mod 2^32) < (2^32 − d) mod d are
  // rejected. x·d can exceed 2^53, so it is formed exactly from 16-bit halves of x.
  const reject = (4294967296 - d) % d;
  let n = 0;
  while (n < k) {
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
    const b = (r & 0xffff) * d; // < 2^48
    const bh = Math.floor(b / 65536);
    const mid = (r >>> 16) * d + bh; // ⌊x·d / 2^16⌋ < 2^49
    const hi = Math.floor(mid / 65536); // ⌊x·d / 2^32⌋
    const lo = (mid - hi * 65536) * 65536 + (b - bh * 65536); // x·d mod 2^32
    if (lo < reject) continue;
    if (!members.add(hi)) continue;
    out[n++] = hi;
  }
}

/** Floyd's algorithm with exact bounded draws (masked rejection). */
function floyd(seed: Int32Array, d: number, k: number, members: Membership, out: Uint32Array): void {
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
    if (!members.add(t)) {
      t = j; // j is new: every earlier pick is < j
      members.add(j);
    }
    out[n++] = t;
  }
}

/** Scratch bitmap shared by all calls (single-threaded JS: no call can interleave with another). */
let scratchWords = new Int32Array(0);

class BitmapMembership implements Membership {
  private readonly words: Int32Array;

  constructor(d: number) {
    const need = Math.ceil(d / 32);
    if (scratchWords.length < need) scratchWords = new Int32Array(need);
    this.words = scratchWords;
  }

  add(t: number): boolean {
    const w = t >>> 5;
    const bit = 1 << (t & 31);
    const v = this.words[w];
    if (v & bit) return false;
    this.words[w] = v | bit;
    return true;
  }

  clear(added: Uint32Array): void {
    const words = this.words;
    for (let i = 0; i < added.length; i++) words[added[i] >>> 5] = 0;
  }
}

/** Open-addressing set of indices in [0, 2^32), stored as index + 1 (0 = empty). */
class IndexSet implements Membership {
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

  clear(): void {
    // garbage after the call
  }
}

import type { Rng } from '../rng/xoshiro128.js';

/**
 * The random bits of the per-element stochastic compressors (natural compression, natural
 * dithering, stochastic 8-bit), one scheme shared by their WebAssembly SIMD kernels
 * (`wasm/kernels.wat`) and their plain-JS paths, so that both give the same codes:
 *
 * - four xoshiro128** lanes, lane l seeded with words 4l … 4l+3 of `laneSeed(ctx.local)` (a lane
 *   whose four words are all zero gets the fixed state `Rng` uses);
 * - element i takes 16 bits of step ⌊i/8⌋ of the lanes: lane i mod 4, the top half of the lane's
 *   32-bit word when i mod 8 < 4, the bottom half otherwise;
 * - an element whose 16 bits equal the top 16 bits of its threshold is a tie, settled after the
 *   whole vector, in index order, with one more word each from `ctx.local` (which continues after
 *   the 16 seed words).
 *
 * Four independent lanes are what a SIMD unit computes in one step; 16 bits per element keep ties
 * rare (2^−16).
 */
export function laneSeed(rng: Rng): Int32Array {
  const s = new Int32Array(16);
  for (let i = 0; i < 16; i++) s[i] = rng.nextU32() | 0;
  for (let l = 0; l < 16; l += 4) if ((s[l] | s[l + 1] | s[l + 2] | s[l + 3]) === 0) s[l] = 0x9e3779b9 | 0;
  return s;
}

/** The four lanes of the scheme in plain JS: `next8` gives the 16-bit draws of the next 8 elements. */
export class LaneBits {
  private readonly s: Int32Array;

  constructor(seed: Int32Array) {
    this.s = Int32Array.from(seed);
  }

  /** out[j] = the 16 random bits of element 8g + j, for the next group g. */
  next8(out: Int32Array): void {
    const s = this.s;
    for (let l = 0; l < 4; l++) {
      const o = 4 * l;
      const s0 = s[o];
      const s1 = s[o + 1];
      const s2 = s[o + 2];
      const s3 = s[o + 3];
      // xoshiro128** (as Rng.nextU32)
      let r = Math.imul(s1, 5);
      r = Math.imul((r << 7) | (r >>> 25), 9);
      const t = s1 << 9;
      const n2 = s2 ^ s0;
      const n3 = s3 ^ s1;
      s[o + 1] = s1 ^ n2;
      s[o] = s0 ^ n3;
      s[o + 2] = n2 ^ t;
      s[o + 3] = (n3 << 11) | (n3 >>> 21);
      out[l] = r >>> 16;
      out[l + 4] = r & 0xffff;
    }
  }
}

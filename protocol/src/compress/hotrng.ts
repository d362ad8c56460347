import type { Rng } from '../rng/xoshiro128.js';

/**
 * Seed for a xoshiro128** generator kept in locals or fields of a hot loop (RandK's index draws in
 * sample.ts), where a method call that loads and stores the state of an `Rng` per draw costs more
 * than the rest of the loop. Seeded from the caller's private generator (`ctx.local`), which keeps
 * every compression reproducible from the run seed. The step, written out where it is used, is
 * exactly `Rng.nextU32` (xoshiro128**):
 *
 *   r = rotl(s1·5, 7)·9;  t = s1 << 9;  s2 ^= s0;  s3 ^= s1;  s1 ^= s2;  s0 ^= s3;  s2 ^= t;  s3 = rotl(s3, 11)
 *
 * (The per-element compressors draw four lanes at once instead: lanes.ts.)
 */
export function hotSeed(rng: Rng): Int32Array {
  const s = new Int32Array(4);
  for (let i = 0; i < 4; i++) s[i] = rng.nextU32() | 0;
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 0x9e3779b9 | 0;
  return s;
}

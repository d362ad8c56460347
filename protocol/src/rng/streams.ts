import { Rng } from './xoshiro128.js';

/**
 * Named, keyed random streams. A stream is identified by (run seed, round, purpose, device);
 * every peer that knows the key derives the same generator, so shared draws (RandK / PermK indices,
 * the bit b_k, MARINA's coin c_k, stochastic sample indices) never travel on the wire and a replay
 * is bit-for-bit identical.
 *
 * Use `device = SERVER` (−1) or `SHARED` (−2) for draws that belong to no device.
 */
export const SERVER = -1;
export const SHARED = -2;

/** FNV-1a 32-bit hash of a string (purpose names). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkKey(x: number): void {
  if (!Number.isSafeInteger(x)) throw new RangeError(`stream key must be a safe integer, got ${x}`);
}

/** High 32-bit word of a safe integer key (the low word is `x | 0`). */
function hiWord(x: number): number {
  return Math.floor(x / 4294967296) | 0;
}

/** One lane of the key schedule: h mixed with the key words (s0, s1, r0, r1, p, d0) in order. */
function lane(h: number, s0: number, s1: number, r0: number, r1: number, p: number, d0: number): number {
  h = fmix32((h ^ s0) + 0x7f4a7c15);
  h = fmix32((h ^ s1) + Math.imul(2, 0x7f4a7c15));
  h = fmix32((h ^ r0) + Math.imul(3, 0x7f4a7c15));
  h = fmix32((h ^ r1) + Math.imul(4, 0x7f4a7c15));
  h = fmix32((h ^ p) + Math.imul(5, 0x7f4a7c15));
  return fmix32((h ^ d0) + Math.imul(6, 0x7f4a7c15));
}

/** Derives a generator from a key. Pure function of its arguments (allocates only the generator). */
export function keyedRng(seed: number, round: number, purpose: string, device: number): Rng {
  checkKey(seed);
  checkKey(round);
  checkKey(device);
  const s0 = seed | 0;
  const s1 = hiWord(seed);
  const r0 = round | 0;
  const r1 = hiWord(round);
  const d0 = device | 0;
  const p = hashString(purpose);
  // Lanes chain: lane k starts from lane k−1's result mixed with its index.
  const h0 = lane(fmix32(0x6a09e667 ^ Math.imul(1, 0x9e3779b9)), s0, s1, r0, r1, p, d0);
  const h1 = lane(fmix32(h0 ^ Math.imul(2, 0x9e3779b9)), s0, s1, r0, r1, p, d0);
  const h2 = lane(fmix32(h1 ^ Math.imul(3, 0x9e3779b9)), s0, s1, r0, r1, p, d0);
  const h3 = lane(fmix32(h2 ^ Math.imul(4, 0x9e3779b9)), s0, s1, r0, r1, p, d0);
  const rng = new Rng(h0, h1, h2, h3);
  // Discard a few outputs so that closely related keys decorrelate fully.
  for (let i = 0; i < 4; i++) rng.nextU32();
  return rng;
}

/** A run's streams: binds the run seed once. */
export class Streams {
  readonly seed: number;
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
    this.seed = seed;
  }
  rng(round: number, purpose: string, device: number): Rng {
    return keyedRng(this.seed, round, purpose, device);
  }
}

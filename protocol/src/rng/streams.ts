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

/** Splits a non-negative safe integer (or negative small integer) into two 32-bit words. */
function words(x: number): [number, number] {
  if (!Number.isSafeInteger(x)) throw new RangeError(`stream key must be a safe integer, got ${x}`);
  const lo = x | 0;
  const hi = Math.floor(x / 4294967296) | 0;
  return [lo, hi];
}

/** Derives a generator from a key. Pure function of its arguments. */
export function keyedRng(seed: number, round: number, purpose: string, device: number): Rng {
  const [s0, s1] = words(seed);
  const [r0, r1] = words(round);
  const [d0] = words(device);
  const p = hashString(purpose);
  let h = 0x6a09e667;
  const state = [0, 0, 0, 0];
  const key = [s0, s1, r0, r1, p, d0];
  for (let lane = 0; lane < 4; lane++) {
    h = fmix32(h ^ Math.imul(lane + 1, 0x9e3779b9));
    for (let i = 0; i < key.length; i++) {
      h = fmix32((h ^ key[i]) + Math.imul(i + 1, 0x7f4a7c15));
    }
    state[lane] = h;
  }
  const rng = new Rng(state[0], state[1], state[2], state[3]);
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

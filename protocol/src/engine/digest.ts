/**
 * Replica digests: a 128-bit fingerprint of a peer's replicated state after a committed round
 * (round, iteration, initialized flag, the phase that comes next, and every named vector, bit for
 * bit). Commits carry the digest before and after their application, heartbeats carry the
 * sender's, so a peer that diverged — or applied a round twice — notices at once.
 *
 * Not a cryptographic hash: its job is to detect accidental divergence, and it runs on every peer
 * after every round, so it must cost a small fraction of a round (see Hasher128: ~2.5 GB/s). A state transfer from a peer that lies
 * consistently cannot be caught by any digest the liar computes itself; state transfers are
 * therefore only asked of the aggregator or of a peer whose heartbeat advertised a better state.
 */
import type { Vec, ReplicaState } from '../methods/types.js';

export const DIGEST_BYTES = 16;

/** Int32 views of replica vectors, made once per vector (replica vectors live as long as the replica). */
const WORDS = new WeakMap<Vec, Int32Array>();

// Odd multipliers of the four lanes.
const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Incremental 128-bit hash over a stream of 32-bit words: four lanes, word i feeds lane i mod 4
 * with h ← (rotl(h, 5) ⊕ w) · P_lane, then a MurmurHash3-style finalisation mixes the lanes and the
 * length. Each step is a bijection of the lane state, so two streams that differ in one word
 * always differ in the digest; streams that differ in several words collide with probability
 * about 2^−32 per lane pattern — plenty to notice divergence, at ~1.5 ns per word.
 */
export class Hasher128 {
  private h1 = 0;
  private h2 = 0;
  private h3 = 0;
  private h4 = 0;
  private words = 0;

  constructor(seed = 0) {
    this.reset(seed);
  }

  /** Starts over with `seed` (lets one hasher serve many digests without allocating). */
  reset(seed = 0): this {
    this.h1 = seed | 0;
    this.h2 = (seed ^ 0x5bd1e995) | 0;
    this.h3 = (seed ^ 0x1b873593) | 0;
    this.h4 = (seed ^ 0xcc9e2d51) | 0;
    this.words = 0;
    return this;
  }

  word(w: number): this {
    switch (this.words++ & 3) {
      case 0:
        this.h1 = Math.imul(((this.h1 << 5) | (this.h1 >>> 27)) ^ w, P1);
        break;
      case 1:
        this.h2 = Math.imul(((this.h2 << 5) | (this.h2 >>> 27)) ^ w, P2);
        break;
      case 2:
        this.h3 = Math.imul(((this.h3 << 5) | (this.h3 >>> 27)) ^ w, P3);
        break;
      default:
        this.h4 = Math.imul(((this.h4 << 5) | (this.h4 >>> 27)) ^ w, P4);
    }
    return this;
  }

  /** A non-negative safe integer as two words. */
  uint(v: number): this {
    return this.word(v >>> 0).word(Math.floor(v / 4294967296) >>> 0);
  }

  string(s: string): this {
    this.word(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
    return this;
  }

  /** The 32-bit words of a float64 or float32 vector (bit patterns, so −0 ≠ 0 and NaN payloads count). */
  f64s(v: Vec): this {
    let w = WORDS.get(v);
    if (w === undefined) {
      w = new Int32Array(v.buffer, v.byteOffset, v.byteLength >>> 2);
      WORDS.set(v, w);
    }
    const n = w.length;
    let i = 0;
    while ((this.words & 3) !== 0 && i < n) this.word(w[i++]);
    let h1 = this.h1;
    let h2 = this.h2;
    let h3 = this.h3;
    let h4 = this.h4;
    const bulkStart = i;
    for (; i + 4 <= n; i += 4) {
      h1 = Math.imul(((h1 << 5) | (h1 >>> 27)) ^ w[i], P1);
      h2 = Math.imul(((h2 << 5) | (h2 >>> 27)) ^ w[i + 1], P2);
      h3 = Math.imul(((h3 << 5) | (h3 >>> 27)) ^ w[i + 2], P3);
      h4 = Math.imul(((h4 << 5) | (h4 >>> 27)) ^ w[i + 3], P4);
    }
    this.h1 = h1;
    this.h2 = h2;
    this.h3 = h3;
    this.h4 = h4;
    this.words += i - bulkStart;
    for (; i < n; i++) this.word(w[i]);
    return this;
  }

  /** Writes the 16-byte digest into `out` and returns it. */
  digest(out: Uint8Array = new Uint8Array(DIGEST_BYTES)): Uint8Array {
    const len = this.words;
    let h1 = this.h1 ^ len;
    let h2 = this.h2 ^ len;
    let h3 = this.h3 ^ len;
    let h4 = this.h4 ^ len;
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h3 = fmix(h3);
    h4 = fmix(h4);
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    put32(out, 0, h1);
    put32(out, 4, h2);
    put32(out, 8, h3);
    put32(out, 12, h4);
    return out;
  }
}

function put32(out: Uint8Array, at: number, h: number): void {
  out[at] = h & 0xff;
  out[at + 1] = (h >>> 8) & 0xff;
  out[at + 2] = (h >>> 16) & 0xff;
  out[at + 3] = (h >>> 24) & 0xff;
}

/** Sorted vector names of a replica (the digest and snapshots visit vectors in this order). */
export function vectorNames(replica: ReplicaState<Vec>): string[] {
  return Object.keys(replica.vectors).sort();
}

/**
 * Digest of a replica after committed round `round`, with `nextPhase` the phase the method said
 * comes next ('' when the iteration is complete). `names` = vectorNames(replica), passed in so that
 * the hot path does not sort.
 */
export function replicaDigest(
  replica: ReplicaState<Vec>,
  round: number,
  nextPhase: string,
  names: readonly string[],
  out: Uint8Array = new Uint8Array(DIGEST_BYTES),
): Uint8Array {
  const h = SHARED_HASHER.reset(0x6d617368);
  h.uint(round).uint(replica.iteration).word(replica.initialized ? 1 : 0).string(nextPhase);
  h.word(names.length);
  for (const name of names) {
    const v = replica.vectors[name];
    h.string(name).uint(v.length).f64s(v);
  }
  return h.digest(out);
}

const SHARED_HASHER = new Hasher128();

export function digestEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < DIGEST_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic order of digests (a deterministic tie-break between lineages). */
export function compareDigests(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < DIGEST_BYTES; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

const HEX_CODES = new Uint16Array(2 * DIGEST_BYTES);
const HEX_DIGITS = '0123456789abcdef';

export function digestHex(d: Uint8Array): string {
  for (let i = 0; i < DIGEST_BYTES; i++) {
    HEX_CODES[2 * i] = HEX_DIGITS.charCodeAt(d[i] >>> 4);
    HEX_CODES[2 * i + 1] = HEX_DIGITS.charCodeAt(d[i] & 15);
  }
  return String.fromCharCode.apply(null, HEX_CODES as unknown as number[]);
}

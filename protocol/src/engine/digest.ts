/**
 * Replica digests: a 128-bit fingerprint of a peer's replicated state after a committed round
 * (round, iteration, initialized flag, the phase that comes next, and every named vector, bit for
 * bit). Commits carry the digest before and after their application, heartbeats carry the
 * sender's, so a peer that diverged — or applied a round twice — notices at once.
 *
 * Not a cryptographic hash: its job is to detect accidental divergence, and it runs on every peer
 * after every round, so it must cost a small fraction of a round (MurmurHash3 x86-128 mixing over
 * the 32-bit words of the float64 data, ~1 GB/s). A state transfer from a peer that lies
 * consistently cannot be caught by any digest the liar computes itself; state transfers are
 * therefore only asked of the aggregator or of a peer whose heartbeat advertised a better state.
 */
import type { ReplicaState } from '../methods/types.js';

export const DIGEST_BYTES = 16;

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Incremental MurmurHash3 x86-128 over a stream of 32-bit words. */
export class Hasher128 {
  private h1: number;
  private h2: number;
  private h3: number;
  private h4: number;
  private readonly block = new Int32Array(4);
  private fill = 0;
  private words = 0;

  constructor(seed = 0) {
    this.h1 = this.h2 = this.h3 = this.h4 = seed | 0;
  }

  private mix(k1: number, k2: number, k3: number, k4: number): void {
    let h1 = this.h1;
    let h2 = this.h2;
    let h3 = this.h3;
    let h4 = this.h4;
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19);
    h1 = (h1 + h2) | 0;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17);
    h2 = (h2 + h3) | 0;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15);
    h3 = (h3 + h4) | 0;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13);
    h4 = (h4 + h1) | 0;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
    this.h1 = h1;
    this.h2 = h2;
    this.h3 = h3;
    this.h4 = h4;
  }

  word(w: number): this {
    this.block[this.fill++] = w;
    this.words++;
    if (this.fill === 4) {
      const b = this.block;
      this.mix(b[0], b[1], b[2], b[3]);
      this.fill = 0;
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

  /** The 32-bit words of a float64 vector (bit patterns, so −0 ≠ 0 and NaN payloads count). */
  f64s(v: Float64Array): this {
    const w = new Int32Array(v.buffer, v.byteOffset, v.length * 2);
    let i = 0;
    const n = w.length;
    while (this.fill !== 0 && i < n) this.word(w[i++]);
    const bulkStart = i;
    for (; i + 4 <= n; i += 4) this.mix(w[i], w[i + 1], w[i + 2], w[i + 3]);
    this.words += i - bulkStart;
    for (; i < n; i++) this.word(w[i]);
    return this;
  }

  /** Writes the 16-byte digest into `out` and returns it. */
  digest(out: Uint8Array = new Uint8Array(DIGEST_BYTES)): Uint8Array {
    const b = this.block;
    if (this.fill > 0) {
      for (let i = this.fill; i < 4; i++) b[i] = 0;
      this.mix(b[0], b[1], b[2], b[3]);
    }
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
    const hs = [h1, h2, h3, h4];
    for (let i = 0; i < 4; i++) {
      const h = hs[i];
      out[4 * i] = h & 0xff;
      out[4 * i + 1] = (h >>> 8) & 0xff;
      out[4 * i + 2] = (h >>> 16) & 0xff;
      out[4 * i + 3] = (h >>> 24) & 0xff;
    }
    return out;
  }
}

/** Sorted vector names of a replica (the digest and snapshots visit vectors in this order). */
export function vectorNames(replica: ReplicaState): string[] {
  return Object.keys(replica.vectors).sort();
}

/**
 * Digest of a replica after committed round `round`, with `nextPhase` the phase the method said
 * comes next ('' when the iteration is complete). `names` = vectorNames(replica), passed in so that
 * the hot path does not sort.
 */
export function replicaDigest(
  replica: ReplicaState,
  round: number,
  nextPhase: string,
  names: readonly string[],
  out: Uint8Array = new Uint8Array(DIGEST_BYTES),
): Uint8Array {
  const h = new Hasher128(0x6d617368);
  h.uint(round).uint(replica.iteration).word(replica.initialized ? 1 : 0).string(nextPhase);
  h.word(names.length);
  for (const name of names) {
    const v = replica.vectors[name];
    h.string(name).uint(v.length).f64s(v);
  }
  return h.digest(out);
}

export function digestEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < DIGEST_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lexicographic order of digests (a deterministic tie-break between lineages). */
export function compareDigests(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < DIGEST_BYTES; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

const HEX: string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export function digestHex(d: Uint8Array): string {
  let s = '';
  for (let i = 0; i < DIGEST_BYTES; i++) s += HEX[d[i]];
  return s;
}

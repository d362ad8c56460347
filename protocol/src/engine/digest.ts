/**
 * Replica digests: the SHA-256 (sha256.ts: @noble/hashes, or the host's native one) of a peer's
 * replicated state after a committed round — round, iteration, initialized flag, the phase that
 * comes next, and every named vector, bit for bit. Commits carry the digest before and after their application and are signed by the
 * aggregator that made them (trust/statements.ts), heartbeats carry the sender's, so a peer that
 * diverged — or applied a round twice — notices at once, and a state transfer is checked against a
 * digest some certified aggregator signed: a liar would have to find a SHA-256 collision.
 *
 * Cost: SHA-256 in JavaScript hashes a few hundred MB/s; the default run's replica (d = 100) is
 * ~6 KB, about 20 µs per round per peer (measured by `npm run bench`, trust rows). Node peers
 * install node:crypto's (about 10× faster), which matters for large replicas (d = 10^6: tens of MB).
 */
import { sha256Create } from './sha256.js';
import type { ReplicaState, Vec } from '../methods/types.js';

export const DIGEST_BYTES = 32;

/** Sorted vector names of a replica (the digest and snapshots visit vectors in this order). */
export function vectorNames(replica: ReplicaState<Vec>): string[] {
  return Object.keys(replica.vectors).sort();
}

const HEADER = new Uint8Array(4096);
const HEADER_VIEW = new DataView(HEADER.buffer);

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
  const h = sha256Create();
  let n = 0;
  const u32 = (v: number): void => {
    HEADER_VIEW.setUint32(n, v >>> 0, true);
    n += 4;
  };
  const str = (s: string): void => {
    u32(s.length);
    for (let i = 0; i < s.length; i++) {
      HEADER_VIEW.setUint16(n, s.charCodeAt(i), true);
      n += 2;
    }
  };
  const flush = (): void => {
    h.update(HEADER.subarray(0, n));
    n = 0;
  };
  u32(0x6d617368);
  u32(round);
  u32(Math.floor(round / 4294967296));
  u32(replica.iteration);
  u32(Math.floor(replica.iteration / 4294967296));
  u32(replica.initialized ? 1 : 0);
  str(nextPhase);
  u32(names.length);
  for (const name of names) {
    const v = replica.vectors[name];
    str(name);
    u32(v.length);
    flush();
    h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  flush();
  out.set(h.digest());
  return out;
}

export function digestEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== DIGEST_BYTES || b.length !== DIGEST_BYTES) return false;
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

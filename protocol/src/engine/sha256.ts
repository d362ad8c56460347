/**
 * SHA-256 for the engine's large hashes — replica digests (digest.ts, every peer after every
 * commit: the whole replica), commit body hashes (trust/certs.ts) and relay-tree frame hashes
 * (tree/wire.ts). The default is @noble/hashes (pure JavaScript, runs everywhere: browsers, workers,
 * the simulator); a host with a native SHA-256 installs it once with `setSha256` (the Node driver
 * does: node:crypto hashes ~2 GB/s against ~0.2 GB/s in JavaScript, which for a replica of a few
 * 8 MB vectors is most of the CPU a peer spends applying a commit). Both give the same bytes.
 */
import { sha256 } from '@noble/hashes/sha2.js';

/** An incremental SHA-256 (the subset of @noble/hashes' and node:crypto's hash objects used). */
export interface Sha256State {
  update(data: Uint8Array): unknown;
  /** The 32-byte digest; the state is not used afterwards. */
  digest(): Uint8Array;
}

export type Sha256Factory = () => Sha256State;

const noble: Sha256Factory = () => sha256.create();
let factory: Sha256Factory = noble;

/** Installs the process's SHA-256 (null: back to @noble/hashes). */
export function setSha256(f: Sha256Factory | null): void {
  factory = f ?? noble;
}

/** A new incremental SHA-256 of the installed implementation. */
export function sha256Create(): Sha256State {
  return factory();
}

/** SHA-256 of `data` (a fresh 32-byte array). */
export function sha256Of(data: Uint8Array): Uint8Array {
  const h = factory();
  h.update(data);
  const d = h.digest();
  // A plain Uint8Array the caller owns (node:crypto returns a Buffer, possibly a pool view).
  return d.constructor === Uint8Array && d.byteLength === d.buffer.byteLength ? d : new Uint8Array(d);
}

/**
 * Ed25519 in pure TypeScript (@noble/curves): the `Identity` of a browser worker, and the checks
 * of launcher signatures (run announcements, join tokens) everywhere. Node peers use node:crypto
 * for the same signatures (node/src/peer/identity.ts): same keys, same bytes, faster.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { PeerId } from '../engine/types.js';
import type { Identity } from '../ports/identity.js';
import { ed25519KeyOfPeerId } from './peer-key.js';
import { decodeToken, encodeToken, tokenStatement } from './certs.js';

export const ED25519_SIGNATURE_BYTES = 64;

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey` (32 bytes); never throws. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, secretKey.subarray(0, 32));
}

export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey.subarray(0, 32));
}

export function ed25519SecretKey(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}

/** Public keys by peer id (peer ids name their key; the map only saves the decoding). */
const KEYS = new Map<string, Uint8Array | null>();

export function keyOfPeer(peer: PeerId): Uint8Array | null {
  let k = KEYS.get(peer);
  if (k === undefined) {
    k = ed25519KeyOfPeerId(peer);
    if (KEYS.size > 65_536) KEYS.clear();
    KEYS.set(peer, k);
  }
  return k;
}

/** The Identity of a peer whose libp2p key is Ed25519 (`secretKey`: the 32-byte seed, or libp2p's 64-byte seed ‖ public key). */
export class Ed25519Identity implements Identity {
  private readonly secret: Uint8Array;

  constructor(secretKey: Uint8Array) {
    if (secretKey.length !== 32 && secretKey.length !== 64) throw new RangeError('an Ed25519 secret key has 32 (or 64) bytes');
    this.secret = secretKey.slice(0, 32);
  }

  get publicKey(): Uint8Array {
    return ed25519PublicKey(this.secret);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.secret);
  }

  verify(signer: PeerId, message: Uint8Array, signature: Uint8Array): boolean {
    const key = keyOfPeer(signer);
    return key !== null && ed25519Verify(key, message, signature);
  }
}

/** A join token for `runId` signed by the launcher's secret key, valid until `expiresAt` (ms since the Unix epoch). */
export function signToken(secretKey: Uint8Array, runId: string, expiresAt: number): Uint8Array {
  return encodeToken(expiresAt, ed25519Sign(secretKey, tokenStatement(runId, expiresAt)));
}

/** True when `token` is a launcher-signed token of `runId` not expired at `now` (ms since the Unix epoch). */
export function verifyToken(launcherKey: Uint8Array, runId: string, token: Uint8Array, now: number): boolean {
  const t = decodeToken(token);
  return t !== null && t.expiresAt >= now && ed25519Verify(launcherKey, tokenStatement(runId, t.expiresAt), t.sig);
}

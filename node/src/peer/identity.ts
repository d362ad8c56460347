/**
 * The Identity port on Node: Ed25519 with the peer's libp2p key, through node:crypto (OpenSSL),
 * several times faster than pure-JavaScript Ed25519. A peer id names its Ed25519 public key, so a
 * signer's key is read from its id (no lookup, no I/O); key objects are cached per peer.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { PeerId } from '@masha/protocol';
import type { Identity } from '@masha/protocol/ports';
import { ed25519KeyOfPeerId } from '@masha/protocol/trust';

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** A public key object from the 32 raw bytes of an Ed25519 key. */
export function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
}

/** A private key object from a 32-byte seed (or libp2p's 64-byte seed ‖ public key). */
export function ed25519PrivateKeyObject(secret: Uint8Array, publicKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(secret.subarray(0, 32)), x: b64url(publicKey) }, format: 'jwk' });
}

const PUBLIC = new Map<PeerId, KeyObject | null>();

function keyOf(peer: PeerId): KeyObject | null {
  let k = PUBLIC.get(peer);
  if (k === undefined) {
    const raw = ed25519KeyOfPeerId(peer);
    k = raw === null ? null : ed25519PublicKeyObject(raw);
    if (PUBLIC.size > 65_536) PUBLIC.clear();
    PUBLIC.set(peer, k);
  }
  return k;
}

export class NodeIdentity implements Identity {
  private readonly key: KeyObject;

  /** `raw`: libp2p's Ed25519 private key bytes (seed ‖ public key, 64 bytes). */
  constructor(raw: Uint8Array) {
    if (raw.length !== 64) throw new RangeError('a libp2p Ed25519 private key has 64 bytes (seed and public key)');
    this.key = ed25519PrivateKeyObject(raw.subarray(0, 32), raw.subarray(32));
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(cryptoSign(null, message, this.key));
  }

  verify(signer: PeerId, message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 64) return false;
    const k = keyOf(signer);
    if (k === null) return false;
    try {
      return cryptoVerify(null, message, k, signature);
    } catch {
      return false;
    }
  }
}

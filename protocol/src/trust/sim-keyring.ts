/**
 * Signatures in the simulator: a keyed MAC, cheap enough for a thousand simulated peers.
 *
 * The keyring holds one secret per peer id, derived from the keyring's own secret seed with
 * SHA-256; a signature is HMAC-SHA256(secret_p, message) truncated to 32 bytes. `signerOf(p)` gives
 * peer p's Identity, whose `sign` uses p's secret only and whose `verify` recomputes the MAC of the
 * named signer from the keyring.
 *
 * Why this is unforgeable *in the model*: a simulated peer — honest or an attacker written for a
 * test — is handed only its own Identity object and never the keyring (the simulator keeps it), so
 * the only signatures it can produce are its own, exactly as with Ed25519 where it holds only its
 * own private key. Guessing another peer's MAC succeeds with probability 2^−256. What the model
 * does not capture is the cost of real signatures: that is measured with Ed25519 separately
 * (`npm run bench`, trust rows).
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { PeerId } from '../engine/types.js';
import type { Identity } from '../ports/identity.js';
import { utf8Encode } from '../utf8.js';

export const SIM_SIGNATURE_BYTES = 32;

/** A verification done, kept for the next peer that checks the same signature. */
interface Checked {
  readonly signer: PeerId;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
  readonly ok: boolean;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SimKeyring {
  private readonly seed: Uint8Array;
  private readonly secrets = new Map<PeerId, Uint8Array>();
  /**
   * Verifications done lately, by the first byte of the signature (direct-mapped): the simulated
   * peers check the same few signatures (claims, attestations, successions) a thousand times
   * over. A hit compares signer, signature and message in full, so it returns what recomputing
   * the MAC would.
   */
  private readonly checked = new Array<Checked | undefined>(256);

  constructor(seed: number | string) {
    this.seed = sha256(utf8Encode(`masha-sim-keyring:${seed}`));
  }

  private secret(peer: PeerId): Uint8Array {
    let s = this.secrets.get(peer);
    if (s === undefined) {
      const id = utf8Encode(peer);
      const b = new Uint8Array(this.seed.length + id.length);
      b.set(this.seed, 0);
      b.set(id, this.seed.length);
      s = sha256(b);
      this.secrets.set(peer, s);
    }
    return s;
  }

  /** Peer `peer`'s signer: it signs as `peer` only. */
  signerOf(peer: PeerId): Identity {
    const secret = this.secret(peer);
    return {
      sign: (message) => hmac(sha256, secret, message),
      verify: (signer, message, signature) => this.check(signer, message, signature),
    };
  }

  private check(signer: PeerId, message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== SIM_SIGNATURE_BYTES) return false;
    const slot = signature[0];
    const c = this.checked[slot];
    if (c !== undefined && c.signer === signer && sameBytes(c.signature, signature) && sameBytes(c.message, message)) return c.ok;
    const mac = hmac(sha256, this.secret(signer), message);
    let diff = 0;
    for (let i = 0; i < SIM_SIGNATURE_BYTES; i++) diff |= mac[i] ^ signature[i];
    const ok = diff === 0;
    this.checked[slot] = { signer, signature: signature.slice(), message: message.slice(), ok };
    return ok;
  }
}

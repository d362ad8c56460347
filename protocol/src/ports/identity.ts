import type { PeerId } from '../engine/types.js';

/**
 * Who a peer is, cryptographically: it signs what this peer vouches for (commits it made as
 * aggregator, its successor lists, epoch claims, lease-expiry attestations) and checks other peers'
 * signatures by their peer ids. Both calls are synchronous and pure (same bytes in, same answer
 * out), so the sans-I/O engine can call them while it handles an event.
 *
 * Implementations (see trust/): Ed25519 with the libp2p peer key in Node (node:crypto) and in the
 * browser worker (@noble/curves), the peer id naming the public key; a keyed MAC in the simulator
 * (`SimKeyring`), where each simulated peer holds only its own signer.
 */
export interface Identity {
  /** This peer's signature of `message`. */
  sign(message: Uint8Array): Uint8Array;
  /** True when `signature` is `signer`'s signature of `message`; false for anything else (never throws). */
  verify(signer: PeerId, message: Uint8Array, signature: Uint8Array): boolean;
}

import type { PeerId } from '../engine/types.js';
import type { RelayMeta } from '../tree/relay-io.js';

export type { RelayMeta };

/** What the host tells the link about a message it hands over as frames (for accounting and logs). */
export interface OutgoingMeta {
  readonly kind: number;
  readonly epoch: number;
  readonly round: number;
  readonly phase: number;
  /** Bytes of all frames together. */
  readonly bytes: number;
}

/** Counters a link may report in its peer's status (Node: libp2p connection and stream bytes). */
export interface LinkStats {
  /** Transport-level bytes of the whole node (encryption and muxing included). */
  readonly wireSent: number;
  readonly wireReceived: number;
  /** Frames the transport refused before they reached the host (oversized, invalid gossip, …). */
  readonly refused: number;
  /** Link-specific counters for the status report (names prefixed `net-`). */
  readonly counters: Readonly<Record<string, number>>;
}

/**
 * How a host's frames leave it. Frames are bounded, self-describing and integrity-checked (see
 * frames/); the link moves them as opaque bytes: `send` to one peer (a direct stream in the
 * network), `broadcast` to every peer of the run (gossip), `relay` to one peer on the tree channel
 * (frames of a relayed broadcast, whose sender is their origin, not this peer: the receiving link
 * hands them to the host's `receiveRelayed` with the peer they came from), `publishStatus` for the
 * run's status reports. Inbound frames and connection hints go the other way, into the host's
 * `receive*` and `peer*` methods. A link never calls back into the host synchronously from these
 * methods; the frames handed to it are not modified afterwards and may be kept.
 *
 * `from` must be what the transport authenticates: the remote peer of a direct stream, the signed
 * author of a gossip message (undefined when the transport cannot say) — the relay trees accept an
 * anchor only from its authenticated origin.
 */
export interface FrameLink {
  send(to: PeerId, frames: readonly Uint8Array[], meta: OutgoingMeta): void;
  broadcast(frames: readonly Uint8Array[], meta: OutgoingMeta): void;
  /** The tree channel (absent: the link has none, and large broadcasts go by `broadcast`). */
  relay?(to: PeerId, frames: readonly Uint8Array[], meta: RelayMeta): void;
  publishStatus?(report: Uint8Array): void;
  stats?(): LinkStats;
}

import type { EngineMessage, Frame, PeerId } from '@masha/protocol';
import type { FrameLink, Scheduler } from '@masha/protocol/ports';

/**
 * What the discrete-event swarm runs on each peer: in production a `PeerHost` (the one host of the
 * round engine, which satisfies this interface as it is); in the network-model tests a small echo
 * node. The swarm gives each node its ports (`SimPorts`) when it (re)joins and hands it frames,
 * connection hints and wake-ups.
 */
export interface SimNode {
  start(): void;
  stop(): void;
  /** The scheduler's wake-up (see `Scheduler.wakeAt`). */
  wake(): void;
  /** A frame that the swarm could not decode: the node refuses and counts it. */
  receive(bytes: Uint8Array, from?: PeerId, path?: 'direct' | 'broadcast'): void;
  /**
   * A decoded frame (`size` bytes on the wire); `shared` is the same object for every recipient of
   * one broadcast; `path`: a broadcast or a point-to-point message (the host refuses a kind that
   * does not travel on it).
   */
  receiveFrame(frame: Frame, size: number, from?: PeerId, shared?: { message: EngineMessage | null }, path?: 'direct' | 'broadcast'): void;
  /** A frame of a relayed broadcast from the tree channel (`FrameLink.relay`), sent by `from` (nodes without trees lack it). */
  receiveRelayed?(bytes: Uint8Array, from: PeerId, frame?: Frame, shared?: { message: EngineMessage | null }): void;
  peerConnected(peer: PeerId): void;
  peerDisconnected(peer: PeerId): void;
}

/**
 * The peer's CPU: a FIFO server. `charge(evaluations)` keeps it busy for evaluations × the peer's
 * compute time per evaluation from when it frees up; frames the node sends meanwhile leave once it
 * is done. (The values themselves are computed at once: only the network sees the compute time.)
 */
export interface SimCpu {
  charge(evaluations: number): void;
}

export interface SimPorts {
  readonly scheduler: Scheduler;
  readonly link: FrameLink;
  readonly cpu: SimCpu;
  /** The peer's uplink rate at (re)join, kbit/s (what a runtime would measure or be told). */
  readonly uploadKbps: number;
  /** The node's run is over (it stays in the swarm, counted as done). */
  readonly done: () => void;
}

export type NodeFactory = (id: PeerId, ports: SimPorts) => SimNode;

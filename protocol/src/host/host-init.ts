/**
 * What a runtime gives the host (host/peer-host.ts): its settings (`PeerHostInit`), its ports
 * (`PeerHostPorts`) and the byte counts the host keeps (`HostBytes`).
 */
import type { RunContext } from '../engine/context.js';
import type { EngineAction, EngineRole, PeerId } from '../engine/types.js';
import type { EventSink } from '../ports/event-sink.js';
import type { Evaluator } from '../ports/evaluator.js';
import type { FrameLink } from '../ports/frame-link.js';
import type { Identity } from '../ports/identity.js';
import type { Scheduler } from '../ports/scheduler.js';
import type { HostTreeOptions } from './tree-wiring.js';

export interface PeerHostInit {
  readonly id: PeerId;
  readonly ctx: RunContext;
  readonly role?: EngineRole;
  /** Largest outgoing frame, header included (default: the frame format's 64 KiB). */
  readonly frameBytes?: number;
  /** First frame message id (Node picks a random one, so that a restarted peer's ids do not collide). */
  readonly firstMessageId?: number;
  /** Publish a status report this often (ms); 0 = never (default). */
  readonly statusIntervalMs?: number;
  /**
   * With it (ms, above statusIntervalMs), a status tick reports only when the peer's epoch,
   * aggregator, held shards or end changed, when a watcher asked (`requestStatus`), or when this
   * long has passed since the last report. Default: every tick.
   */
  readonly statusSteadyMs?: number;
  /** Oldest a partial inbound message may get (ms). Default: 4 leases. */
  readonly maxPartialAgeMs?: number;
  /** How often partial messages past their age are dropped (ms); 0 = never. Default 1000. */
  readonly expireEveryMs?: number;
  /** Inbound frames are never modified by the runtime (a one-frame body may view them). Default false. */
  readonly immutableFrames?: boolean;
  /** Allocator of outgoing frame buffers (the simulator carves them from a slab). */
  readonly alloc?: (bytes: number) => Uint8Array;
  /**
   * Private entropy of this peer (a safe integer): keys which answers it audits when it
   * aggregates, so that no holder can predict an audit (engine/trust.ts). Runtimes on real
   * networks pass fresh random bits; without it a value derived from (run, id) is used.
   */
  readonly secret?: number;
  /** The peers this host admits as members of the run (EngineOptions.admits). */
  readonly admits?: (peer: PeerId) => boolean;
  /** Most bytes of partial inbound messages held in all (default 256 MiB, at least 4 senders' budgets). */
  readonly maxBufferedBytes?: number;
  /** Called for every engine action after the host carried it out. */
  readonly onAction?: (action: EngineAction) => void;
  /** Called when the engine throws something that is not a refusal of bad input (a bug): the host stops. Default: rethrow. */
  readonly onError?: (error: Error) => void;
  /** Relay trees for large broadcasts (see `HostTreeOptions`). */
  readonly tree?: HostTreeOptions;
  /** What this peer reports for the relay trees: upload rate (kbit/s, 0 = unknown), never relay (a tab). */
  readonly capacity?: { readonly upKbps: number; readonly leaf: boolean };
  /** This peer's join token (runs whose admission policy asks for one). */
  readonly token?: Uint8Array | null;
}

export interface PeerHostPorts {
  readonly scheduler: Scheduler;
  readonly link: FrameLink;
  readonly evaluator: Evaluator;
  /** This peer's signer and the check of other peers' signatures. */
  readonly identity: Identity;
  readonly events?: EventSink;
}

/** Frame bytes by direction. */
export interface HostBytes {
  direct: number;
  broadcast: number;
  received: number;
  /** Frames sent on the tree channel (relayed broadcasts: this peer's forwards and repairs, or the origin's copies). */
  relayed: number;
}

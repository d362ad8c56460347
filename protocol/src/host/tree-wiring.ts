/**
 * The relay trees inside a host (peer-host.ts): builds the host's `TreeRelay` (tree/relay.ts) with
 * the run's settings and wires its `TreeIO` to the host — frames out on the link's tree channel,
 * control messages framed and sent like the engine's, checked frames into the host's reassembler,
 * milestones into its records, its wake-up into the host's timer table — and keeps the ROSTER
 * messages this peer published, to re-send one to a peer that missed it.
 */
import { maxTreeFrames, type RunContext } from '../engine/context.js';
import { ENGINE_CODEC, MSG } from '../engine/messages.js';
import type { EngineEvent, EngineMessage, PeerId } from '../engine/types.js';
import type { Frame } from '../frames/frame.js';
import { TreeRelay, type ControlHeader, type RelayMeta, type SharedMessage, type TreeCounter } from '../tree/relay.js';
import type { TreeKind } from '../tree/wire.js';
import type { HostRecord, RecordKind } from './records.js';

/** Broadcast kinds the relay trees may carry (the roster itself always travels by gossip). */
const TREE_KINDS: ReadonlySet<number> = new Set([MSG.ANNOUNCE, MSG.OPEN, MSG.COMMIT]);

/** The relay trees' settings of one host. */
export interface HostTreeOptions {
  /** Use the relay trees when the run does and the link has a tree channel (default true). */
  readonly enabled?: boolean;
  /** SHA-256 of a frame (default: @noble/hashes; Node passes its native one, the simulator a cached one). */
  readonly hash?: (frame: Uint8Array) => Uint8Array;
}

/** What the relay needs of its host. */
export interface TreeHost {
  readonly id: PeerId;
  readonly ctx: RunContext;
  /** The records the host's sink wants. */
  readonly wants: ReadonlySet<RecordKind>;
  now(): number;
  /** Frames on the link's tree channel (counted as relayed bytes; nothing once stopped). */
  relay(to: PeerId, frames: readonly Uint8Array[], meta: RelayMeta): void;
  /** A message to one peer on its direct path. */
  send(to: PeerId, message: EngineMessage): void;
  /** A message to every peer by gossip (never down the trees). */
  gossip(message: EngineMessage): void;
  /** A checked frame of a relayed broadcast, into the host's reassembler. */
  reassemble(frame: Frame, shared: SharedMessage | undefined): void;
  dispatch(event: EngineEvent): void;
  record(r: HostRecord): void;
  /** The relay's wake-up at t (Infinity: none). */
  wakeAt(t: number): void;
  bump(name: TreeCounter, n: number): void;
}

/** The ROSTER messages this peer published, newest last (a few, for broadcasts in flight). */
export class RosterMessages {
  private readonly list: EngineMessage[] = [];

  keep(message: EngineMessage): void {
    this.list.push(message);
    if (this.list.length > 3) this.list.shift();
  }

  find(epoch: number, version: number): EngineMessage | undefined {
    return this.list.find((r) => r.epoch === epoch && rosterVersionOf(r) === version);
  }
}

/** The host's relay, wired to it. */
export function createTreeRelay(host: TreeHost, hash: (frame: Uint8Array) => Uint8Array, rosters: RosterMessages): TreeRelay {
  const ctx = host.ctx;
  const control = (kind: TreeKind, h: ControlHeader, body: Uint8Array): EngineMessage => ({
    kind,
    runId: ctx.runId,
    epoch: h.epoch,
    round: h.round,
    phase: h.phase,
    sender: host.id,
    codec: ENGINE_CODEC,
    body,
  });
  return new TreeRelay(
    {
      self: host.id,
      now: () => host.now(),
      relay: (to, frames, meta) => host.relay(to, frames, meta),
      sendControl: (to, kind, h, body) => {
        if (to !== host.id) host.send(to, control(kind, h, body));
      },
      broadcastControl: (kind, h, body) => host.gossip(control(kind, h, body)),
      deliver: (frame, _size, shared) => host.reassemble(frame, shared),
      resendRoster: (to, epoch, version) => {
        const m = rosters.find(epoch, version);
        if (m !== undefined && to !== host.id) host.send(to, m);
      },
      inbound: (kind, epoch, round) => host.dispatch({ type: 'inbound', kind, epoch, round }),
      milestone: (what, b, stripe) => {
        if (host.wants.has('tree')) {
          host.record({
            ev: 'tree',
            peer: host.id,
            what,
            origin: b.origin,
            kind: b.kind,
            epoch: b.epoch,
            round: b.round,
            have: b.have,
            frames: b.count,
            stripe,
          });
        }
      },
      wakeAt: (t) => host.wakeAt(t),
      count: (name, n = 1) => host.bump(name, n),
      hash,
    },
    {
      stallMs: ctx.broadcast.stallMs,
      maxAgeMs: 2 * ctx.timing.leaseMs,
      minBytes: ctx.broadcast.minBytes,
      maxFrames: maxTreeFrames(ctx),
      kinds: TREE_KINDS,
    },
  );
}

/** The version of a ROSTER message (its body's first varint). */
function rosterVersionOf(m: EngineMessage): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < m.body.length && i < 5; i++) {
    const b = m.body[i];
    v += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 128;
  }
  return v;
}

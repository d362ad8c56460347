import { decodeFrame, keyedRng, SHARED, type EngineMessage, type Frame, type PeerId } from '@masha/protocol';
import { type Rng } from '@masha/protocol/rng';
import type { FrameLink, OutgoingMeta, RelayMeta, Scheduler } from '@masha/protocol/ports';
import { EventQueue } from './event-queue.js';
import { logTime, type EventSink } from './event-log.js';
import { DEFAULT_LINK, frameLost, LinkState, propagationDelay, type LinkProfile } from './link-model.js';
import type { NodeFactory, SimCpu, SimNode, SimPorts } from './node.js';
import { MAIN_GROUP, type JoinEvent, type TraceEvent } from '../trace/schema.js';

/**
 * The discrete-event swarm: it runs one node per peer — a real `PeerHost` in production — in
 * virtual time, and is each node's runtime: its scheduler, its frame link and its CPU.
 *
 * - Clock: an `EventQueue` ordered by (virtual ms, insertion sequence); nothing reads a wall clock.
 * - Randomness: one keyed stream (seed, 0, 'sim:net', SHARED) for jitter, loss and relay layouts,
 *   consumed in event order, so a run is a pure function of (peers, trace, seed).
 * - Network: every frame a node hands its link crosses, per hop, the sender's uplink queue
 *   (bandwidth), the propagation delay (latencies + jitter), a loss draw, and the receiver's
 *   downlink queue; the swarm decodes it (once per broadcast frame: relayed frames are
 *   byte-identical) and hands it to the receiving node, which reassembles it. `send` is one hop;
 *   `broadcast` is gossip fan-out down a relay tree (see relay-tree.ts; `relay` below inlines
 *   `childRange`), so the broadcaster uploads at most `fanout` copies whatever the swarm size.
 *   The tree channel (`FrameLink.relay`, the protocol's own striped relay trees of large
 *   broadcasts, protocol/src/tree/) is one hop per call like `send`, delivered to the node's
 *   `receiveRelayed`; a frame relayed on (the same bytes) is decoded once.
 * - Compute: a peer's CPU is a FIFO server (`SimCpu`): work of k operator evaluations keeps it
 *   busy for k · computeMs from when it frees up, and every frame the peer sends while it is busy
 *   leaves when it is done (an answer cannot leave before it is computed; a single-threaded peer's
 *   other traffic waits too). The node's own state advances at once (the values are computed
 *   when asked): only the network sees the compute time.
 * - Timers: each node asks for one wake-up at a time (`Scheduler.wakeAt`); a newer request
 *   replaces the older, a crash discards it.
 * - Membership: `join` starts a fresh node (no state) and, after t = 0, delivers transport hints
 *   (peer-connected) between the joiner and every reachable peer; `leave` delivers
 *   peer-disconnected to every reachable peer; `crash` is silent. `partition` moves a peer into a
 *   named group — frames only flow within a group — and `heal` moves it (or everyone) back.
 */

export interface SwarmObserver {
  /** Called when a peer joins or goes away (after the change). */
  onMembership?(peer: PeerId, event: 'join' | 'leave' | 'crash', now: number, alive: number): void;
}

export interface SwarmOptions {
  readonly seed: number;
  /** Builds the node of a peer when it (re)joins, with the ports the swarm gives it. */
  readonly createNode: NodeFactory;
  /** Link profile of peers that do not name one (default DEFAULT_LINK). */
  readonly link?: LinkProfile;
  /** Relay-tree fan-out of broadcasts (gossipsub's mesh degree D; default 6). */
  readonly fanout?: number;
  /** Event log (one JSON line per send, broadcast, drop and membership event); none by default. */
  readonly log?: EventSink;
  readonly observer?: SwarmObserver;
  /** Deliver peer-connected / peer-disconnected hints on join and leave (default true). */
  readonly hints?: boolean;
}

/** Cumulative network counters of a swarm run. */
export interface SwarmStats {
  /** Discrete events processed. */
  events: number;
  /** Messages sent point to point (`send`), and their wire bytes (frames with headers, first hop). */
  messagesSent: number;
  uplinkBytes: number;
  /** Broadcasts originated, and their wire bytes counted once per broadcast. */
  broadcasts: number;
  downlinkBytes: number;
  /** Frames put on any link (every hop of every relay tree), and their bytes. */
  framesSent: number;
  wireBytes: number;
  /** Frames lost on a link, dropped at a dead/partitioned receiver, or undecodable at the receiver. */
  framesLost: number;
  framesDropped: number;
  framesRejected: number;
  /** Sends to peers that are gone or unreachable (nothing was transmitted). */
  unreachable: number;
  /** Wake-ups delivered to nodes. */
  wakes: number;
  /** Frames put on the tree channel (every hop of the protocol's relay trees), and their bytes. */
  relayedFrames: number;
  relayedBytes: number;
}

/** More events than this at one virtual instant means a zero-delay livelock: the run is aborted. */
export const MAX_EVENTS_PER_INSTANT = 1_000_000;

const ARRIVE = 0;
const DELIVER = 1;
const WAKE = 2;
const TRACE = 3;

interface Broadcast {
  /** order[0] = origin, then the recipients in this broadcast's random layout. */
  readonly order: number[];
  readonly origin: SimPeer;
  /**
   * Decoded frames by frame index. Decoding is a pure function of the bytes and a relayed frame
   * reaches every recipient byte-identical, so each distinct frame is decoded once (at its first
   * recipient) and the result reused; every recipient still reassembles on its own.
   */
  readonly decoded: (Frame | undefined)[];
  readonly undecodable: boolean[];
  /** The message as the first recipient reassembled it (see `SimNode.receiveFrame`). */
  readonly shared: { message: EngineMessage | null };
}

interface FrameEvent {
  /** ARRIVE, then reused as the DELIVER event of the same frame. */
  k: typeof ARRIVE | typeof DELIVER;
  readonly to: SimPeer;
  readonly from: SimPeer;
  readonly bytes: Uint8Array;
  /** Relay tree of a broadcast frame, and the receiver's position in it; null for point to point. */
  readonly bc: Broadcast | null;
  /** Sent on the tree channel (`FrameLink.relay`). */
  readonly tree: boolean;
  readonly pos: number;
  /** Index of the frame within its message. */
  readonly fi: number;
}
interface WakeEvent {
  readonly k: typeof WAKE;
  readonly peer: SimPeer;
  readonly inc: number;
  readonly token: number;
}
interface TraceQueued {
  readonly k: typeof TRACE;
  readonly ev: TraceEvent;
}
type SimEvent = FrameEvent | WakeEvent | TraceQueued;

class SimPeer {
  readonly idx: number;
  readonly id: PeerId;
  /** JSON-escaped id, for log lines. */
  readonly json: string;
  node: SimNode | null = null;
  alive = false;
  /** Incarnation: bumped on every (re)join and departure, invalidating wake-ups. */
  inc = 0;
  done = false;
  group = MAIN_GROUP;
  link: LinkState;
  wakeToken = 0;
  /** When the peer's CPU is done with the work charged so far (its frames leave no earlier). */
  cpuFreeAt = 0;
  /** Bytes this peer put on its uplink (all incarnations). */
  uploaded = 0;

  constructor(idx: number, id: PeerId, link: LinkProfile) {
    this.idx = idx;
    this.id = id;
    this.json = JSON.stringify(id);
    this.link = new LinkState(link);
  }
}

function linkFromJoin(base: LinkProfile, ev: TraceEvent): LinkProfile {
  if (ev.event !== 'join') return base;
  return {
    computeMs: ev.computeMs ?? base.computeMs,
    uplinkMbps: ev.uplinkMbps ?? base.uplinkMbps,
    downlinkMbps: ev.downlinkMbps ?? base.downlinkMbps,
    latencyMs: ev.latencyMs ?? base.latencyMs,
    jitterMs: ev.jitterMs ?? base.jitterMs,
    loss: ev.loss ?? base.loss,
  };
}

export class Swarm {
  readonly stats: SwarmStats = {
    events: 0,
    messagesSent: 0,
    uplinkBytes: 0,
    broadcasts: 0,
    downlinkBytes: 0,
    framesSent: 0,
    wireBytes: 0,
    framesLost: 0,
    framesDropped: 0,
    framesRejected: 0,
    unreachable: 0,
    wakes: 0,
    relayedFrames: 0,
    relayedBytes: 0,
  };
  /** Decoded tree-channel frames by their bytes (a relayed frame is the same bytes at every hop). */
  private readonly treeDecoded = new WeakMap<Uint8Array, Frame | null>();
  /** Frames of relayed broadcasts already counted as broadcast (downlink) bytes. */
  private readonly treeCounted = new WeakSet<Uint8Array>();
  /**
   * One reassembled message per relayed broadcast, shared by its recipients (as for gossip
   * broadcasts: a large commit every peer keeps in its log is held once), by (origin, epoch,
   * round, kind, message id); the newest few are kept.
   */
  private readonly treeShared = new Map<string, { message: EngineMessage | null }>();

  private readonly queue = new EventQueue<SimEvent>();
  private readonly rng: Rng;
  private readonly createNode: NodeFactory;
  private readonly baseLink: LinkProfile;
  private readonly fanout: number;
  private readonly log: EventSink | null;
  private readonly observer: SwarmObserver | null;
  private readonly hints: boolean;

  private readonly peers: SimPeer[] = [];
  private readonly byId = new Map<PeerId, SimPeer>();
  private aliveCount = 0;
  private activeCount = 0; // alive and not done
  private partitioned = 0; // alive peers outside the main group
  /** Present peers in join order (rebuilt lazily after membership changes). */
  private aliveList: SimPeer[] = [];
  private aliveDirty = false;

  constructor(options: SwarmOptions) {
    this.rng = keyedRng(options.seed, 0, 'sim:net', SHARED);
    this.createNode = options.createNode;
    this.baseLink = options.link ?? DEFAULT_LINK;
    this.fanout = options.fanout ?? 6;
    if (!Number.isInteger(this.fanout) || this.fanout < 1) throw new RangeError(`fanout must be a positive integer, got ${this.fanout}`);
    this.log = options.log ?? null;
    this.observer = options.observer ?? null;
    this.hints = options.hints ?? true;
  }

  /** Current virtual time in ms. */
  get now(): number {
    return this.queue.now;
  }

  /** Peers currently present. */
  get alive(): number {
    return this.aliveCount;
  }

  /** Present peers that have not reported `done`. */
  get active(): number {
    return this.activeCount;
  }

  /** Pending discrete events. */
  get pendingEvents(): number {
    return this.queue.size;
  }

  /** The node of a present peer (for inspection), else null. */
  nodeOf(id: PeerId): SimNode | null {
    const p = this.byId.get(id);
    return p !== undefined && p.alive ? p.node : null;
  }

  /** Bytes a peer has put on its uplink so far (0 for unknown peers). */
  uploadedBytes(id: PeerId): number {
    return this.byId.get(id)?.uploaded ?? 0;
  }

  /** Ids of present peers, in join order. */
  aliveIds(): PeerId[] {
    const out: PeerId[] = [];
    for (const p of this.peers) if (p.alive) out.push(p.id);
    return out;
  }

  /**
   * Adds the initial population at the current time, without connection hints: every peer is
   * registered first, then each node is started in the given order. A join event's link fields
   * override the default link.
   */
  addInitialPeers(peers: readonly (PeerId | JoinEvent)[]): void {
    const added = peers.map((p) => (typeof p === 'string' ? this.register(p, this.baseLink) : this.register(p.peer, linkFromJoin(this.baseLink, p))));
    for (const p of added) if (p.alive) (p.node as SimNode).start();
  }

  /** Schedules trace events (times in seconds) into the virtual timeline. */
  scheduleTrace(events: readonly TraceEvent[]): void {
    for (const ev of events) this.queue.push(ev.t * 1000, { k: TRACE, ev });
  }

  /** Applies one trace event now. */
  apply(ev: TraceEvent): void {
    switch (ev.event) {
      case 'join':
        this.join(ev.peer, linkFromJoin(this.baseLink, ev), this.hints);
        break;
      case 'leave':
      case 'crash':
        this.depart(ev.peer, ev.event);
        break;
      case 'slow': {
        const p = this.present(ev.peer, 'slow');
        p.link.setSlow(ev.factor);
        this.logLine(`{"t":${logTime(this.now)},"ev":"slow","peer":${p.json},"factor":${ev.factor}}`);
        break;
      }
      case 'partition': {
        const p = this.present(ev.peer, 'partition');
        this.setGroup(p, ev.group);
        this.logLine(`{"t":${logTime(this.now)},"ev":"partition","peer":${p.json},"group":${JSON.stringify(ev.group)}}`);
        break;
      }
      case 'heal':
        if (ev.peer !== undefined) {
          const p = this.present(ev.peer, 'heal');
          this.setGroup(p, MAIN_GROUP);
          this.logLine(`{"t":${logTime(this.now)},"ev":"heal","peer":${p.json}}`);
        } else {
          for (const p of this.peers) if (p.alive) this.setGroup(p, MAIN_GROUP);
          this.logLine(`{"t":${logTime(this.now)},"ev":"heal","peer":null}`);
        }
        break;
    }
  }

  /**
   * Processes events until `stop()` is true (checked after each event), every present peer is done,
   * the queue is empty, the next event lies beyond `untilMs`, or `maxEvents` were processed.
   * Returns why it stopped.
   */
  run(options: { untilMs?: number; maxEvents?: number; stop?: () => boolean } = {}): 'done' | 'idle' | 'time' | 'events' | 'stopped' {
    const until = options.untilMs ?? Number.POSITIVE_INFINITY;
    const maxEvents = options.maxEvents ?? Number.POSITIVE_INFINITY;
    const stop = options.stop;
    let n = 0;
    let instant = this.now;
    let atInstant = 0;
    for (;;) {
      if (this.aliveCount > 0 && this.activeCount === 0) return 'done';
      if (this.queue.size === 0) return 'idle';
      if (this.queue.peekTime() > until) return 'time';
      if (n >= maxEvents) return 'events';
      const ev = this.queue.pop() as SimEvent;
      n++;
      if (this.queue.now === instant) {
        if (++atInstant > MAX_EVENTS_PER_INSTANT) {
          throw new Error(`simulation livelock: more than ${MAX_EVENTS_PER_INSTANT} events at t=${instant} ms (last: ${describe(ev)})`);
        }
      } else {
        instant = this.queue.now;
        atInstant = 0;
      }
      this.stats.events++;
      this.process(ev);
      if (stop !== undefined && stop()) return 'stopped';
    }
  }

  // ---------------------------------------------------------------- membership

  private present(id: PeerId, what: string): SimPeer {
    const p = this.byId.get(id);
    if (p === undefined || !p.alive) throw new RangeError(`${what}: peer "${id}" is not present`);
    return p;
  }

  private join(id: PeerId, link: LinkProfile, hints: boolean): void {
    const p = this.register(id, link);
    (p.node as SimNode).start();
    if (hints) {
      for (const q of this.peers) {
        if (q === p || !q.alive || q.group !== p.group) continue;
        q.node?.peerConnected(p.id);
        p.node?.peerConnected(q.id);
      }
    }
  }

  /** Creates (or revives) a peer record with a fresh node; does not start it. */
  private register(id: PeerId, link: LinkProfile): SimPeer {
    let p = this.byId.get(id);
    if (p !== undefined && p.alive) throw new RangeError(`join: peer "${id}" is already present`);
    if (p === undefined) {
      p = new SimPeer(this.peers.length, id, link);
      this.peers.push(p);
      this.byId.set(id, p);
    } else {
      p.link = new LinkState(link);
    }
    const now = this.now;
    p.alive = true;
    p.inc++;
    p.done = false;
    p.group = MAIN_GROUP;
    p.cpuFreeAt = 0;
    p.node = this.createNode(id, this.portsOf(p));
    this.aliveCount++;
    this.activeCount++;
    this.aliveDirty = true;
    this.logLine(`{"t":${logTime(now)},"ev":"join","peer":${p.json}}`);
    this.observer?.onMembership?.(id, 'join', now, this.aliveCount);
    return p;
  }

  /** The ports of one incarnation of a peer: calls from an older incarnation are ignored. */
  private portsOf(p: SimPeer): SimPorts {
    const inc = p.inc;
    const scheduler: Scheduler = {
      now: () => this.queue.now,
      wakeAt: (t) => {
        if (p.inc !== inc) return;
        const token = ++p.wakeToken;
        if (t === Number.POSITIVE_INFINITY) return;
        const now = this.queue.now;
        this.queue.push(t > now ? t : now, { k: WAKE, peer: p, inc, token });
      },
    };
    const link: FrameLink = {
      send: (to, frames, meta) => {
        if (p.inc === inc && p.alive) this.send(p, to, frames, meta);
      },
      broadcast: (frames, meta) => {
        if (p.inc === inc && p.alive) this.broadcast(p, frames, meta);
      },
      relay: (to, frames, meta) => {
        if (p.inc === inc && p.alive) this.relayTo(p, to, frames, meta);
      },
    };
    const cpu: SimCpu = {
      charge: (evaluations) => {
        if (p.inc !== inc) return;
        const cost = p.link.computeTime(evaluations);
        if (cost <= 0) return;
        const now = this.queue.now;
        p.cpuFreeAt = (p.cpuFreeAt > now ? p.cpuFreeAt : now) + cost;
      },
    };
    const done = (): void => {
      if (p.inc !== inc || p.done || !p.alive) return;
      p.done = true;
      this.activeCount--;
    };
    return { scheduler, link, cpu, done, uploadKbps: p.link.profile.uplinkMbps * 1000 };
  }

  private depart(id: PeerId, how: 'leave' | 'crash'): void {
    const p = this.present(id, how);
    const now = this.now;
    p.alive = false;
    p.inc++;
    p.node?.stop();
    p.node = null;
    this.aliveCount--;
    this.aliveDirty = true;
    if (!p.done) this.activeCount--;
    const group = p.group;
    if (group !== MAIN_GROUP) this.partitioned--;
    p.group = MAIN_GROUP;
    this.logLine(`{"t":${logTime(now)},"ev":${JSON.stringify(how)},"peer":${p.json}}`);
    this.observer?.onMembership?.(id, how, now, this.aliveCount);
    // A graceful leave closes the leaver's connections: the peers it could reach are told.
    if (how === 'leave' && this.hints) {
      for (const q of this.peers) if (q.alive && q.group === group) q.node?.peerDisconnected(p.id);
    }
  }

  private setGroup(p: SimPeer, group: string): void {
    if (p.group === group) return;
    if (p.group !== MAIN_GROUP) this.partitioned--;
    if (group !== MAIN_GROUP) this.partitioned++;
    p.group = group;
  }

  // ---------------------------------------------------------------- events

  private process(ev: SimEvent): void {
    switch (ev.k) {
      case ARRIVE:
        this.arrive(ev);
        break;
      case DELIVER:
        this.deliver(ev);
        break;
      case WAKE: {
        const p = ev.peer;
        if (!p.alive || p.inc !== ev.inc || p.wakeToken !== ev.token) return;
        this.stats.wakes++;
        (p.node as SimNode).wake();
        break;
      }
      case TRACE:
        this.apply(ev.ev);
        break;
    }
  }

  /** A frame reached the receiver's access link: queue it on the downlink. */
  private arrive(ev: FrameEvent): void {
    const to = ev.to;
    if (!to.alive) return this.dropFrame(ev, 'dead');
    if (to.group !== ev.from.group) return this.dropFrame(ev, 'partition');
    const now = this.now;
    const done = to.link.receive(now, ev.bytes.length);
    ev.k = DELIVER;
    if (done === now) this.deliver(ev);
    else this.queue.push(done, ev);
  }

  /** A frame is fully received: decode, relay (broadcast trees), hand to the node to reassemble. */
  private deliver(ev: FrameEvent): void {
    const to = ev.to;
    const node = to.node;
    if (!to.alive || node === null) return this.dropFrame(ev, 'dead');
    if (ev.tree) {
      let f = this.treeDecoded.get(ev.bytes);
      if (f === undefined) {
        try {
          f = decodeFrame(ev.bytes);
        } catch {
          f = null;
        }
        this.treeDecoded.set(ev.bytes, f);
      }
      if (f === null || node.receiveRelayed === undefined) {
        this.stats.framesRejected++;
        node.receive(ev.bytes, ev.from.id);
        return;
      }
      const key = `${f.sender}\u0000${f.epoch}:${f.round}:${f.phase}:${f.kind}:${f.messageId}`;
      let shared = this.treeShared.get(key);
      if (shared === undefined) {
        shared = { message: null };
        this.treeShared.set(key, shared);
        if (this.treeShared.size > 64) this.treeShared.delete(this.treeShared.keys().next().value as string);
      }
      node.receiveRelayed(ev.bytes, ev.from.id, f, shared);
      return;
    }
    const origin = ev.bc !== null ? ev.bc.origin : ev.from;
    const bc = ev.bc;
    let frame: Frame | undefined = bc !== null ? bc.decoded[ev.fi] : undefined;
    if (frame === undefined && !(bc !== null && bc.undecodable[ev.fi])) {
      try {
        frame = decodeFrame(ev.bytes);
        if (bc !== null) bc.decoded[ev.fi] = frame;
      } catch {
        if (bc !== null) bc.undecodable[ev.fi] = true;
      }
    }
    if (bc !== null) this.relay(to, bc, ev.pos, ev.bytes, ev.fi);
    if (frame === undefined) {
      // The node refuses it (and counts it) as it would any undecodable frame.
      this.stats.framesRejected++;
      node.receive(ev.bytes, origin.id, bc !== null ? 'broadcast' : 'direct');
      return;
    }
    node.receiveFrame(frame, ev.bytes.length, origin.id, bc !== null ? bc.shared : undefined, bc !== null ? 'broadcast' : 'direct');
  }

  private dropFrame(ev: FrameEvent, reason: string): void {
    this.stats.framesDropped++;
    this.logLine(`{"t":${logTime(this.now)},"ev":"drop","peer":${ev.to.json},"from":${ev.from.json},"reason":"${reason}","bytes":${ev.bytes.length}}`);
  }

  // ---------------------------------------------------------------- the link

  private send(from: SimPeer, toId: PeerId, frames: readonly Uint8Array[], meta: OutgoingMeta): void {
    const now = this.now;
    const to = this.byId.get(toId);
    this.stats.messagesSent++;
    this.stats.uplinkBytes += meta.bytes;
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"send","peer":${from.json},"to":${JSON.stringify(toId)},"kind":${meta.kind},"epoch":${meta.epoch},"round":${meta.round},"phase":${meta.phase},"frames":${frames.length},"bytes":${meta.bytes}}`,
      );
    }
    if (to === undefined || !to.alive) {
      this.stats.unreachable++;
      this.logLine(`{"t":${logTime(now)},"ev":"drop","peer":${JSON.stringify(toId)},"from":${from.json},"reason":"unreachable","bytes":${meta.bytes}}`);
      return;
    }
    for (let i = 0; i < frames.length; i++) this.hop(from, to, frames[i], null, 0, i, false);
  }

  /** Frames on the tree channel: one hop each, like `send`, delivered to `receiveRelayed`. */
  private relayTo(from: SimPeer, toId: PeerId, frames: readonly Uint8Array[], meta: RelayMeta): void {
    const now = this.now;
    const to = this.byId.get(toId);
    if (meta.originated) {
      for (const f of frames) {
        if (this.treeCounted.has(f)) continue;
        this.treeCounted.add(f);
        this.stats.downlinkBytes += f.length;
      }
    }
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"relay","peer":${from.json},"to":${JSON.stringify(toId)},"kind":${meta.kind},"epoch":${meta.epoch},"round":${meta.round},"phase":${meta.phase},"frames":${frames.length},"bytes":${meta.bytes}}`,
      );
    }
    if (to === undefined || !to.alive) {
      this.stats.unreachable++;
      this.logLine(`{"t":${logTime(now)},"ev":"drop","peer":${JSON.stringify(toId)},"from":${from.json},"reason":"unreachable","bytes":${meta.bytes}}`);
      return;
    }
    for (let i = 0; i < frames.length; i++) {
      this.stats.relayedFrames++;
      this.stats.relayedBytes += frames[i].length;
      this.hop(from, to, frames[i], null, 0, i, true);
    }
  }

  private broadcast(from: SimPeer, frames: readonly Uint8Array[], meta: OutgoingMeta): void {
    const now = this.now;
    // Reachable recipients: present peers in the sender's group (a plain array: typed-array
    // allocations are far costlier in V8, and this one lives until the broadcast is relayed).
    if (this.aliveDirty) {
      this.aliveList = this.peers.filter((q) => q.alive);
      this.aliveDirty = false;
    }
    const alive = this.aliveList;
    const order: number[] = [from.idx];
    const anyPartition = this.partitioned > 0;
    for (let i = 0; i < alive.length; i++) {
      const q = alive[i];
      if (q === from || (anyPartition && q.group !== from.group)) continue;
      order.push(q.idx);
    }
    const n = order.length;
    // Random layout of the recipients (positions 1..n−1).
    for (let i = n - 1; i > 1; i--) {
      const j = 1 + this.rng.nextInt(i);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    this.stats.broadcasts++;
    this.stats.downlinkBytes += meta.bytes;
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"broadcast","peer":${from.json},"kind":${meta.kind},"epoch":${meta.epoch},"round":${meta.round},"phase":${meta.phase},"frames":${frames.length},"bytes":${meta.bytes},"recipients":${n - 1}}`,
      );
    }
    if (n === 1) return;
    const bc: Broadcast = {
      order,
      origin: from,
      decoded: new Array<Frame | undefined>(frames.length),
      undecodable: new Array<boolean>(frames.length),
      shared: { message: null },
    };
    for (let i = 0; i < frames.length; i++) this.relay(from, bc, 0, frames[i], i);
  }

  /** Forwards a broadcast frame from tree position `pos` to its children. */
  private relay(p: SimPeer, bc: Broadcast, pos: number, bytes: Uint8Array, fi: number): void {
    const n = bc.order.length;
    const start = pos * this.fanout + 1;
    const end = Math.min(n, start + this.fanout);
    for (let c = start; c < end; c++) this.hop(p, this.peers[bc.order[c]], bytes, bc, c, fi, false);
  }

  /**
   * One frame over one link: sender's uplink queue (from when its CPU is free: an answer leaves once
   * computed), loss, propagation, then ARRIVE.
   */
  private hop(from: SimPeer, to: SimPeer, bytes: Uint8Array, bc: Broadcast | null, pos: number, fi: number, tree: boolean): void {
    const now = this.now;
    const sent = from.link.transmit(from.cpuFreeAt > now ? from.cpuFreeAt : now, bytes.length);
    from.uploaded += bytes.length;
    this.stats.framesSent++;
    this.stats.wireBytes += bytes.length;
    if (frameLost(from.link.profile, to.link.profile, this.rng)) {
      this.stats.framesLost++;
      this.logLine(`{"t":${logTime(now)},"ev":"drop","peer":${to.json},"from":${from.json},"reason":"lost","bytes":${bytes.length}}`);
      return;
    }
    const at = sent + propagationDelay(from.link.profile, to.link.profile, this.rng);
    this.queue.push(at, { k: ARRIVE, to, from, bytes, bc, pos, fi, tree });
  }

  private logLine(text: string): void {
    if (this.log !== null) this.log.line(text);
  }
}

function describe(ev: SimEvent): string {
  switch (ev.k) {
    case ARRIVE:
    case DELIVER:
      return `frame ${ev.from.id} → ${ev.to.id}`;
    case WAKE:
      return `wake-up of ${ev.peer.id}`;
    case TRACE:
      return `trace ${ev.ev.event}`;
  }
}

import { keyedRng, SHARED, type EngineAction, type EngineEvent, type EngineMessage, type EnginePeer, type PeerId, type Rng } from '@masha/protocol';
import { EventQueue } from './event-queue.js';
import { logTime, type EventSink } from './event-log.js';
import { DEFAULT_LINK, frameLost, LinkState, propagationDelay, type LinkProfile } from './link-model.js';
import type { WireCodec, WireReceiver } from './wire.js';
import { MAIN_GROUP, type JoinEvent, type TraceEvent } from '../trace/schema.js';

/**
 * The discrete-event swarm: it drives real `EnginePeer` state machines in virtual time.
 *
 * - Clock: an `EventQueue` ordered by (virtual ms, insertion sequence); nothing reads a wall clock.
 * - Randomness: one keyed stream (seed, 0, 'sim:net', SHARED) for jitter, loss and relay layouts,
 *   consumed in event order, so a run is a pure function of (peers, trace, seed).
 * - Network: every message is really encoded into frames by the `WireCodec` (the protocol's frame
 *   format in production) and every frame crosses, per hop, the sender's uplink queue
 *   (bandwidth), the propagation delay (latencies + jitter), a loss draw, and the receiver's
 *   downlink queue; the receiver decodes and reassembles it. `send` is one hop; `broadcast` is
 *   gossip fan-out down a relay tree (see relay-tree.ts; `relay` below inlines `childRange`), so
 *   the broadcaster uploads at most `fanout` copies whatever the swarm size.
 * - Compute: a peer's CPU is a FIFO server. The operator evaluations an event triggers (counted by
 *   the `evaluations` probe) cost `computeMs` each; the actions of that event leave when the work
 *   is done, and events arriving meanwhile wait in the peer's inbox.
 * - Timers: per peer, by id; re-setting an id replaces the timer, crashes discard them; delays
 *   below 1 ms are clamped to 1 ms, as Node's setTimeout does.
 * - Membership: `join` starts a fresh engine (no state) and, after t = 0, delivers transport hints
 *   (peer-connected) between the joiner and every reachable peer; `leave` delivers peer-disconnected
 *   to every reachable peer; `crash` is silent. `partition` moves a peer into a named group —
 *   frames only flow within a group — and `heal` moves it (or everyone) back.
 */

export interface SwarmObserver {
  /** Called for every action a peer emits, when it is carried out. */
  onAction?(peer: PeerId, action: EngineAction, now: number): void;
  /** Called when a peer joins or goes away (after the change). */
  onMembership?(peer: PeerId, event: 'join' | 'leave' | 'crash', now: number, alive: number): void;
}

export interface SwarmOptions<F> {
  readonly seed: number;
  readonly codec: WireCodec<F>;
  /** Builds the engine of a peer when it (re)joins. */
  readonly createPeer: (id: PeerId, now: number) => EnginePeer;
  /** Link profile of peers that do not name one (default DEFAULT_LINK). */
  readonly link?: LinkProfile;
  /** Relay-tree fan-out of broadcasts (gossipsub's mesh degree D; default 6). */
  readonly fanout?: number;
  /** Monotone counter of operator evaluations done so far in this process (charged as compute time). */
  readonly evaluations?: () => number;
  /** Event log (one JSON line per send, receive, drop, timer, commit, election, …); none by default. */
  readonly log?: EventSink;
  readonly observer?: SwarmObserver;
  /** Deliver peer-connected / peer-disconnected hints on join and leave (default true). */
  readonly hints?: boolean;
  /** Log `metric` actions too (default false: they can be numerous). */
  readonly logMetrics?: boolean;
}

/** Cumulative counters of a swarm run. */
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
  /** Complete messages handed to engines. */
  messagesDelivered: number;
  /** Frames lost on a link, dropped at a dead/partitioned receiver, refused by the decoder/reassembler. */
  framesLost: number;
  framesDropped: number;
  framesRejected: number;
  /** Partial messages the reassemblers dropped for age. */
  partialsExpired: number;
  /** Sends to peers that are gone or unreachable (nothing was transmitted). */
  unreachable: number;
  timersFired: number;
  commits: number;
  elections: number;
  /** Sum of each `metric` action's values, by name. */
  readonly metrics: Map<string, number>;
}

/**
 * Smallest timer delay, in virtual ms. Node's setTimeout (and browsers') clamp shorter delays to
 * 1 ms; modelling that keeps an engine that re-arms a timer for a floating-point sliver of time
 * (deadline − now ≈ 1e−13) from spinning forever at one virtual instant.
 */
export const TIMER_MIN_MS = 1;

/** More events than this at one virtual instant means a zero-delay livelock: the run is aborted. */
export const MAX_EVENTS_PER_INSTANT = 1_000_000;

const ARRIVE = 0;
const DELIVER = 1;
const TIMER = 2;
const CPU_DONE = 3;
const TRACE = 4;

interface Broadcast {
  /** order[0] = origin, then the recipients in this broadcast's random layout. */
  readonly order: number[];
  readonly origin: SimPeer<unknown>;
  /**
   * Decoded frames by frame index. Decoding is a pure function of the bytes and a relayed frame
   * reaches every recipient byte-identical, so each distinct frame is decoded once (at its first
   * recipient) and the result reused; every recipient still reassembles on its own.
   */
  readonly decoded: unknown[];
  readonly failures: unknown[];
  /**
   * The message as the first recipient reassembled it. Every recipient reassembles the same frames
   * into the same message, and engines never modify a received message, so later recipients are
   * handed this one instead of their own copy: a large broadcast that every peer keeps in its
   * commit log is then held once, not once per peer (10,000 peers × an 89 KB commit).
   */
  message: EngineMessage | null;
}

interface FrameEvent {
  /** ARRIVE, then reused as the DELIVER event of the same frame. */
  k: typeof ARRIVE | typeof DELIVER;
  readonly to: SimPeer<unknown>;
  readonly from: SimPeer<unknown>;
  readonly bytes: Uint8Array;
  /** Relay tree of a broadcast frame, and the receiver's position in it; null for point to point. */
  readonly bc: Broadcast | null;
  readonly pos: number;
  /** Index of the frame within its message. */
  readonly fi: number;
}
interface TimerEvent {
  readonly k: typeof TIMER;
  readonly peer: SimPeer<unknown>;
  readonly inc: number;
  readonly id: string;
  readonly token: number;
}
interface CpuEvent {
  readonly k: typeof CPU_DONE;
  readonly peer: SimPeer<unknown>;
  readonly inc: number;
}
interface TraceQueued {
  readonly k: typeof TRACE;
  readonly ev: TraceEvent;
}
type SimEvent = FrameEvent | TimerEvent | CpuEvent | TraceQueued;

class SimPeer<F> {
  readonly idx: number;
  readonly id: PeerId;
  /** JSON-escaped id, for log lines. */
  readonly json: string;
  engine: EnginePeer | null = null;
  alive = false;
  /** Incarnation: bumped on every (re)join and departure, invalidating timers and CPU events. */
  inc = 0;
  done = false;
  group = MAIN_GROUP;
  link: LinkState;
  receiver: WireReceiver<F> | null = null;
  timers = new Map<string, number>();
  cpuBusy = false;
  pending: EngineAction[] | null = null;
  pendingNow = 0;
  inbox: EngineEvent[] = [];
  inboxHead = 0;
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

export class Swarm<F> {
  readonly stats: SwarmStats = {
    events: 0,
    messagesSent: 0,
    uplinkBytes: 0,
    broadcasts: 0,
    downlinkBytes: 0,
    framesSent: 0,
    wireBytes: 0,
    messagesDelivered: 0,
    framesLost: 0,
    framesDropped: 0,
    framesRejected: 0,
    partialsExpired: 0,
    unreachable: 0,
    timersFired: 0,
    commits: 0,
    elections: 0,
    metrics: new Map(),
  };

  private readonly queue = new EventQueue<SimEvent>();
  private readonly rng: Rng;
  private readonly codec: WireCodec<F>;
  private readonly createPeer: (id: PeerId, now: number) => EnginePeer;
  private readonly baseLink: LinkProfile;
  private readonly fanout: number;
  private readonly evaluations: (() => number) | null;
  private readonly log: EventSink | null;
  private readonly observer: SwarmObserver | null;
  private readonly hints: boolean;
  private readonly logMetrics: boolean;

  private readonly peers: SimPeer<F>[] = [];
  private readonly byId = new Map<PeerId, SimPeer<F>>();
  private aliveCount = 0;
  private activeCount = 0; // alive and not done
  private partitioned = 0; // alive peers outside the main group
  private timerToken = 0;
  /** Present peers in join order (rebuilt lazily after membership changes). */
  private aliveList: SimPeer<F>[] = [];
  private aliveDirty = false;

  constructor(options: SwarmOptions<F>) {
    this.rng = keyedRng(options.seed, 0, 'sim:net', SHARED);
    this.codec = options.codec;
    this.createPeer = options.createPeer;
    this.baseLink = options.link ?? DEFAULT_LINK;
    this.fanout = options.fanout ?? 6;
    if (!Number.isInteger(this.fanout) || this.fanout < 1) throw new RangeError(`fanout must be a positive integer, got ${this.fanout}`);
    this.evaluations = options.evaluations ?? null;
    this.log = options.log ?? null;
    this.observer = options.observer ?? null;
    this.hints = options.hints ?? true;
    this.logMetrics = options.logMetrics ?? false;
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

  /** The engine of a present peer (for inspection), else null. */
  engineOf(id: PeerId): EnginePeer | null {
    const p = this.byId.get(id);
    return p !== undefined && p.alive ? p.engine : null;
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
   * registered first, then each gets its `start` event in the given order. A join event's link
   * fields override the default link.
   */
  addInitialPeers(peers: readonly (PeerId | JoinEvent)[]): void {
    const added = peers.map((p) =>
      typeof p === 'string' ? this.register(p, this.baseLink) : this.register(p.peer, linkFromJoin(this.baseLink, p)),
    );
    for (const p of added) if (p.alive) this.dispatch(p, { type: 'start' });
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

  private present(id: PeerId, what: string): SimPeer<F> {
    const p = this.byId.get(id);
    if (p === undefined || !p.alive) throw new RangeError(`${what}: peer "${id}" is not present`);
    return p;
  }

  private join(id: PeerId, link: LinkProfile, hints: boolean): void {
    const p = this.register(id, link);
    this.dispatch(p, { type: 'start' });
    if (hints) {
      for (const q of this.peers) {
        if (q === p || !q.alive || q.group !== p.group) continue;
        this.dispatch(q, { type: 'peer-connected', peer: p.id });
        this.dispatch(p, { type: 'peer-connected', peer: q.id });
      }
    }
  }

  /** Creates (or revives) a peer record with a fresh engine; does not start it. */
  private register(id: PeerId, link: LinkProfile): SimPeer<F> {
    let p = this.byId.get(id);
    if (p !== undefined && p.alive) throw new RangeError(`join: peer "${id}" is already present`);
    if (p === undefined) {
      p = new SimPeer<F>(this.peers.length, id, link);
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
    p.timers = new Map();
    p.cpuBusy = false;
    p.pending = null;
    p.inbox = [];
    p.inboxHead = 0;
    p.receiver = this.codec.receiver();
    p.engine = this.createPeer(id, now);
    this.aliveCount++;
    this.activeCount++;
    this.aliveDirty = true;
    this.logLine(`{"t":${logTime(now)},"ev":"join","peer":${p.json}}`);
    this.observer?.onMembership?.(id, 'join', now, this.aliveCount);
    return p;
  }

  private depart(id: PeerId, how: 'leave' | 'crash'): void {
    const p = this.present(id, how);
    const now = this.now;
    p.alive = false;
    p.inc++;
    p.engine = null;
    p.receiver = null;
    p.timers = new Map();
    p.pending = null;
    p.inbox = [];
    p.inboxHead = 0;
    p.cpuBusy = false;
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
      for (const q of this.peers) if (q.alive && q.group === group) this.dispatch(q, { type: 'peer-disconnected', peer: p.id });
    }
  }

  private setGroup(p: SimPeer<F>, group: string): void {
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
      case TIMER: {
        const p = ev.peer as SimPeer<F>;
        if (!p.alive || p.inc !== ev.inc || p.timers.get(ev.id) !== ev.token) return;
        p.timers.delete(ev.id);
        this.stats.timersFired++;
        this.logLine(`{"t":${logTime(this.now)},"ev":"timer","peer":${p.json},"id":${JSON.stringify(ev.id)}}`);
        this.dispatch(p, { type: 'timer', id: ev.id });
        break;
      }
      case CPU_DONE: {
        const p = ev.peer as SimPeer<F>;
        if (!p.alive || p.inc !== ev.inc) return;
        const actions = p.pending as EngineAction[];
        p.pending = null;
        p.cpuBusy = false;
        this.execute(p, actions, p.pendingNow);
        this.drainInbox(p);
        break;
      }
      case TRACE:
        this.apply(ev.ev);
        break;
    }
  }

  /** A frame reached the receiver's access link: queue it on the downlink. */
  private arrive(ev: FrameEvent): void {
    const to = ev.to as SimPeer<F>;
    if (!to.alive) return this.dropFrame(ev, 'dead');
    if (to.group !== (ev.from as SimPeer<F>).group) return this.dropFrame(ev, 'partition');
    const now = this.now;
    const done = to.link.receive(now, ev.bytes.length);
    ev.k = DELIVER;
    if (done === now) this.deliver(ev);
    else this.queue.push(done, ev);
  }

  /** A frame is fully received: decode, relay (broadcast trees), reassemble, hand to the engine. */
  private deliver(ev: FrameEvent): void {
    const to = ev.to as SimPeer<F>;
    if (!to.alive || to.receiver === null) return this.dropFrame(ev, 'dead');
    const now = this.now;
    const origin = ev.bc !== null ? (ev.bc.origin as SimPeer<F>) : (ev.from as SimPeer<F>);
    let frame: F;
    const bc = ev.bc;
    if (bc !== null && bc.decoded[ev.fi] !== undefined) {
      frame = bc.decoded[ev.fi] as F;
    } else if (bc !== null && bc.failures[ev.fi] !== undefined) {
      return this.reject(to, origin, bc.failures[ev.fi]);
    } else {
      try {
        frame = this.codec.decode(ev.bytes);
      } catch (e) {
        if (bc !== null) bc.failures[ev.fi] = e;
        return this.reject(to, origin, e);
      }
      if (bc !== null) bc.decoded[ev.fi] = frame;
    }
    if (bc !== null) this.relay(to, bc, ev.pos, ev.bytes, ev.fi);
    let message: EngineMessage | null;
    try {
      message = to.receiver.accept(frame, now, origin.id);
    } catch (e) {
      return this.reject(to, origin, e);
    }
    if (message === null) return;
    if (bc !== null) {
      if (bc.message === null) bc.message = message;
      else message = bc.message;
    }
    this.stats.messagesDelivered++;
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"receive","peer":${to.json},"from":${origin.json},"kind":${message.kind},"epoch":${message.epoch},"round":${message.round},"phase":${message.phase},"bytes":${message.body.length}}`,
      );
    }
    this.dispatch(to, { type: 'message', from: origin.id, message });
  }

  private reject(to: SimPeer<F>, origin: SimPeer<F>, e: unknown): void {
    this.stats.framesRejected++;
    const reason = errorReason(e);
    this.logLine(`{"t":${logTime(this.now)},"ev":"reject","peer":${to.json},"from":${origin.json},"reason":${JSON.stringify(reason)}}`);
    this.dispatch(to, { type: 'rejected', from: origin.id, reason });
  }

  private dropFrame(ev: FrameEvent, reason: string): void {
    this.stats.framesDropped++;
    const to = ev.to as SimPeer<F>;
    this.logLine(
      `{"t":${logTime(this.now)},"ev":"drop","peer":${to.json},"from":${(ev.from as SimPeer<F>).json},"reason":"${reason}","bytes":${ev.bytes.length}}`,
    );
  }

  // ---------------------------------------------------------------- compute and actions

  /** Hands an event to a peer's engine, or queues it while the peer's CPU is busy. */
  private dispatch(p: SimPeer<F>, event: EngineEvent): void {
    if (p.cpuBusy) {
      p.inbox.push(event);
      return;
    }
    this.handle(p, event);
  }

  private handle(p: SimPeer<F>, event: EngineEvent): void {
    const engine = p.engine as EnginePeer;
    const now = this.now;
    const before = this.evaluations !== null ? this.evaluations() : 0;
    const actions = engine.handle(event, now);
    const evals = this.evaluations !== null ? this.evaluations() - before : 0;
    const cost = evals > 0 ? p.link.computeTime(evals) : 0;
    if (cost > 0) {
      p.cpuBusy = true;
      p.pending = actions;
      p.pendingNow = now;
      this.queue.push(now + cost, { k: CPU_DONE, peer: p, inc: p.inc });
    } else if (actions.length > 0) {
      this.execute(p, actions, now);
    }
  }

  private drainInbox(p: SimPeer<F>): void {
    while (!p.cpuBusy && p.alive && p.inboxHead < p.inbox.length) {
      const event = p.inbox[p.inboxHead++];
      if (p.inboxHead === p.inbox.length) {
        p.inbox.length = 0;
        p.inboxHead = 0;
      }
      this.handle(p, event);
    }
  }

  /** Carries out a peer's actions. `handledAt` is the `now` the engine saw (timers count from it). */
  private execute(p: SimPeer<F>, actions: readonly EngineAction[], handledAt: number): void {
    const now = this.now;
    for (const a of actions) {
      if (!p.alive) return;
      switch (a.type) {
        case 'broadcast':
          this.broadcast(p, a.message);
          break;
        case 'send':
          this.send(p, a.to, a.message);
          break;
        case 'setTimer': {
          if (!(a.delayMs >= 0) || !Number.isFinite(a.delayMs)) throw new RangeError(`peer ${p.id}: setTimer ${a.id} with delay ${a.delayMs}`);
          const token = ++this.timerToken;
          p.timers.set(a.id, token);
          const at = handledAt + (a.delayMs > TIMER_MIN_MS ? a.delayMs : TIMER_MIN_MS);
          this.queue.push(at > now ? at : now, { k: TIMER, peer: p, inc: p.inc, id: a.id, token });
          break;
        }
        case 'clearTimer':
          p.timers.delete(a.id);
          break;
        case 'commit':
          this.stats.commits++;
          if (this.log !== null) {
            this.logLine(
              `{"t":${logTime(now)},"ev":"commit","peer":${p.json},"epoch":${a.epoch},"round":${a.round},"iteration":${a.iteration},"phase":${JSON.stringify(a.phase)},"included":${a.included.length},"digest":${JSON.stringify(a.digest)}}`,
            );
          }
          break;
        case 'election':
          this.stats.elections++;
          this.logLine(`{"t":${logTime(now)},"ev":"election","peer":${p.json},"epoch":${a.epoch},"aggregator":${JSON.stringify(a.aggregator)}}`);
          break;
        case 'metric': {
          const m = this.stats.metrics;
          m.set(a.name, (m.get(a.name) ?? 0) + a.value);
          if (this.logMetrics) this.logLine(`{"t":${logTime(now)},"ev":"metric","peer":${p.json},"name":${JSON.stringify(a.name)},"value":${jsonNumber(a.value)}}`);
          break;
        }
        case 'done':
          if (!p.done) {
            p.done = true;
            this.activeCount--;
            this.logLine(`{"t":${logTime(now)},"ev":"done","peer":${p.json},"reason":${JSON.stringify(a.reason)}}`);
          }
          break;
      }
      this.observer?.onAction?.(p.id, a, now);
    }
  }

  private send(from: SimPeer<F>, toId: PeerId, message: EngineMessage): void {
    const now = this.now;
    const to = this.byId.get(toId);
    const frames = this.codec.encode(message);
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    this.stats.messagesSent++;
    this.stats.uplinkBytes += bytes;
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"send","peer":${from.json},"to":${JSON.stringify(toId)},"kind":${message.kind},"epoch":${message.epoch},"round":${message.round},"phase":${message.phase},"frames":${frames.length},"bytes":${bytes}}`,
      );
    }
    if (to === undefined || !to.alive) {
      this.stats.unreachable++;
      this.logLine(`{"t":${logTime(now)},"ev":"drop","peer":${JSON.stringify(toId)},"from":${from.json},"reason":"unreachable","bytes":${bytes}}`);
      return;
    }
    if (to === from) {
      // Loopback: through the codec, no link.
      for (let i = 0; i < frames.length; i++) this.queue.push(now, { k: DELIVER, to, from, bytes: frames[i], bc: null, pos: 0, fi: i });
      return;
    }
    for (let i = 0; i < frames.length; i++) this.hop(from, to, frames[i], null, 0, i);
  }

  private broadcast(from: SimPeer<F>, message: EngineMessage): void {
    const now = this.now;
    const frames = this.codec.encode(message);
    let bytes = 0;
    for (const f of frames) bytes += f.length;
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
    this.stats.downlinkBytes += bytes;
    if (this.log !== null) {
      this.logLine(
        `{"t":${logTime(now)},"ev":"broadcast","peer":${from.json},"kind":${message.kind},"epoch":${message.epoch},"round":${message.round},"phase":${message.phase},"frames":${frames.length},"bytes":${bytes},"recipients":${n - 1}}`,
      );
    }
    if (n === 1) return;
    const bc: Broadcast = { order, origin: from, decoded: new Array(frames.length), failures: new Array(frames.length), message: null };
    for (let i = 0; i < frames.length; i++) this.relay(from, bc, 0, frames[i], i);
  }

  /** Forwards a broadcast frame from tree position `pos` to its children. */
  private relay(p: SimPeer<F>, bc: Broadcast, pos: number, bytes: Uint8Array, fi: number): void {
    const n = bc.order.length;
    const start = pos * this.fanout + 1;
    const end = Math.min(n, start + this.fanout);
    for (let c = start; c < end; c++) this.hop(p, this.peers[bc.order[c]], bytes, bc, c, fi);
  }

  /** One frame over one link: sender's uplink queue, loss, propagation, then ARRIVE. */
  private hop(from: SimPeer<F>, to: SimPeer<F>, bytes: Uint8Array, bc: Broadcast | null, pos: number, fi: number): void {
    const now = this.now;
    const sent = from.link.transmit(now, bytes.length);
    from.uploaded += bytes.length;
    this.stats.framesSent++;
    this.stats.wireBytes += bytes.length;
    if (frameLost(from.link.profile, to.link.profile, this.rng)) {
      this.stats.framesLost++;
      this.logLine(`{"t":${logTime(now)},"ev":"drop","peer":${to.json},"from":${from.json},"reason":"lost","bytes":${bytes.length}}`);
      return;
    }
    const at = sent + propagationDelay(from.link.profile, to.link.profile, this.rng);
    this.queue.push(at, { k: ARRIVE, to, from, bytes, bc, pos, fi });
  }

  private logLine(text: string): void {
    if (this.log !== null) this.log.line(text);
  }

  /** Asks every reassembler to drop partial messages past their age limit (call periodically). */
  expirePartials(): number {
    let n = 0;
    for (const p of this.peers) if (p.alive && p.receiver !== null) n += p.receiver.expire(this.now);
    this.stats.partialsExpired += n;
    return n;
  }
}

function describe(ev: SimEvent): string {
  switch (ev.k) {
    case ARRIVE:
    case DELIVER:
      return `frame ${ev.from.id} → ${ev.to.id}`;
    case TIMER:
      return `timer ${ev.id} of ${ev.peer.id}`;
    case CPU_DONE:
      return `compute done at ${ev.peer.id}`;
    case TRACE:
      return `trace ${ev.ev.event}`;
  }
}

function errorReason(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  throw e;
}

function jsonNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

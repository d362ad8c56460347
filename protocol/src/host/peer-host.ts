/**
 * The one host of the round engine, for every runtime. It runs a peer's `MashaPeer` and owns
 * everything around it that does not depend on where it runs: the event loop (one event at a time,
 * actions carried out in order, follow-up events queued, never re-entered), the engine's timers
 * (a table with one wake-up request to the runtime), message ids, framing with the run's frame size
 * and reassembly with the run's limits, counters, status reports, and event records.
 *
 * A runtime implements five ports (ports/): a `Scheduler` (clock, one wake-up), a `FrameLink`
 * (frames out; it hands inbound frames to `receive`/`receiveFrame` and connection hints to
 * `peerConnected`/`peerDisconnected`), an `Evaluator` (operator evaluations, synchronous or not),
 * an `Identity` (signatures: Ed25519 in Node and the browser, a keyed MAC in the simulator) and an
 * `EventSink`. The simulator, the Node peer and the browser's Web Worker differ only in those.
 *
 *     runtime ──frames, hints, wake──▶ PeerHost ──events──▶ MashaPeer (sans-I/O)
 *     runtime ◀──frames, wakeAt──────── PeerHost ◀──actions── MashaPeer
 *                    Evaluator ◀──evaluate / evaluated──▶ PeerHost
 *
 * Large broadcasts: when the link has a tree channel (`FrameLink.relay`) and the run uses relay
 * trees, the host's `TreeRelay` (tree/relay.ts) sends the aggregator's large broadcasts down the
 * striped relay trees of the roster the engine publishes, forwards relayed frames as they arrive
 * (`receiveRelayed`), checks them against their anchor and repairs gaps; the checked frames are
 * reassembled here like any other. Tree control messages (anchor, pull, hold) go to the relay,
 * never to the engine.
 *
 * Loopback: a message the engine sends to its own peer is handed back as a `message` event after
 * the current actions (not framed). Timers shorter than 1 ms are clamped to 1 ms, as setTimeout
 * does in every JavaScript runtime (and as keeps a re-armed sliver of a timer from spinning).
 */
import { FrameError } from '../frames/frame-error.js';
import { MashaError } from '../errors.js';
import { decodeFrame } from '../frames/decode.js';
import { encodeFrames } from '../frames/encode.js';
import type { Frame } from '../frames/frame.js';
import { Reassembler } from '../frames/reassembler.js';
import { maxBodyBytes, type RunContext } from '../engine/context.js';
import { KIND_NAMES, MSG } from '../engine/messages.js';
import type { TreeRelay } from '../tree/relay.js';
import { frameHash, isTreeKind } from '../tree/wire.js';
import { assertNever, MashaPeer } from '../engine/peer.js';
import type { EngineAction, EngineEvent, EngineMessage, EngineRole, PeerId, TimerKind } from '../engine/types.js';
import type { EventSink } from '../ports/event-sink.js';
import type { Evaluator } from '../ports/evaluator.js';
import type { FrameLink, OutgoingMeta } from '../ports/frame-link.js';
import type { Scheduler } from '../ports/scheduler.js';
import { encodeStatus, type PeerStatus, type StatusDevice } from '../swarm/status.js';
import { KINDS_BY_PATH, type FramePath } from './paths.js';
import type { HostRecord, RecordKind } from './records.js';
import { hostStatus } from './status-report.js';
import { StatusCadence, type StatusPlace } from './status-cadence.js';
import { TimerTable } from './timers.js';
import { createTreeRelay, RosterMessages, type TreeHost } from './tree-wiring.js';
import type { HostBytes, PeerHostInit, PeerHostPorts } from './host-init.js';

export type { HostBytes, PeerHostInit, PeerHostPorts } from './host-init.js';

/** Host counter names by prefix and message kind, built once (no string per message). */
const COUNTER_NAMES: Record<'recv-' | 'sent-' | 'body-', string[]> = { 'recv-': [], 'sent-': [], 'body-': [] };
function counterName(prefix: 'recv-' | 'sent-' | 'body-', kind: number): string {
  const names = COUNTER_NAMES[prefix];
  return (names[kind] ??= prefix + (KIND_NAMES[kind] ?? String(kind)));
}

/** Smallest timer delay (ms). */
export const TIMER_MIN_MS = 1;

/** Host-level periodic work, in the same table as the engine's timers. */
type HostTimer = TimerKind | 'expire-partials' | 'status' | 'tree';
const HOST_TIMERS: readonly HostTimer[] = ['hb', 'wd', 'claim', 'gather', 'deadline', 'sync', 'behind', 'commit', 'expire-partials', 'status', 'tree'];

export class PeerHost {
  readonly engine: MashaPeer;
  readonly id: PeerId;
  readonly ctx: RunContext;
  readonly role: EngineRole;
  readonly bytes: HostBytes = { direct: 0, broadcast: 0, received: 0, relayed: 0 };
  /** Refused inbound frames by reason (FrameError code). */
  readonly rejected: Record<string, number> = {};
  /** Host counters: messages and body bytes by kind sent (`sent-<kind>`, `body-<kind>`) and received (`recv-<kind>`), partials expired. */
  readonly counters: Record<string, number> = {};
  /** Resolves with the engine's reason once the run is over for this peer. */
  readonly done: Promise<string>;

  private readonly scheduler: Scheduler;
  private readonly link: FrameLink;
  private readonly evaluator: Evaluator;
  private readonly sink: EventSink | null;
  private readonly wants: ReadonlySet<RecordKind>;
  /** `wants` of the kinds checked once or more per message or event (a Set lookup each, otherwise). */
  private readonly wantsPerEvent: { readonly receive: boolean; readonly commit: boolean; readonly timer: boolean; readonly stateOrHeld: boolean };
  private readonly reassembler: Reassembler;
  private readonly timers = new TimerTable<HostTimer>(HOST_TIMERS);
  private readonly frameBytes: number | undefined;
  private readonly alloc: ((bytes: number) => Uint8Array) | undefined;
  private readonly cadence: StatusCadence;
  private readonly expireEveryMs: number;
  private readonly onAction: ((action: EngineAction) => void) | null;
  private readonly onError: ((error: Error) => void) | null;
  /** Events waiting to be handled: [head, tail). The array keeps its capacity between drains (no reallocation per event). */
  private readonly queue: (EngineEvent | null)[] = [];
  private head = 0;
  private tail = 0;
  private draining = false;
  private wakeRequested = Number.POSITIVE_INFINITY;
  private nextMessageId: number;
  private started = false;
  private engineStarted = false;
  private stopped = false;
  private startedAt = 0;
  private lastRound = 0;
  private lastHeld = '';
  private doneReason: string | null = null;
  private resolveDone: (reason: string) => void = () => {};
  /** The relay trees (null: gossip only). */
  readonly tree: TreeRelay | null;
  /** Roster messages this peer published, by version (re-sent to peers that missed one). */
  private readonly rosterMessages = new RosterMessages();
  /** Where this peer computes, for its status reports (set by the runtime; null = not said). */
  private device: StatusDevice | null = null;

  constructor(init: PeerHostInit, ports: PeerHostPorts) {
    const ctx = init.ctx;
    this.id = init.id;
    this.ctx = ctx;
    this.role = init.role ?? 'volunteer';
    this.engine = new MashaPeer(init.id, ctx, this.role, ports.identity, {
      token: init.token ?? null,
      ...(init.admits !== undefined ? { admits: init.admits } : {}),
      ...(init.secret !== undefined ? { secret: init.secret } : {}),
    });
    this.scheduler = ports.scheduler;
    this.link = ports.link;
    this.evaluator = ports.evaluator;
    this.sink = ports.events ?? null;
    this.wants = this.sink?.wants ?? new Set<RecordKind>();
    const w = this.wants;
    this.wantsPerEvent = { receive: w.has('receive'), commit: w.has('commit'), timer: w.has('timer'), stateOrHeld: w.has('state') || w.has('held') };
    this.frameBytes = init.frameBytes;
    this.alloc = init.alloc;
    this.cadence = new StatusCadence(init.statusIntervalMs ?? 0, init.statusSteadyMs ?? 0);
    this.expireEveryMs = init.expireEveryMs ?? 1000;
    this.onAction = init.onAction ?? null;
    this.onError = init.onError ?? null;
    this.nextMessageId = (init.firstMessageId ?? 0) >>> 0;
    // Per-sender budget: room for the largest message of the run twice over (two in flight) and
    // some slack; in all, the given total but never less than four senders' budgets.
    let largest = 0;
    for (let k = MSG.HEARTBEAT; k <= MSG.REPLAY; k++) largest = Math.max(largest, maxBodyBytes(ctx, k));
    const perSender = 2 * largest + (1 << 20);
    this.reassembler = new Reassembler({
      maxMessageBytes: (h) => maxBodyBytes(ctx, h.kind),
      runId: ctx.runId,
      maxPartialsPerSender: 16,
      maxBytesPerSender: perSender,
      maxBufferedBytes: Math.max(init.maxBufferedBytes ?? 256 * 1024 * 1024, 4 * perSender),
      maxAgeMs: init.maxPartialAgeMs ?? 4 * ctx.timing.leaseMs,
      immutableFrames: init.immutableFrames ?? false,
    });
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    const treeOpts = init.tree ?? {};
    this.tree =
      ctx.broadcast.tree && treeOpts.enabled !== false && ports.link.relay !== undefined
        ? createTreeRelay(this.treeHost(), treeOpts.hash ?? frameHash, this.rosterMessages)
        : null;
    if (init.capacity !== undefined) this.engine.setCapacity(init.capacity);
  }

  /** What this peer reports for the relay trees from now on (a runtime's measured upload rate). */
  setCapacity(capacity: { readonly upKbps: number; readonly leaf: boolean }): void {
    this.engine.setCapacity(capacity);
  }

  /** The relay's window on the world: this host's link, reassembler, timers, counters and records. */
  private treeHost(): TreeHost {
    const link = this.link;
    return {
      id: this.id,
      ctx: this.ctx,
      wants: this.wants,
      now: () => this.scheduler.now(),
      relay: (to, frames, meta) => {
        if (this.stopped || link.relay === undefined) return;
        this.bytes.relayed += meta.bytes;
        link.relay(to, frames, meta);
      },
      send: (to, message) => this.send(to, message),
      gossip: (message) => {
        const { frames, meta } = this.frames(message);
        this.bytes.broadcast += meta.bytes;
        link.broadcast(frames, meta);
      },
      reassemble: (frame, shared) => this.reassemble(frame, undefined, shared),
      dispatch: (event) => this.dispatch(event),
      record: (r) => this.record(r),
      wakeAt: (t) => {
        if (t === Number.POSITIVE_INFINITY) this.timers.clear('tree');
        else this.timers.set('tree', t);
        this.armWake();
      },
      bump: (name, n) => this.bump(name, n),
    };
  }

  // ================================================================ lifecycle

  /**
   * Starts the host: records the start, arms its periodic work and (unless `engine: false`) starts
   * the engine. A runtime that must wait for its network (gossip mesh) starts the engine later
   * with `startEngine()`; messages heard meanwhile are handed to the engine already.
   */
  start(options: { readonly engine?: boolean } = {}): void {
    if (this.started) throw new Error('host already started');
    this.started = true;
    this.startedAt = this.scheduler.now();
    this.record({ ev: 'start', peer: this.id, runId: this.ctx.runId, role: this.role });
    if (this.expireEveryMs > 0) this.setHostTimer('expire-partials', this.expireEveryMs);
    if (this.cadence.enabled) this.setHostTimer('status', this.cadence.intervalMs);
    if (options.engine ?? true) this.startEngine();
    else this.armWake();
  }

  /**
   * Restores the engine from a checkpoint and a write-ahead log before the host starts
   * (MashaPeer.restore); the round it reached is the host's starting point (no `state` record).
   */
  restore(state: Uint8Array, epoch: number, commits: readonly EngineMessage[]): { round: number; replayed: number } {
    if (this.started) throw new Error('restore before start');
    const r = this.engine.restore(state, epoch, commits);
    this.lastRound = r.round;
    return r;
  }

  startEngine(): void {
    if (this.engineStarted || this.stopped) return;
    this.engineStarted = true;
    this.dispatch({ type: 'start' });
  }

  /** Stops the host: no more timers, frames or events. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.timers.clearAll();
    this.queue.length = 0;
    this.head = 0;
    this.tail = 0;
    if (this.wakeRequested !== Number.POSITIVE_INFINITY) {
      this.wakeRequested = Number.POSITIVE_INFINITY;
      this.scheduler.wakeAt(Number.POSITIVE_INFINITY);
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get isDone(): boolean {
    return this.doneReason !== null;
  }

  // ================================================================ inbound

  /**
   * An inbound frame as bytes. `from`: the authenticated sender, when the transport knows it.
   * `path`: how it came (a direct stream or the broadcast topic), when the runtime tells: a frame
   * of a kind that path does not carry is refused (KINDS_BY_PATH).
   */
  receive(bytes: Uint8Array, from?: PeerId, path?: FramePath): void {
    if (this.stopped) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (e) {
      this.refuse(e, from);
      return;
    }
    this.receiveFrame(frame, bytes.byteLength, from, undefined, path);
  }

  /**
   * An inbound frame already decoded (and integrity-checked) by the runtime, `size` bytes on the
   * wire. `shared`: the simulator's broadcasts reach every recipient as the same frames, so every
   * recipient reassembles the same message; the first one reassembled is kept there and handed to
   * the later recipients instead of their own copy (engines never modify a received message), so a
   * large commit every peer keeps in its log is held once, not once per peer.
   */
  receiveFrame(frame: Frame, size: number, from?: PeerId, shared?: { message: EngineMessage | null }, path?: FramePath): void {
    if (this.stopped) return;
    this.bytes.received += size;
    this.reassemble(frame, from, shared, path);
  }

  /**
   * A frame from the link's tree channel: a relayed broadcast's frame, sent by `from` (a relay, or
   * the origin). The relay checks it against its anchor before forwarding or reassembling it.
   * `frame`: the decoded frame when the runtime decoded it already (the simulator); `shared`: as
   * for `receiveFrame`, one message object for every recipient of the broadcast (the simulator).
   */
  receiveRelayed(bytes: Uint8Array, from: PeerId, frame?: Frame, shared?: { message: EngineMessage | null }): void {
    if (this.stopped) return;
    let f: Frame;
    if (frame !== undefined) f = frame;
    else {
      try {
        f = decodeFrame(bytes);
      } catch (e) {
        this.refuse(e, from);
        return;
      }
    }
    this.bytes.received += bytes.byteLength;
    if (this.tree === null || f.runId !== this.ctx.runId) {
      this.bump('tree-refused');
      return;
    }
    this.tree.onFrame(bytes, f, from, shared);
    this.armWake();
  }

  private reassemble(frame: Frame, from: PeerId | undefined, shared: { message: EngineMessage | null } | undefined, path?: FramePath): void {
    if (this.stopped) return;
    let message: EngineMessage | null;
    try {
      if (path !== undefined && !KINDS_BY_PATH[path].has(frame.kind)) {
        throw new FrameError('wrong-path', `a ${KIND_NAMES[frame.kind] ?? `kind ${frame.kind}`} message does not travel on the ${path} path`);
      }
      message = this.reassembler.accept(frame, this.scheduler.now(), from);
    } catch (e) {
      this.refuse(e, from);
      return;
    }
    if (message === null) return;
    if (shared !== undefined) {
      if (shared.message === null) shared.message = message;
      else message = shared.message;
    }
    this.bump(counterName('recv-', message.kind));
    if (isTreeKind(message.kind)) {
      // The relay's control messages; an anchor counts only from its authenticated sender.
      if (this.tree === null) this.bump('tree-refused');
      else {
        try {
          this.tree.onControl(message, from !== undefined);
        } catch (e) {
          if (!(e instanceof MashaError)) throw e;
          this.bump('tree-bad-control');
        }
        this.armWake();
      }
      return;
    }
    if (this.wantsPerEvent.receive) {
      const m = message;
      this.record({ ev: 'receive', peer: this.id, from: m.sender, kind: m.kind, epoch: m.epoch, round: m.round, phase: m.phase, bytes: m.body.length });
    }
    this.dispatch({ type: 'message', from: message.sender, message });
  }

  /** An epoch certificate chain the launcher vouches for (see the engine's `anchor` event). */
  anchor(chain: Uint8Array): void {
    if (!this.stopped) this.dispatch({ type: 'anchor', chain });
  }

  /**
   * Records a refusal the runtime made before the host saw the frame (a gossip validator's), in
   * the event records only: the runtime counts it itself (its link statistics).
   */
  recordRejection(reason: string, from: PeerId | null): void {
    if (!this.stopped) this.record({ ev: 'reject', peer: this.id, from, reason });
  }

  /**
   * The run-dependent part of a broadcast frame's validation (gossip topic validators): null when
   * plausible, else why not — a body larger than the run allows for its kind, or an epoch beyond
   * what elections can have reached (Election.maxPlausibleEpoch).
   */
  checkBroadcastFrame(frame: Frame): string | null {
    if (frame.totalLength > maxBodyBytes(this.ctx, frame.kind)) return 'message-too-large';
    if (frame.epoch > this.engine.maxPlausibleEpoch(this.scheduler.now())) return 'epoch-window';
    return null;
  }

  peerConnected(peer: PeerId): void {
    if (!this.stopped) this.dispatch({ type: 'peer-connected', peer });
  }

  peerDisconnected(peer: PeerId): void {
    if (this.stopped) return;
    this.tree?.peerGone(peer);
    this.dispatch({ type: 'peer-disconnected', peer });
  }

  /** The scheduler's wake-up: fires the timers that are due. */
  wake(): void {
    if (this.stopped) return;
    this.wakeRequested = Number.POSITIVE_INFINITY;
    const now = this.scheduler.now();
    for (;;) {
      const kind = this.timers.popDue(now);
      if (kind === null || this.stopped) break;
      this.fire(kind);
    }
    this.armWake();
  }

  private refuse(e: unknown, from: PeerId | undefined): void {
    if (!(e instanceof FrameError)) throw e;
    this.rejected[e.code] = (this.rejected[e.code] ?? 0) + 1;
    this.record({ ev: 'reject', peer: this.id, from: from ?? null, reason: e.code });
    this.dispatch({ type: 'rejected', from: from ?? null, reason: e.code });
  }

  // ================================================================ the loop

  private fire(kind: HostTimer): void {
    switch (kind) {
      case 'expire-partials': {
        const n = this.reassembler.expire(this.scheduler.now());
        if (n > 0) this.bump('partials-expired', n);
        this.setHostTimer('expire-partials', this.expireEveryMs);
        return;
      }
      case 'status':
        if (this.cadence.due(this.scheduler.now(), () => this.place())) this.publishStatus();
        this.setHostTimer('status', this.cadence.intervalMs);
        return;
      case 'tree':
        this.tree?.tick();
        return;
      default:
        if (this.wantsPerEvent.timer) this.record({ ev: 'timer', peer: this.id, id: kind });
        this.dispatch({ type: 'timer', id: kind });
    }
  }

  /** Queues an event; handles the queue unless it is being handled already (never re-entered). */
  private dispatch(event: EngineEvent): void {
    if (this.stopped) return;
    const q = this.queue;
    q[this.tail++] = event;
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.head < this.tail && !this.stopped) {
        const ev = q[this.head] as EngineEvent;
        q[this.head++] = null;
        this.handle(ev);
      }
    } finally {
      // Handled slots are null already; a stop mid-queue leaves the rest to drop.
      if (this.head < this.tail) q.fill(null, this.head, this.tail);
      this.head = 0;
      this.tail = 0;
      this.draining = false;
    }
    this.armWake();
  }

  private handle(event: EngineEvent): void {
    let actions: EngineAction[];
    try {
      actions = this.engine.handle(event, this.scheduler.now());
    } catch (e) {
      this.fail(e);
      return;
    }
    let committed = -1;
    for (const a of actions) {
      this.execute(a);
      if (a.type === 'commit') committed = a.round;
      if (this.stopped) return;
    }
    this.afterEvent(committed);
  }

  private fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.record({ ev: 'error', peer: this.id, message: err.message });
    this.stop();
    if (this.onError !== null) this.onError(err);
    else throw err;
  }

  private execute(a: EngineAction): void {
    switch (a.type) {
      case 'broadcast':
        this.broadcast(a.message);
        break;
      case 'send':
        this.send(a.to, a.message);
        break;
      case 'setTimer':
        this.timers.set(a.id, this.scheduler.now() + Math.max(TIMER_MIN_MS, a.delayMs));
        break;
      case 'clearTimer':
        this.timers.clear(a.id);
        break;
      case 'evaluate': {
        const id = a.request.id;
        let completed = false;
        this.evaluator.evaluate(a.request, (error) => {
          if (completed) throw new Error(`evaluation ${id} completed twice`);
          completed = true;
          this.dispatch({ type: 'evaluated', id, error: error === null ? null : error.message });
        });
        break;
      }
      case 'commit':
        if (this.wantsPerEvent.commit)
          this.record({
            ev: 'commit',
            peer: this.id,
            epoch: a.epoch,
            round: a.round,
            iteration: a.iteration,
            phase: a.phase,
            included: a.included.length,
            digest: a.digest,
          });
        break;
      case 'election':
        if (this.wants.has('election')) this.record({ ev: 'election', peer: this.id, epoch: a.epoch, aggregator: a.aggregator });
        break;
      case 'metric':
        if (this.wants.has('metric')) this.record({ ev: 'metric', peer: this.id, name: a.name, value: a.value });
        break;
      case 'roster':
        this.tree?.setRoster(a.roster);
        break;
      case 'done':
        if (this.doneReason === null) {
          this.doneReason = a.reason;
          const e = this.engine;
          if (this.wants.has('done')) {
            this.record({
              ev: 'done',
              peer: this.id,
              reason: a.reason,
              round: e.committedRound,
              iteration: e.replica.iteration,
              digest: e.digestHex,
              relDist: e.relDist(),
            });
          }
          if (this.cadence.enabled) this.publishStatus();
          this.resolveDone(a.reason);
        }
        break;
      default:
        assertNever(a);
    }
    this.onAction?.(a);
  }

  /** Records what the actions do not say: a state installation (a jump of the round), a change of held shards. */
  private afterEvent(committedByAction: number): void {
    if (!this.wantsPerEvent.stateOrHeld) return;
    const e = this.engine;
    const round = e.committedRound;
    if (round !== this.lastRound) {
      if (round !== committedByAction) this.record({ ev: 'state', peer: this.id, round, digest: e.digestHex, iteration: e.replica.iteration });
      this.lastRound = round;
    }
    if (this.role === 'volunteer' && this.wants.has('held')) {
      const held = e.snapshot().held;
      const key = held.join(',');
      if (key !== this.lastHeld) {
        this.lastHeld = key;
        this.record({ ev: 'held', peer: this.id, round, shards: held });
      }
    }
  }

  private setHostTimer(kind: HostTimer, delayMs: number): void {
    this.timers.set(kind, this.scheduler.now() + Math.max(TIMER_MIN_MS, delayMs));
  }

  /** Asks the scheduler for a wake-up at the earliest deadline, when it changed. */
  private armWake(): void {
    if (this.stopped) return;
    const t = this.timers.next();
    if (t === this.wakeRequested) return;
    this.wakeRequested = t;
    this.scheduler.wakeAt(t);
  }

  /** Hands a record to the sink. Hot paths check `wants` first, so that no record is built for nothing. */
  private record(r: HostRecord): void {
    if (this.sink !== null && this.wants.has(r.ev)) this.sink.record(r);
  }

  private bump(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  // ================================================================ outbound

  private frames(message: EngineMessage): { frames: Uint8Array[]; meta: OutgoingMeta } {
    const messageId = this.nextMessageId;
    this.nextMessageId = (this.nextMessageId + 1) >>> 0;
    // Absent options are undefined (the encoder's defaults): one plain object, no spreads per message.
    const frames = encodeFrames(message, { messageId, frameSize: this.frameBytes, alloc: this.alloc });
    let bytes = 0;
    for (const f of frames) bytes += f.byteLength;
    this.bump(counterName('sent-', message.kind));
    this.bump(counterName('body-', message.kind), message.body.length);
    return { frames, meta: { kind: message.kind, epoch: message.epoch, round: message.round, phase: message.phase, bytes } };
  }

  private broadcast(message: EngineMessage): void {
    const { frames, meta } = this.frames(message);
    this.bytes.broadcast += meta.bytes;
    if (message.kind === MSG.ROSTER) {
      this.rosterMessages.keep(message);
    }
    if (this.tree !== null && this.tree.originate(message, frames, meta.bytes)) return;
    this.link.broadcast(frames, meta);
  }

  private send(to: PeerId, message: EngineMessage): void {
    if (to === this.id) {
      // Loopback, after the current actions.
      this.dispatch({ type: 'message', from: this.id, message });
      return;
    }
    const { frames, meta } = this.frames(message);
    this.bytes.direct += meta.bytes;
    this.link.send(to, frames, meta);
  }

  // ================================================================ status

  /** Total refused inbound input: frames the link or the reassembler refused, plus bodies the engine refused. */
  rejectedTotal(): number {
    let n = 0;
    for (const v of Object.values(this.rejected)) n += v;
    const c = this.engine.counters;
    return n + (this.link.stats?.().refused ?? 0) + (c['bad-message'] ?? 0) + (c['bad-payload'] ?? 0);
  }

  /** Where this peer computes from now on (its status reports say so); null = not said. */
  setDevice(device: StatusDevice | null): void {
    this.device = device;
  }

  /** The live status report of this peer. */
  status(): PeerStatus {
    return hostStatus({
      engine: this.engine,
      runId: this.ctx.runId,
      seq: this.cadence.seq,
      role: this.role,
      link: this.link.stats?.() ?? null,
      counters: this.counters,
      rejected: this.rejected,
      rejectedTotal: this.rejectedTotal(),
      bytes: this.bytes,
      uptimeMs: Math.max(0, Math.round(this.scheduler.now() - this.startedAt)),
      device: this.device,
    });
  }

  /** Publishes the status report now (when the link publishes status). */
  publishStatus(): void {
    if (this.stopped || this.link.publishStatus === undefined) return;
    this.cadence.seq++;
    const report = this.status();
    this.cadence.published(this.scheduler.now(), report);
    this.link.publishStatus(encodeStatus(report));
  }

  /**
   * A watcher asked for reports (a status query): this peer reports now, or at its next status
   * tick if it reported less than a status interval ago (at most one answer per interval).
   */
  requestStatus(): void {
    if (this.cadence.ask(this.scheduler.now())) this.publishStatus();
  }

  /** This peer's place in the run, as its status report would say it. */
  private place(): StatusPlace {
    const s = this.engine.snapshot();
    return { epoch: s.epoch, aggregator: s.aggregator, isAggregator: s.isAggregator, heldCount: s.held.length, done: s.done };
  }
}

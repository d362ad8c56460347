/**
 * The engine driver of a Node peer: it runs one sans-I/O `MashaPeer` on the real clock and a
 * libp2p `SwarmTransport`, the way the simulator (sim/src/des/swarm.ts) runs it in virtual time.
 *
 * - Clock: `performance.now()` (monotone ms) stamps every event handed to the engine.
 * - Timers: `setTimer`/`clearTimer` map to `setTimeout`/`clearTimeout`, one per timer id
 *   (re-setting an id replaces it).
 * - `broadcast` → `encodeFrames` → gossipsub publish of each frame on the run's broadcast topic;
 *   `send` → frames → the `/masha/uplink/1.0.0` direct stream to that peer. Every message gets its
 *   own frame message id, so repeated messages (an idle aggregator's ANNOUNCEs are byte-identical
 *   otherwise) are never swallowed by gossipsub's de-duplication (message id = hash of the data).
 * - Inbound frames (gossip and direct) go through one `Reassembler` whose per-message limit comes
 *   from the run (`maxBodyBytes(ctx, kind)`), which also refuses frames of other runs and frames
 *   whose declared sender is not the authenticated author (gossip messages are signed; direct
 *   streams are authenticated by noise). Refused frames become `rejected` events (the engine
 *   counts them) and are counted here by reason. Complete messages become `message` events.
 * - libp2p connection events become `peer-connected` / `peer-disconnected` hints (heartbeats stay
 *   authoritative). Partial messages expire by age (4 leases), not on disconnection: a peer's
 *   gossip frames can still come through others.
 * - Event log: one line per commit, election, metric, done, refused frame, change of held
 *   shards and state installation (event-log.ts).
 * - Status: `status()` is the live view (round, epoch, aggregator, held shards, bytes, metric);
 *   volunteers publish it on the run's status topic every `statusIntervalMs`.
 *
 * An observer (the launcher) runs the same engine as a passive follower: it applies the commits
 * it hears (so the launcher holds the run's true iterate), asks for state when it falls behind,
 * and sends nothing else — no heartbeats, so it is never a member, never given shards and never
 * elected; its timers are not armed.
 */
import { randomInt } from 'node:crypto';
import {
  encodeFrames,
  FrameError,
  KIND_NAMES,
  MashaPeer,
  maxBodyBytes,
  MSG,
  Reassembler,
  type EngineAction,
  type EngineEvent,
  type EngineMessage,
  type RunContext,
} from '@masha/protocol';
import { UPLINK_PROTOCOL, type SwarmTransport } from '../net/swarm-transport.js';
import { NO_LOG, type EventSink } from './event-log.js';
import { encodeStatus, MAX_COUNTERS, MAX_LISTED_SHARDS, STATUS_VERSION, type PeerStatus } from '@masha/protocol/swarm';
import { broadcastTopic, statusTopic } from '@masha/protocol/swarm';

export type DriverRole = 'volunteer' | 'observer';

export interface PeerDriverOptions {
  readonly transport: SwarmTransport;
  readonly ctx: RunContext;
  /** Frame size for outgoing messages (the manifest's `network.frameBytes`, capped at the transport's). */
  readonly frameBytes: number;
  readonly log?: EventSink;
  readonly role?: DriverRole;
  /** Publish a status report this often (ms); 0 = never. Default 1000 for volunteers, 0 for observers. */
  readonly statusIntervalMs?: number;
  /** Monotone clock in ms (default `performance.now`). */
  readonly clock?: () => number;
  /** Called for every engine action after the driver carried it out. */
  readonly onAction?: (action: EngineAction) => void;
  /** Called when the engine throws something that is not a typed refusal (a bug): the peer stops. */
  readonly onError?: (error: Error) => void;
  /** Oldest a partial inbound message may get (ms). Default: 4 leases. */
  readonly maxPartialAgeMs?: number;
  /** Engine start-up wait for the gossip mesh (ms): at least `minMs`, at most `maxMs`. Default 500 / 3000. */
  readonly warmup?: { readonly minMs: number; readonly maxMs: number };
}

export interface DriverBytes {
  direct: number;
  broadcast: number;
  received: number;
}

export class PeerDriver {
  readonly engine: MashaPeer;
  readonly ctx: RunContext;
  readonly role: DriverRole;
  readonly self: string;
  readonly bcastTopic: string;
  readonly statusTopic: string;
  /** Frame bytes by direction. */
  readonly bytes: DriverBytes = { direct: 0, broadcast: 0, received: 0 };
  /** Refused inbound frames by reason (FrameError code). */
  readonly rejected: Record<string, number> = {};
  /** Driver-level counters: messages by kind sent and received, send failures. */
  readonly counters: Record<string, number> = {};
  /** Resolves with the engine's reason once the run is over for this peer. */
  readonly done: Promise<string>;

  private readonly transport: SwarmTransport;
  private readonly frameBytes: number;
  private readonly log: EventSink;
  private readonly clock: () => number;
  private readonly onAction: ((action: EngineAction) => void) | null;
  private readonly onError: ((error: Error) => void) | null;
  private readonly statusIntervalMs: number;
  private readonly reassembler: Reassembler;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly unsubscribe: (() => void)[] = [];
  private periodic: NodeJS.Timeout | null = null;
  private warmupTimer: NodeJS.Timeout | null = null;
  private readonly warmup: { readonly minMs: number; readonly maxMs: number };
  private statusTimer: NodeJS.Timeout | null = null;
  private resolveDone: (reason: string) => void = () => {};
  private started = false;
  private stopped = false;
  private startedAt = 0;
  private nextMessageId: number;
  private statusSeq = 0;
  private lastRound = 0;
  private lastHeld = '';
  private doneReason: string | null = null;

  constructor(options: PeerDriverOptions) {
    this.transport = options.transport;
    this.ctx = options.ctx;
    this.self = options.transport.self;
    this.role = options.role ?? 'volunteer';
    this.engine = new MashaPeer(this.self, options.ctx);
    this.frameBytes = Math.min(options.frameBytes, options.transport.maxFrameBytes);
    this.log = options.log ?? NO_LOG;
    this.clock = options.clock ?? (() => performance.now());
    this.onAction = options.onAction ?? null;
    this.onError = options.onError ?? null;
    this.statusIntervalMs = options.statusIntervalMs ?? (this.role === 'observer' ? 0 : 1000);
    this.warmup = options.warmup ?? { minMs: 500, maxMs: 3_000 };
    this.bcastTopic = broadcastTopic(options.ctx.runId);
    this.statusTopic = statusTopic(options.ctx.runId);
    const ctx = options.ctx;
    this.reassembler = new Reassembler({
      maxMessageBytes: (h) => maxBodyBytes(ctx, h.kind),
      runId: ctx.runId,
      maxPartialsPerSender: 16,
      maxAgeMs: options.maxPartialAgeMs ?? 4 * ctx.timing.leaseMs,
    });
    this.nextMessageId = randomInt(0, 0x7fffffff);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Subscribes to the run's topics, starts the engine (volunteers) and the periodic tasks. */
  start(): void {
    if (this.started) throw new Error('driver already started');
    this.started = true;
    this.startedAt = this.clock();
    const t = this.transport;
    const signed = t.node.gossip.signing === 'sign';
    this.unsubscribe.push(
      t.subscribe(this.bcastTopic, (from, frame) => this.onFrame(signed ? from : undefined, frame)),
      t.onDirect((from, frame) => this.onFrame(from, frame)),
      // Partial messages of a peer whose connection closed are kept (until their age limit): its
      // gossip frames may still arrive through other peers.
      t.onPeer((kind, peer) => this.dispatch({ type: kind === 'connected' ? 'peer-connected' : 'peer-disconnected', peer })),
    );
    this.log.write('start', { peer: this.self, runId: this.ctx.runId, role: this.role });
    this.periodic = setInterval(() => {
      const n = this.reassembler.expire(this.clock());
      if (n > 0) this.bump('partials-expired', n);
    }, 1000);
    if (this.statusIntervalMs > 0) {
      this.statusTimer = setInterval(() => this.publishStatus(), this.statusIntervalMs);
    }
    if (this.role === 'volunteer') this.startEngineWhenReady();
  }

  /**
   * Starts the engine once gossip on the broadcast topic can flow (some peer — at least the relay
   * — is known to follow the topic) and at least `warmup.minMs` have passed, or after
   * `warmup.maxMs` whatever happens. Claiming the aggregator's role into a mesh that does not exist
   * yet would make every fresh peer of a new run claim it at once. Messages heard meanwhile are
   * handed to the engine already (an existing aggregator is adopted before the lease starts).
   */
  private startEngineWhenReady(): void {
    const { minMs, maxMs } = this.warmup;
    const begin = this.clock();
    const poll = (): void => {
      if (this.stopped) return;
      const waited = this.clock() - begin;
      const ready = waited >= minMs && this.transport.topicPeers(this.bcastTopic).length > 0;
      if (ready || waited >= maxMs) {
        this.warmupTimer = null;
        this.log.write('engine-start', { peer: this.self, waitedMs: Math.round(waited), topicPeers: this.transport.topicPeers(this.bcastTopic).length });
        this.dispatch({ type: 'start' });
      } else {
        this.warmupTimer = setTimeout(poll, 50);
      }
    };
    poll();
  }

  /** Stops timers and handlers (the transport stays open: its owner closes it). Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const h of this.timers.values()) clearTimeout(h);
    this.timers.clear();
    if (this.periodic !== null) clearInterval(this.periodic);
    if (this.warmupTimer !== null) clearTimeout(this.warmupTimer);
    if (this.statusTimer !== null) clearInterval(this.statusTimer);
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  // ---------------------------------------------------------------- inbound

  private onFrame(from: string | undefined, frame: Uint8Array): void {
    if (this.stopped) return;
    this.bytes.received += frame.byteLength;
    let message: EngineMessage | null;
    try {
      message = this.reassembler.acceptBytes(frame, this.clock(), from);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.rejected[e.code] = (this.rejected[e.code] ?? 0) + 1;
      this.log.write('reject', { peer: this.self, from: from ?? null, reason: e.code });
      this.dispatch({ type: 'rejected', from: from ?? null, reason: e.code });
      return;
    }
    if (message === null) return;
    this.bump(`recv-${KIND_NAMES[message.kind] ?? message.kind}`);
    this.dispatch({ type: 'message', from: message.sender, message });
  }

  /** Hands one event to the engine and carries out its actions. Never re-entered: actions are asynchronous. */
  private dispatch(event: EngineEvent): void {
    if (this.stopped) return;
    let actions: EngineAction[];
    try {
      actions = this.engine.handle(event, this.clock());
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
    this.log.write('error', { peer: this.self, message: err.message });
    this.stop();
    if (this.onError !== null) this.onError(err);
    else throw err;
  }

  /** Logs what the actions do not say: a state installation (a jump of the committed round), a change of held shards. */
  private afterEvent(committedByAction: number): void {
    const round = this.engine.committedRound;
    if (round !== this.lastRound) {
      if (round !== committedByAction) {
        this.log.write('state', { peer: this.self, round, digest: this.engine.digestHex, iteration: this.engine.replica.iteration });
      }
      this.lastRound = round;
    }
    if (this.role === 'volunteer') {
      const held = this.engine.snapshot().held;
      const key = held.join(',');
      if (key !== this.lastHeld) {
        this.lastHeld = key;
        this.log.write('held', { peer: this.self, round, shards: held });
      }
    }
  }

  // ---------------------------------------------------------------- actions

  private execute(a: EngineAction): void {
    switch (a.type) {
      case 'broadcast':
        if (this.role === 'volunteer') this.broadcast(a.message);
        break;
      case 'send':
        // An observer only ever asks for state; anything else would make it a member.
        if (this.role === 'volunteer' || a.message.kind === MSG.STATE_REQUEST) this.send(a.to, a.message);
        break;
      case 'setTimer':
        if (this.role === 'volunteer') this.setTimer(a.id, a.delayMs);
        break;
      case 'clearTimer': {
        const h = this.timers.get(a.id);
        if (h !== undefined) {
          clearTimeout(h);
          this.timers.delete(a.id);
        }
        break;
      }
      case 'commit':
        this.log.write('commit', {
          peer: this.self,
          epoch: a.epoch,
          round: a.round,
          iteration: a.iteration,
          phase: a.phase,
          included: a.included.length,
          digest: a.digest,
        });
        break;
      case 'election':
        this.log.write('election', { peer: this.self, epoch: a.epoch, aggregator: a.aggregator });
        break;
      case 'metric':
        this.log.write('metric', { peer: this.self, name: a.name, value: a.value });
        break;
      case 'done':
        if (this.doneReason === null) {
          this.doneReason = a.reason;
          this.log.write('done', {
            peer: this.self,
            reason: a.reason,
            round: this.engine.committedRound,
            iteration: this.engine.replica.iteration,
            digest: this.engine.digestHex,
            relDist: this.engine.relDist(),
          });
          if (this.statusIntervalMs > 0) this.publishStatus();
          this.resolveDone(a.reason);
        }
        break;
    }
    this.onAction?.(a);
  }

  private setTimer(id: string, delayMs: number): void {
    const old = this.timers.get(id);
    if (old !== undefined) clearTimeout(old);
    const h = setTimeout(() => {
      if (this.timers.get(id) !== h) return;
      this.timers.delete(id);
      this.dispatch({ type: 'timer', id });
    }, Math.max(0, delayMs));
    this.timers.set(id, h);
  }

  private frames(message: EngineMessage): Uint8Array[] {
    const messageId = this.nextMessageId;
    this.nextMessageId = (this.nextMessageId + 1) >>> 0;
    return encodeFrames(message, { frameSize: this.frameBytes, messageId });
  }

  private broadcast(message: EngineMessage): void {
    const frames = this.frames(message);
    const kind = KIND_NAMES[message.kind] ?? String(message.kind);
    this.bump(`sent-${kind}`);
    this.bump(`body-${kind}`, message.body.length);
    for (const f of frames) {
      this.bytes.broadcast += f.byteLength;
      this.transport.publish(this.bcastTopic, f).catch(() => this.bump('publish-failed'));
    }
  }

  private send(to: string, message: EngineMessage): void {
    const frames = this.frames(message);
    const kind = KIND_NAMES[message.kind] ?? String(message.kind);
    this.bump(`sent-${kind}`);
    this.bump(`body-${kind}`, message.body.length);
    if (to === this.self) {
      // Loopback through the frame codec, after the current event.
      setImmediate(() => {
        for (const f of frames) this.onFrame(this.self, f);
      });
      return;
    }
    for (const f of frames) {
      this.bytes.direct += f.byteLength;
      this.transport.sendDirect(to, f).catch(() => this.bump('send-failed'));
    }
  }

  private bump(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  // ---------------------------------------------------------------- status

  /** Total refused inbound input: frames the transport or the reassembler refused, plus bodies the engine refused. */
  rejectedTotal(): number {
    let n = 0;
    for (const v of Object.values(this.rejected)) n += v;
    const t = this.transport.counters().rejected;
    const c = this.engine.counters;
    return n + t.gossipInvalid + t.oversized + t.empty + (c['bad-message'] ?? 0) + (c['bad-payload'] ?? 0);
  }

  /** The live status report of this peer. */
  status(): PeerStatus {
    const snap = this.engine.snapshot();
    const tc = this.transport.counters();
    const wire = tc.wire.connections;
    // Driver and transport counters first, then the engine's (alphabetically) up to the cap.
    const counters: Record<string, number> = {
      'net-send-failed': this.counters['send-failed'] ?? 0,
      'net-publish-failed': this.counters['publish-failed'] ?? 0,
      'net-uplinks-sent': this.counters['sent-uplink'] ?? 0,
      'net-commits-sent': this.counters['sent-commit'] ?? 0,
      'net-frames-refused': Object.values(this.rejected).reduce((a, b) => a + b, 0),
      'net-transport-refused': tc.rejected.gossipInvalid + tc.rejected.oversized + tc.rejected.empty,
      // Payload accounting (benchmarks): message bodies sent, and bytes on the uplink / gossip protocol streams.
      'net-uplink-body-bytes': this.counters['body-uplink'] ?? 0,
      'net-commit-body-bytes': this.counters['body-commit'] ?? 0,
      'net-uplink-stream-bytes': streamBytes(tc.wire.protocols, UPLINK_PROTOCOL),
      'net-gossip-stream-bytes': streamBytes(tc.wire.protocols, '/meshsub/'),
    };
    const names = [...Object.keys(this.engine.counters)].sort();
    for (const name of names) {
      if (Object.keys(counters).length >= MAX_COUNTERS) break;
      counters[name] = this.engine.counters[name];
    }
    const relDist = this.engine.relDist();
    return {
      v: STATUS_VERSION,
      runId: this.ctx.runId,
      seq: this.statusSeq,
      role: this.role === 'observer' ? 'launcher' : 'volunteer',
      epoch: snap.epoch,
      aggregator: snap.aggregator,
      isAggregator: snap.isAggregator,
      round: snap.round,
      iteration: snap.iteration,
      digest: snap.digest,
      relDist: relDist !== null && Number.isFinite(relDist) ? relDist : null,
      held: snap.held.slice(0, MAX_LISTED_SHARDS),
      heldCount: snap.held.length,
      done: snap.done,
      uptimeMs: Math.max(0, Math.round(this.clock() - this.startedAt)),
      bytes: {
        direct: this.bytes.direct,
        broadcast: this.bytes.broadcast,
        received: this.bytes.received,
        wireSent: wire.sent,
        wireReceived: wire.received,
      },
      rejected: this.rejectedTotal(),
      counters,
    };
  }

  /** Publishes the status report now (volunteers). */
  publishStatus(): void {
    if (this.stopped) return;
    this.statusSeq++;
    let bytes: Uint8Array;
    try {
      bytes = encodeStatus(this.status());
    } catch (e) {
      this.log.write('error', { peer: this.self, message: (e as Error).message });
      return;
    }
    this.transport.publish(this.statusTopic, bytes).catch(() => this.bump('publish-failed'));
  }
}

/** Bytes sent on the protocol streams whose name starts with `prefix`. */
function streamBytes(protocols: Readonly<Record<string, { sent: number }>>, prefix: string): number {
  let n = 0;
  for (const [name, c] of Object.entries(protocols)) if (name.startsWith(prefix)) n += c.sent;
  return n;
}

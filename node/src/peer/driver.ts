/**
 * The Node runtime of a peer: the protocol's `PeerHost` with Node implementations of its ports.
 *
 * - `NodeScheduler`: `performance.now()` and one `setTimeout` for the host's next deadline.
 * - `NodeFrameLink` over a libp2p `SwarmTransport`: `broadcast` publishes each frame on the run's
 *   broadcast topic (gossipsub), `send` writes each frame to the `/masha/uplink/1.0.0` direct
 *   stream of that peer, `relay` to its `/masha/tree/1.0.0` stream (the relay trees of large
 *   broadcasts, protocol/src/tree/), status reports go to the run's status topic. Every message has its own
 *   frame message id (the host numbers them from a random start), so repeated messages (an idle
 *   aggregator's ANNOUNCEs are byte-identical otherwise) are never swallowed by gossipsub's
 *   de-duplication (message id = hash of the data).
 * - Inbound frames (gossip and direct) go to the host with the authenticated sender (gossip
 *   messages are signed; direct streams are authenticated by noise), which refuses a frame whose
 *   declared sender differs. libp2p connection events become the host's connection hints.
 * - The evaluator is given (a synthetic problem's own, or a model's ONNX evaluator).
 * - Event log: the host's records, as lines of events.jsonl (event-log.ts).
 *
 * A volunteer's engine starts once gossip on the broadcast topic can flow (some peer — at least
 * the relay — follows the topic) and at least `warmup.minMs` have passed, or after `warmup.maxMs`
 * whatever happens: claiming the aggregator's role into a mesh that does not exist yet would make
 * every fresh peer of a new run claim it at once. Messages heard meanwhile reach the engine already.
 * An observer (the launcher) runs the engine's observer role: it applies the commits it hears and
 * fetches state when behind, and is never a member.
 */
import { createHash, randomInt } from 'node:crypto';
import type { EngineAction, EngineRole, MashaPeer, RunContext } from '@masha/protocol';
import { PeerHost, type HostBytes, type HostRecord, type RecordKind } from '@masha/protocol/host';
import type { EventSink as RecordSink, Evaluator, FrameLink, LinkStats, Scheduler } from '@masha/protocol/ports';
import { broadcastTopic, STATUS_STEADY_MS, statusTopic, type PeerStatus } from '@masha/protocol/swarm';
import { TREE_PROTOCOL, UPLINK_PROTOCOL, type SwarmTransport } from '../net/swarm-transport.js';
import { NO_LOG, type EventSink } from './event-log.js';
import { NodeIdentity } from './identity.js';
import { installNativeSha256 } from './native-sha256.js';

export type DriverRole = EngineRole;

export interface PeerDriverOptions {
  readonly transport: SwarmTransport;
  readonly ctx: RunContext;
  /** Computes the operator evaluations (for synthetic problems: `new ProblemEvaluator(run.problem)`). */
  readonly evaluator: Evaluator;
  /** Frame size for outgoing messages (the manifest's `network.frameBytes`, capped at the transport's). */
  readonly frameBytes: number;
  readonly log?: EventSink;
  readonly role?: DriverRole;
  /** Publish a status report this often (ms); 0 = never. Default 1000 for volunteers, 0 for observers. */
  readonly statusIntervalMs?: number;
  /** Between changes, report only this often unless asked (PeerHostInit.statusSteadyMs). Default STATUS_STEADY_MS. */
  readonly statusSteadyMs?: number;
  /** Called for every engine action after the host carried it out. */
  readonly onAction?: (action: EngineAction) => void;
  /** Called when the engine throws something that is not a typed refusal (a bug): the peer stops. */
  readonly onError?: (error: Error) => void;
  /** Oldest a partial inbound message may get (ms). Default: 4 leases. */
  readonly maxPartialAgeMs?: number;
  /** Engine start-up wait for the gossip mesh (ms): at least `minMs`, at most `maxMs`. Default 500 / 3000. */
  readonly warmup?: { readonly minMs: number; readonly maxMs: number };
  /** This peer's join token (runs whose admission policy asks for one). */
  readonly token?: Uint8Array | null;
  /** What this peer reports for the relay trees: its upload rate (kbit/s, 0 = unknown) and whether it never relays. */
  readonly capacity?: { readonly upKbps: number; readonly leaf: boolean };
  /** The peers admitted as members of the run (EngineOptions.admits): state is served only to them. */
  readonly admits?: (peer: string) => boolean;
  /** Called with every host record before it is written to the log (the launcher's write-ahead log goes first). */
  readonly beforeRecord?: (record: HostRecord) => void;
}

/** SHA-256 of a frame with Node's native hash (the relay trees' anchor check; ~5× the pure-JS one). */
function nativeFrameHash(frame: Uint8Array): Uint8Array {
  return createHash('sha256').update(frame).digest();
}

/** The host's clock and its one timer on Node. */
export class NodeScheduler implements Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private target: (() => void) | null = null;

  /** The host to wake (set once the host exists). */
  bind(wake: () => void): void {
    this.target = wake;
  }

  now(): number {
    return performance.now();
  }

  wakeAt(t: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (t === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.target?.();
      },
      Math.max(0, t - performance.now()),
    );
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The host's frames over a libp2p swarm transport. */
export class NodeFrameLink implements FrameLink {
  private sendFailed = 0;
  private publishFailed = 0;
  private relayFailed = 0;

  constructor(
    private readonly transport: SwarmTransport,
    private readonly bcastTopic: string,
    private readonly statusTopic: string,
  ) {}

  send(to: string, frames: readonly Uint8Array[]): void {
    for (const f of frames) this.transport.sendDirect(to, f).catch(() => this.sendFailed++);
  }

  broadcast(frames: readonly Uint8Array[]): void {
    for (const f of frames) this.transport.publish(this.bcastTopic, f).catch(() => this.publishFailed++);
  }

  relay(to: string, frames: readonly Uint8Array[]): void {
    for (const f of frames) this.transport.sendTree(to, f).catch(() => this.relayFailed++);
  }

  publishStatus(report: Uint8Array): void {
    this.transport.publish(this.statusTopic, report).catch(() => this.publishFailed++);
  }

  stats(): LinkStats {
    const tc = this.transport.counters();
    const wire = tc.wire.connections;
    const refused = tc.rejected.gossipInvalid + tc.rejected.oversized + tc.rejected.empty;
    return {
      wireSent: wire.sent,
      wireReceived: wire.received,
      refused,
      counters: {
        'net-send-failed': this.sendFailed,
        'net-publish-failed': this.publishFailed,
        'net-relay-failed': this.relayFailed,
        'net-transport-refused': refused,
        // Payload accounting (benchmarks): bytes on the uplink / gossip protocol streams.
        'net-uplink-stream-bytes': streamBytes(tc.wire.protocols, UPLINK_PROTOCOL),
        'net-gossip-stream-bytes': streamBytes(tc.wire.protocols, '/meshsub/'),
        'net-tree-stream-bytes': streamBytes(tc.wire.protocols, TREE_PROTOCOL),
      },
    };
  }
}

/** The host's records as events.jsonl lines. */
class LogRecords implements RecordSink {
  readonly wants: ReadonlySet<RecordKind>;
  constructor(
    private readonly log: EventSink,
    role: DriverRole,
    private readonly before: ((record: HostRecord) => void) | null = null,
  ) {
    const kinds: RecordKind[] = ['start', 'commit', 'election', 'metric', 'done', 'reject', 'state', 'error', 'tree'];
    if (role === 'volunteer') kinds.push('held');
    this.wants = new Set(kinds);
  }
  record(r: HostRecord): void {
    this.before?.(r);
    const { ev, ...fields } = r;
    this.log.write(ev, fields);
  }
}

export class PeerDriver {
  readonly host: PeerHost;
  readonly ctx: RunContext;
  readonly role: DriverRole;
  readonly self: string;
  /** Resolves with the engine's reason once the run is over for this peer. */
  readonly done: Promise<string>;

  private readonly transport: SwarmTransport;
  private readonly scheduler = new NodeScheduler();
  private readonly log: EventSink;
  private readonly warmup: { readonly minMs: number; readonly maxMs: number };
  private readonly bcastTopic: string;
  private readonly unsubscribe: (() => void)[] = [];
  private warmupTimer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(options: PeerDriverOptions) {
    installNativeSha256();
    const t = options.transport;
    this.transport = t;
    this.ctx = options.ctx;
    this.self = t.self;
    this.role = options.role ?? 'volunteer';
    this.log = options.log ?? NO_LOG;
    this.warmup = options.warmup ?? { minMs: 500, maxMs: 3_000 };
    this.bcastTopic = broadcastTopic(options.ctx.runId);
    const link = new NodeFrameLink(t, this.bcastTopic, statusTopic(options.ctx.runId));
    this.host = new PeerHost(
      {
        id: t.self,
        ctx: options.ctx,
        role: this.role,
        frameBytes: Math.min(options.frameBytes, t.maxFrameBytes),
        firstMessageId: randomInt(0, 0x7fffffff),
        // Keys which answers this peer audits when it aggregates: unpredictable to the holders.
        secret: randomInt(0, 2 ** 47),
        statusIntervalMs: options.statusIntervalMs ?? (this.role === 'observer' ? 0 : 1000),
        statusSteadyMs: options.statusSteadyMs ?? STATUS_STEADY_MS,
        ...(options.maxPartialAgeMs !== undefined ? { maxPartialAgeMs: options.maxPartialAgeMs } : {}),
        ...(options.admits !== undefined ? { admits: options.admits } : {}),
        ...(options.onAction ? { onAction: options.onAction } : {}),
        ...(options.onError ? { onError: options.onError } : {}),
        tree: { hash: nativeFrameHash },
        ...(options.capacity ? { capacity: options.capacity } : {}),
        ...(options.token ? { token: options.token } : {}),
      },
      {
        scheduler: this.scheduler,
        link,
        evaluator: options.evaluator,
        identity: new NodeIdentity(t.node.privateKey.raw),
        events: new LogRecords(this.log, this.role, options.beforeRecord ?? null),
      },
    );
    this.scheduler.bind(() => this.host.wake());
    this.done = this.host.done;
  }

  /** The host's engine (read-only use). */
  get engine(): MashaPeer {
    return this.host.engine;
  }

  get bytes(): HostBytes {
    return this.host.bytes;
  }

  get rejected(): Readonly<Record<string, number>> {
    return this.host.rejected;
  }

  get isStopped(): boolean {
    return this.host.isStopped;
  }

  /** Subscribes to the run's topics and starts the host (a volunteer's engine once the mesh is ready). */
  start(): void {
    if (this.started) throw new Error('driver already started');
    this.started = true;
    const t = this.transport;
    const signed = t.node.gossip.signing === 'sign';
    this.unsubscribe.push(
      // The topic validator already refused what any peer can tell is wrong (gossip-validate.ts);
      // the host adds the run's limits and the epoch window, and records the refusals.
      t.subscribe(this.bcastTopic, (from, frame) => this.host.receive(frame, signed ? from : undefined, 'broadcast'), {
        check: (frame) => this.host.checkBroadcastFrame(frame),
      }),
      t.onGossipReject((topic, reason, source) => {
        if (topic === this.bcastTopic) this.host.recordRejection(reason, source);
      }),
      t.onDirect((from, frame) => this.host.receive(frame, from, 'direct')),
      t.onTree((from, frame) => this.host.receiveRelayed(frame, from)),
      // Partial messages of a peer whose connection closed are kept (until their age limit): its
      // gossip frames may still arrive through other peers.
      t.onPeer((kind, peer) => (kind === 'connected' ? this.host.peerConnected(peer) : this.host.peerDisconnected(peer))),
    );
    const volunteer = this.role === 'volunteer';
    this.host.start({ engine: !volunteer });
    if (volunteer) this.startEngineWhenReady();
  }

  private startEngineWhenReady(): void {
    const { minMs, maxMs } = this.warmup;
    const begin = performance.now();
    const poll = (): void => {
      if (this.host.isStopped) return;
      const waited = performance.now() - begin;
      const ready = waited >= minMs && this.transport.topicPeers(this.bcastTopic).length > 0;
      if (ready || waited >= maxMs) {
        this.warmupTimer = null;
        this.log.write('engine-start', { peer: this.self, waitedMs: Math.round(waited), topicPeers: this.transport.topicPeers(this.bcastTopic).length });
        this.host.startEngine();
      } else {
        this.warmupTimer = setTimeout(poll, 50);
      }
    };
    poll();
  }

  /** Stops the host and the handlers (the transport stays open: its owner closes it). Idempotent. */
  stop(): void {
    this.host.stop();
    this.scheduler.cancel();
    if (this.warmupTimer !== null) clearTimeout(this.warmupTimer);
    this.warmupTimer = null;
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  /** An epoch certificate chain the launcher vouches for (its signed run announcement). */
  anchor(chain: Uint8Array): void {
    this.host.anchor(chain);
  }

  rejectedTotal(): number {
    return this.host.rejectedTotal();
  }

  status(): PeerStatus {
    return this.host.status();
  }

  publishStatus(): void {
    this.host.publishStatus();
  }

  /** A watcher asked for reports: report at the next status tick. */
  requestStatus(): void {
    this.host.requestStatus();
  }
}

/** Bytes sent on the protocol streams whose name starts with `prefix`. */
function streamBytes(protocols: Readonly<Record<string, { sent: number }>>, prefix: string): number {
  let n = 0;
  for (const [name, c] of Object.entries(protocols)) if (name.startsWith(prefix)) n += c.sent;
  return n;
}

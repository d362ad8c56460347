/**
 * The transport the engine driver uses: frames (opaque byte arrays of at most `maxFrameBytes`)
 * over gossipsub topics and over direct `/masha/uplink/1.0.0` streams, the relay trees' frames
 * over direct `/masha/tree/1.0.0` streams (the tree channel: frames of a broadcast whose origin
 * is another peer, forwarded parent → child; the same framing and limits), membership hints from
 * libp2p connection events, and byte counters.
 *
 * - `publish(topic, frame)`: gossipsub. Frames above the frame size are refused locally
 *   (`NetError('frame-too-large')`). Inbound messages go through the topic validator
 *   (gossip-validate.ts): empty, oversized, undecodable, of another run, of a kind that does not
 *   travel on that topic, or naming a sender other than their signed author, they are *rejected*
 *   (neither delivered nor forwarded, and gossipsub's peer score penalises the peer that sent
 *   them); a subscriber's own contextual check (`SubscribeOptions.check`) adds the run's limits.
 *   Refusals are counted by reason and reported to `onGossipReject` listeners.
 * - `sendDirect(peer, frame)` / `sendTree(peer, frame)`: one long-lived outbound stream per peer
 *   and protocol, frames length-prefixed (length-prefix.ts), written in call order, waiting for
 *   the muxer to drain when its buffer is full. A stream that died is reopened on the next send.
 *   The two protocols have separate streams, so a large relayed broadcast never queues an uplink
 *   behind it (each stream has its own flow-control window on the connection).
 * - Inbound direct streams: a reader per stream; a length prefix of 0 or above the frame size
 *   resets that stream and increments `rejected.oversized` / `rejected.empty`. A stream idle for
 *   `streamIdleMs` (no bytes) is closed (`rejected.idle`), so a peer cannot hold stream slots
 *   open for nothing; the sending side closes its own outbound streams a little earlier, and
 *   reopens one on its next send.
 * - `from` given to handlers: for direct frames the remote peer of the stream; for gossip the
 *   message's author when messages are signed (StrictSign), else the peer that forwarded it.
 *   Either way the frame's own sender field is what the engine reads; with signing on, the driver
 *   can check the two agree.
 * - `counters().treeLinks`: the tree channel's frames per peer and per kind of connection that
 *   carried them (`linkKindOf`: a direct WebRTC link, a relayed one, or a direct TCP/WebSocket
 *   one), so a test or an operator can see which links the relay trees really use.
 */
import type { GossipsubMessage, TopicValidatorFn } from '@libp2p/gossipsub';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { NetError } from './errors.js';
import type { MashaNode } from './node-core.js';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import { checkTopicMessage, contextualVerdict, topicKind, type ContextCheck } from './gossip-validate.js';
import { scoreTopic } from './gossip-config.js';
import { encodeLengthPrefixed, LengthPrefixedReader } from './length-prefix.js';
import type { ByteCount, WireCounts } from './wire-meter.js';

export const UPLINK_PROTOCOL = '/masha/uplink/1.0.0';
/** The relay trees' channel (frames of broadcasts relayed parent → child). */
export const TREE_PROTOCOL = '/masha/tree/1.0.0';

type Channel = typeof UPLINK_PROTOCOL | typeof TREE_PROTOCOL;

/**
 * The kind of connection a stream runs on: `relayed` (a limited circuit-relay connection),
 * `webrtc` (a direct, unlimited WebRTC connection, e.g. a tab's `/p2p-circuit/webrtc` link), or
 * `direct` (TCP or WebSocket).
 */
export type LinkKind = 'webrtc' | 'relayed' | 'direct';

export function linkKindOf(connection: Pick<Connection, 'limits' | 'remoteAddr'>): LinkKind {
  if (connection.limits !== undefined) return 'relayed';
  return connection.remoteAddr.getComponents().some((c) => c.name === 'webrtc' || c.name === 'webrtc-direct') ? 'webrtc' : 'direct';
}

/** Tree-channel frames exchanged with one peer over one kind of connection. */
export interface TreeLinkCount {
  readonly peer: string;
  readonly link: LinkKind;
  readonly sent: FrameCount;
  readonly received: FrameCount;
}

export type FrameHandler = (from: string, frame: Uint8Array) => void;
export type PeerEventKind = 'connected' | 'disconnected';
/** A gossip message the validator refused: on `topic`, why, and from which peer (the one that handed it to us). */
export type GossipRejectHandler = (topic: string, reason: string, source: string, author: string | undefined) => void;

export interface SubscribeOptions {
  /** The subscriber's contextual check of a frame on this topic (gossip-validate.ts): a refusal reason or null. */
  readonly check?: ContextCheck;
}
export type PeerHandler = (kind: PeerEventKind, peer: string) => void;

export interface FrameCount {
  frames: number;
  bytes: number;
}

export interface TransportCounters {
  /** Frames published per topic (each counted once, whatever the fan-out). */
  readonly published: Readonly<Record<string, FrameCount>>;
  /** Frames delivered to us per topic (after de-duplication and validation). */
  readonly delivered: Readonly<Record<string, FrameCount>>;
  readonly directSent: FrameCount;
  readonly directReceived: FrameCount;
  /** Frames on the tree channel. */
  readonly treeSent: FrameCount;
  readonly treeReceived: FrameCount;
  /** The tree channel's frames by peer and kind of connection (one entry per pair seen). */
  readonly treeLinks: readonly TreeLinkCount[];
  /** Refused inbound input, by reason. */
  readonly rejected: {
    /** A direct stream announced a frame above the frame size (stream reset). */
    readonly oversized: number;
    /** A direct stream announced an empty frame (stream reset). */
    readonly empty: number;
    /** Gossip messages refused by the topic validators (rejected or ignored), all reasons. */
    readonly gossipInvalid: number;
    /** The same by reason (`too-large`, `bad-magic`, `wrong-run`, `wrong-topic`, `sender-mismatch`, `epoch-window`, …). */
    readonly gossip: Readonly<Record<string, number>>;
    /** Inbound direct streams closed for idleness. */
    readonly idle: number;
  };
  /** Wire-level byte counts of the node (connections, and per protocol). */
  readonly wire: WireCounts;
}

export interface SwarmTransport {
  /** The libp2p node underneath (addresses, status); `close()` stops it. */
  readonly node: MashaNode;
  /** Our peer id. */
  readonly self: string;
  readonly maxFrameBytes: number;
  /** Publishes one frame on a topic; resolves to the number of peers it was pushed to. */
  publish(topic: string, frame: Uint8Array): Promise<number>;
  /**
   * Subscribes (first handler) and adds a handler; the returned function removes it (last one
   * unsubscribes). `options.check` adds a contextual validation of the topic's frames.
   */
  subscribe(topic: string, handler: FrameHandler, options?: SubscribeOptions): () => void;
  /** Called for every gossip message a topic validator refused. */
  onGossipReject(handler: GossipRejectHandler): () => void;
  /** Sends one frame to a peer over the uplink protocol. */
  sendDirect(peer: string, frame: Uint8Array): Promise<void>;
  /** Receives frames sent to us with `sendDirect`. */
  onDirect(handler: FrameHandler): () => void;
  /** Sends one frame to a peer on the tree channel (a relayed broadcast's frame). */
  sendTree(peer: string, frame: Uint8Array): Promise<void>;
  /** Receives frames sent to us with `sendTree` (`from`: the peer that relayed it). */
  onTree(handler: FrameHandler): () => void;
  /** Connection-level membership hints. */
  onPeer(handler: PeerHandler): () => void;
  /** Peers we currently hold a connection to. */
  connectedPeers(): string[];
  /** Peers known (from gossipsub) to subscribe to a topic. */
  topicPeers(topic: string): string[];
  counters(): TransportCounters;
  /** Stops receiving, closes streams and stops the node. Idempotent. */
  close(): Promise<void>;
}

export interface SwarmTransportOptions {
  /** Inbound uplink streams allowed per connection. Default 8. */
  readonly maxInboundStreams?: number;
  /** Allow the uplink over limited (relayed) connections. Default false. */
  readonly uplinkOnLimitedConnections?: boolean;
  /** Close an inbound uplink stream after this long without bytes (ms). Default 60 000. */
  readonly streamIdleMs?: number;
}

function frameCount(): FrameCount {
  return { frames: 0, bytes: 0 };
}

function bump(map: Map<string, FrameCount>, key: string, bytes: number): void {
  let c = map.get(key);
  if (c === undefined) {
    c = frameCount();
    map.set(key, c);
  }
  c.frames++;
  c.bytes += bytes;
}

function toBytes(data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray();
}

/** The outbound map's key of a peer on a protocol. */
function outKey(protocol: Channel, peer: string): string {
  return `${protocol} ${peer}`;
}

/** Per-peer outbound uplink: one stream, frames written in order. */
interface Outbound {
  stream: Stream | null;
  opening: Promise<Stream> | null;
  /** Tail of the write chain: each send waits for the previous one. */
  tail: Promise<void>;
  /** When the last frame was written (outbound streams idle past ¾ of the idle timeout are closed). */
  lastWrite: number;
  /** The kind of connection the current stream runs on (known once it is open). */
  link: LinkKind | null;
}

class Libp2pSwarmTransport implements SwarmTransport {
  readonly self: string;
  readonly maxFrameBytes: number;
  private closed = false;
  private readonly topicHandlers = new Map<string, Set<FrameHandler>>();
  private readonly directHandlers = new Set<FrameHandler>();
  private readonly treeHandlers = new Set<FrameHandler>();
  private readonly peerHandlers = new Set<PeerHandler>();
  private readonly outbound = new Map<string, Outbound>();
  private readonly inboundStreams = new Set<Stream>();
  private readonly published = new Map<string, FrameCount>();
  private readonly delivered = new Map<string, FrameCount>();
  private readonly directSent = frameCount();
  private readonly directReceived = frameCount();
  private readonly treeSent = frameCount();
  private readonly treeReceived = frameCount();
  /** Tree-channel frames by `${link} ${peer}`. */
  private readonly treeLinks = new Map<string, { peer: string; link: LinkKind; sent: FrameCount; received: FrameCount }>();
  private readonly rejected = { oversized: 0, empty: 0, gossipInvalid: 0, idle: 0 };
  private readonly gossipRejected = new Map<string, number>();
  private readonly rejectHandlers = new Set<GossipRejectHandler>();
  private readonly checks = new Map<string, ContextCheck>();
  private readonly idleMs: number;
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  private readonly inboundSeen = new Map<Stream, number>();

  constructor(
    readonly node: MashaNode,
    private readonly opts: SwarmTransportOptions,
  ) {
    this.self = node.peerId;
    this.maxFrameBytes = node.maxFrameBytes;
    this.idleMs = opts.streamIdleMs ?? 60_000;
  }

  /** The topic validator of `topic`: context-free checks, then the subscriber's contextual one. */
  private validatorFor(topic: string): TopicValidatorFn {
    const kind = topicKind(topic);
    const signed = this.node.gossip.signing === 'sign';
    return (peer, msg) => {
      const author = signed && msg.type === 'signed' ? msg.from.toString() : undefined;
      const source = peer.toString();
      const c = checkTopicMessage(kind, msg.data, this.maxFrameBytes, author);
      if (c.verdict !== 'accept') return this.refused(topic, c.reason ?? 'invalid', source, author, 'reject');
      const extra = this.checks.get(topic);
      if (extra !== undefined && c.frame !== undefined) {
        const reason = extra(c.frame);
        if (reason !== null) return this.refused(topic, reason, source, author, contextualVerdict(author, source));
      }
      return TopicValidatorResult.Accept;
    };
  }

  private refused(topic: string, reason: string, source: string, author: string | undefined, verdict: 'reject' | 'ignore'): TopicValidatorResult {
    this.rejected.gossipInvalid++;
    this.gossipRejected.set(reason, (this.gossipRejected.get(reason) ?? 0) + 1);
    for (const h of this.rejectHandlers) h(topic, reason, source, author);
    return verdict === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore;
  }

  async start(): Promise<void> {
    const { libp2p } = this.node;
    libp2p.services.pubsub.addEventListener('gossipsub:message', this.onGossip);
    libp2p.addEventListener('peer:connect', this.onConnect);
    libp2p.addEventListener('peer:disconnect', this.onDisconnect);
    await libp2p.handle(UPLINK_PROTOCOL, this.onUplinkStream, {
      maxInboundStreams: this.opts.maxInboundStreams ?? 8,
      runOnLimitedConnection: this.opts.uplinkOnLimitedConnections ?? false,
    });
    await libp2p.handle(TREE_PROTOCOL, this.onTreeStream, {
      maxInboundStreams: this.opts.maxInboundStreams ?? 8,
      runOnLimitedConnection: this.opts.uplinkOnLimitedConnections ?? false,
    });
    // Idle streams: inbound ones silent past the timeout are aborted; our own outbound ones are
    // closed a little earlier (so that the other side's timeout rarely races a write of ours).
    this.idleTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.min(5_000, this.idleMs / 4)));
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  private closeIdle(): void {
    const now = performance.now();
    for (const [stream, seen] of this.inboundSeen) {
      if (now - seen > this.idleMs) {
        this.inboundSeen.delete(stream);
        this.inboundStreams.delete(stream);
        this.rejected.idle++;
        stream.abort(new NetError('idle', `no bytes for ${Math.round(this.idleMs / 1000)} s`));
      }
    }
    for (const o of this.outbound.values()) {
      const s = o.stream;
      if (s !== null && now - o.lastWrite > 0.75 * this.idleMs) {
        o.stream = null;
        void s.close({ signal: AbortSignal.timeout(1_000) }).catch((e: Error) => s.abort(e));
      }
    }
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    this.emitPeer('connected', evt.detail.toString());
  };

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString();
    for (const ch of [UPLINK_PROTOCOL, TREE_PROTOCOL] as const) {
      const out = this.outbound.get(outKey(ch, peer));
      if (out !== undefined) out.stream = null;
    }
    this.emitPeer('disconnected', peer);
  };

  private emitPeer(kind: PeerEventKind, peer: string): void {
    for (const h of this.peerHandlers) h(kind, peer);
  }

  private readonly onGossip = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msg, propagationSource } = evt.detail;
    const handlers = this.topicHandlers.get(msg.topic);
    if (handlers === undefined) return;
    const from = msg.type === 'signed' ? msg.from.toString() : propagationSource.toString();
    bump(this.delivered, msg.topic, msg.data.byteLength);
    for (const h of handlers) h(from, msg.data);
  };

  private readonly onUplinkStream = (stream: Stream, connection: Connection): void => {
    this.readStream(stream, connection, this.directReceived, this.directHandlers);
  };

  private readonly onTreeStream = (stream: Stream, connection: Connection): void => {
    const per = this.treeLink(connection.remotePeer.toString(), linkKindOf(connection)).received;
    this.readStream(stream, connection, this.treeReceived, this.treeHandlers, per);
  };

  private treeLink(peer: string, link: LinkKind): { peer: string; link: LinkKind; sent: FrameCount; received: FrameCount } {
    const key = `${link} ${peer}`;
    let c = this.treeLinks.get(key);
    if (c === undefined) {
      c = { peer, link, sent: frameCount(), received: frameCount() };
      this.treeLinks.set(key, c);
    }
    return c;
  }

  /** Reads length-prefixed frames from an inbound stream of one of our protocols. */
  private readStream(stream: Stream, connection: Connection, count: FrameCount, handlers: Set<FrameHandler>, per?: FrameCount): void {
    const from = connection.remotePeer.toString();
    const reader = new LengthPrefixedReader(this.maxFrameBytes);
    // Never buffer more than a few frames' worth for a stream nobody is reading.
    stream.maxReadBufferLength = 4 * (this.maxFrameBytes + 4);
    this.inboundStreams.add(stream);
    this.inboundSeen.set(stream, performance.now());
    stream.addEventListener('close', () => {
      this.inboundStreams.delete(stream);
      this.inboundSeen.delete(stream);
    });
    stream.addEventListener('message', (evt) => {
      if (this.inboundSeen.has(stream)) this.inboundSeen.set(stream, performance.now());
      let frames: Uint8Array[];
      try {
        frames = reader.push(toBytes(evt.data));
      } catch (err) {
        const code = err instanceof NetError ? err.code : 'malformed';
        if (code === 'empty-frame') this.rejected.empty++;
        else this.rejected.oversized++;
        stream.abort(err as Error);
        return;
      }
      for (const frame of frames) {
        count.frames++;
        count.bytes += frame.byteLength;
        if (per !== undefined) {
          per.frames++;
          per.bytes += frame.byteLength;
        }
        for (const h of handlers) h(from, frame);
      }
    });
    // We never write on inbound streams.
    void stream.close().catch(() => {});
  }

  private assertOpen(): void {
    if (this.closed) throw new NetError('closed', 'the transport is closed');
  }

  private checkFrame(frame: Uint8Array): void {
    if (frame.byteLength === 0) throw new NetError('empty-frame', 'cannot send an empty frame');
    if (frame.byteLength > this.maxFrameBytes) {
      throw new NetError('frame-too-large', `frame of ${frame.byteLength} bytes exceeds the ${this.maxFrameBytes}-byte frame size`);
    }
  }

  async publish(topic: string, frame: Uint8Array): Promise<number> {
    this.assertOpen();
    this.checkFrame(frame);
    const res = await this.node.libp2p.services.pubsub.publish(topic, frame);
    bump(this.published, topic, frame.byteLength);
    return res.recipients.length;
  }

  subscribe(topic: string, handler: FrameHandler, options: SubscribeOptions = {}): () => void {
    this.assertOpen();
    const pubsub = this.node.libp2p.services.pubsub;
    let set = this.topicHandlers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.topicHandlers.set(topic, set);
      pubsub.topicValidators.set(topic, this.validatorFor(topic));
      scoreTopic(pubsub, topic);
      pubsub.subscribe(topic);
    }
    const check = options.check;
    if (check !== undefined) this.checks.set(topic, check);
    set.add(handler);
    return () => {
      if (check !== undefined && this.checks.get(topic) === check) this.checks.delete(topic);
      const s = this.topicHandlers.get(topic);
      if (s === undefined || !s.delete(handler) || s.size > 0) return;
      this.topicHandlers.delete(topic);
      if (!this.closed) {
        pubsub.unsubscribe(topic);
        pubsub.topicValidators.delete(topic);
      }
    };
  }

  onGossipReject(handler: GossipRejectHandler): () => void {
    this.rejectHandlers.add(handler);
    return () => this.rejectHandlers.delete(handler);
  }

  private async openStream(peer: PeerId, out: Outbound, protocol: Channel): Promise<Stream> {
    if (out.stream !== null && out.stream.status === 'open' && out.stream.writeStatus === 'writable') return out.stream;
    out.stream = null;
    if (out.opening === null) {
      out.opening = (async () => {
        try {
          const stream = await this.node.libp2p.dialProtocol(peer, protocol, {
            signal: AbortSignal.timeout(10_000),
            runOnLimitedConnection: this.opts.uplinkOnLimitedConnections ?? false,
          });
          stream.addEventListener('close', () => {
            if (out.stream === stream) out.stream = null;
          });
          const conn = this.node.libp2p.getConnections(peer).find((c) => c.streams.includes(stream));
          out.link = conn !== undefined ? linkKindOf(conn) : null;
          out.stream = stream;
          return stream;
        } finally {
          out.opening = null;
        }
      })();
    }
    return out.opening;
  }

  sendDirect(peer: string, frame: Uint8Array): Promise<void> {
    return this.sendOn(UPLINK_PROTOCOL, this.directSent, peer, frame);
  }

  sendTree(peer: string, frame: Uint8Array): Promise<void> {
    return this.sendOn(TREE_PROTOCOL, this.treeSent, peer, frame);
  }

  private async sendOn(protocol: Channel, count: FrameCount, peer: string, frame: Uint8Array): Promise<void> {
    this.assertOpen();
    const wire = encodeLengthPrefixed(frame, this.maxFrameBytes);
    let target: PeerId;
    try {
      target = peerIdFromString(peer);
    } catch {
      throw new NetError('bad-peer', `not a peer id: ${JSON.stringify(peer)}`);
    }
    const key = outKey(protocol, peer);
    let out = this.outbound.get(key);
    if (out === undefined) {
      out = { stream: null, opening: null, tail: Promise.resolve(), lastWrite: performance.now(), link: null };
      this.outbound.set(key, out);
    }
    const o = out;
    const write = async (): Promise<void> => {
      this.assertOpen();
      o.lastWrite = performance.now();
      let stream: Stream;
      try {
        stream = await this.openStream(target, o, protocol);
      } catch (err) {
        throw new NetError('send-failed', `cannot open ${protocol} to ${peer}: ${(err as Error).message}`);
      }
      try {
        if (!stream.send(wire)) await stream.onDrain({ signal: AbortSignal.timeout(30_000) });
      } catch (err) {
        if (o.stream === stream) o.stream = null;
        throw new NetError('send-failed', `write to ${peer} failed: ${(err as Error).message}`);
      }
      o.lastWrite = performance.now();
      count.frames++;
      count.bytes += frame.byteLength;
      if (protocol === TREE_PROTOCOL && o.link !== null) {
        const per = this.treeLink(peer, o.link).sent;
        per.frames++;
        per.bytes += frame.byteLength;
      }
    };
    const result = o.tail.then(write, write);
    o.tail = result.catch(() => {});
    return result;
  }

  onDirect(handler: FrameHandler): () => void {
    this.directHandlers.add(handler);
    return () => this.directHandlers.delete(handler);
  }

  onTree(handler: FrameHandler): () => void {
    this.treeHandlers.add(handler);
    return () => this.treeHandlers.delete(handler);
  }

  onPeer(handler: PeerHandler): () => void {
    this.peerHandlers.add(handler);
    return () => this.peerHandlers.delete(handler);
  }

  connectedPeers(): string[] {
    return this.node.libp2p.getPeers().map((p) => p.toString());
  }

  topicPeers(topic: string): string[] {
    return this.node.libp2p.services.pubsub.getSubscribers(topic).map((p) => p.toString());
  }

  counters(): TransportCounters {
    const copy = (m: Map<string, FrameCount>): Record<string, FrameCount> => {
      const r: Record<string, FrameCount> = {};
      for (const [k, v] of m) r[k] = { ...v };
      return r;
    };
    return {
      published: copy(this.published),
      delivered: copy(this.delivered),
      directSent: { ...this.directSent },
      directReceived: { ...this.directReceived },
      treeSent: { ...this.treeSent },
      treeReceived: { ...this.treeReceived },
      treeLinks: [...this.treeLinks.values()].map((c) => ({ peer: c.peer, link: c.link, sent: { ...c.sent }, received: { ...c.received } })),
      rejected: { ...this.rejected, gossip: Object.fromEntries(this.gossipRejected) },
      wire: this.node.meter.snapshot(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.rejectHandlers.clear();
    this.checks.clear();
    const { libp2p } = this.node;
    libp2p.services.pubsub.removeEventListener('gossipsub:message', this.onGossip);
    libp2p.removeEventListener('peer:connect', this.onConnect);
    libp2p.removeEventListener('peer:disconnect', this.onDisconnect);
    for (const topic of this.topicHandlers.keys()) {
      libp2p.services.pubsub.unsubscribe(topic);
      libp2p.services.pubsub.topicValidators.delete(topic);
    }
    this.topicHandlers.clear();
    this.directHandlers.clear();
    this.treeHandlers.clear();
    this.peerHandlers.clear();
    await libp2p.unhandle(UPLINK_PROTOCOL).catch(() => {});
    await libp2p.unhandle(TREE_PROTOCOL).catch(() => {});
    await Promise.all(
      [...this.outbound.values()].map(async (o) => {
        const s = o.stream;
        o.stream = null;
        if (s !== null) await s.close({ signal: AbortSignal.timeout(1_000) }).catch((e: Error) => s.abort(e));
      }),
    );
    this.outbound.clear();
    for (const s of this.inboundStreams) s.abort(new NetError('closed', 'transport closed'));
    this.inboundStreams.clear();
    this.inboundSeen.clear();
    await this.node.stop();
  }
}

/** Wraps a started node; `close()` stops the node. */
export async function createSwarmTransport(node: MashaNode, opts: SwarmTransportOptions = {}): Promise<SwarmTransport> {
  const t = new Libp2pSwarmTransport(node, opts);
  await t.start();
  return t;
}

export type { ByteCount };

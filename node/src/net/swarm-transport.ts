/**
 * The transport the engine driver uses: frames (opaque byte arrays of at most `maxFrameBytes`)
 * over gossipsub topics and over direct `/masha/uplink/1.0.0` streams, the relay trees' frames
 * over direct `/masha/tree/1.0.0` streams (the tree channel: frames of a broadcast whose origin
 * is another peer, forwarded parent → child; the same framing and limits), membership hints from
 * libp2p connection events, and byte counters.
 *
 * - `publish(topic, frame)`: gossipsub. Frames above the frame size are refused locally
 *   (`NetError('frame-too-large')`); inbound messages above it, or empty, are rejected by the
 *   topic validator (neither delivered nor forwarded) and counted.
 * - `sendDirect(peer, frame)` / `sendTree(peer, frame)`: one long-lived outbound stream per peer
 *   and protocol, frames length-prefixed (length-prefix.ts), written in call order, waiting for
 *   the muxer to drain when its buffer is full. A stream that died is reopened on the next send.
 *   The two protocols have separate streams, so a large relayed broadcast never queues an uplink
 *   behind it (each stream has its own flow-control window on the connection).
 * - Inbound direct streams: a reader per stream; a length prefix of 0 or above the frame size
 *   resets that stream and increments `rejected.oversized` / `rejected.empty`.
 * - `from` given to handlers: for direct frames the remote peer of the stream; for gossip the
 *   message's author when messages are signed (StrictSign), else the peer that forwarded it.
 *   Either way the frame's own sender field is what the engine reads; with signing on, the driver
 *   can check the two agree.
 */
import type { GossipsubMessage, TopicValidatorFn } from '@libp2p/gossipsub';
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { NetError } from './errors.js';
import type { MashaNode } from './node-core.js';
import { frameSizeValidator } from './gossip-config.js';
import { encodeLengthPrefixed, LengthPrefixedReader } from './length-prefix.js';
import type { ByteCount, WireCounts } from './wire-meter.js';

export const UPLINK_PROTOCOL = '/masha/uplink/1.0.0';
/** The relay trees' channel (frames of broadcasts relayed parent → child). */
export const TREE_PROTOCOL = '/masha/tree/1.0.0';

type Channel = typeof UPLINK_PROTOCOL | typeof TREE_PROTOCOL;

export type FrameHandler = (from: string, frame: Uint8Array) => void;
export type PeerEventKind = 'connected' | 'disconnected';
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
  /** Refused inbound input, by reason. */
  readonly rejected: {
    /** A direct stream announced a frame above the frame size (stream reset). */
    readonly oversized: number;
    /** A direct stream announced an empty frame (stream reset). */
    readonly empty: number;
    /** A gossip message above the frame size or empty (rejected by the topic validator). */
    readonly gossipInvalid: number;
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
  /** Subscribes (first handler) and adds a handler; the returned function removes it (last one unsubscribes). */
  subscribe(topic: string, handler: FrameHandler): () => void;
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
  private readonly rejected = { oversized: 0, empty: 0, gossipInvalid: 0 };

  constructor(readonly node: MashaNode, private readonly opts: SwarmTransportOptions) {
    this.self = node.peerId;
    this.maxFrameBytes = node.maxFrameBytes;
    this.validateGossip = frameSizeValidator(this.maxFrameBytes, () => {
      this.rejected.gossipInvalid++;
    });
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

  private readonly validateGossip: TopicValidatorFn;

  private readonly onUplinkStream = (stream: Stream, connection: Connection): void => {
    this.readStream(stream, connection, this.directReceived, this.directHandlers);
  };

  private readonly onTreeStream = (stream: Stream, connection: Connection): void => {
    this.readStream(stream, connection, this.treeReceived, this.treeHandlers);
  };

  /** Reads length-prefixed frames from an inbound stream of one of our protocols. */
  private readStream(stream: Stream, connection: Connection, count: FrameCount, handlers: Set<FrameHandler>): void {
    const from = connection.remotePeer.toString();
    const reader = new LengthPrefixedReader(this.maxFrameBytes);
    // Never buffer more than a few frames' worth for a stream nobody is reading.
    stream.maxReadBufferLength = 4 * (this.maxFrameBytes + 4);
    this.inboundStreams.add(stream);
    stream.addEventListener('close', () => this.inboundStreams.delete(stream));
    stream.addEventListener('message', (evt) => {
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

  subscribe(topic: string, handler: FrameHandler): () => void {
    this.assertOpen();
    const pubsub = this.node.libp2p.services.pubsub;
    let set = this.topicHandlers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.topicHandlers.set(topic, set);
      pubsub.topicValidators.set(topic, this.validateGossip);
      pubsub.subscribe(topic);
    }
    set.add(handler);
    return () => {
      const s = this.topicHandlers.get(topic);
      if (s === undefined || !s.delete(handler) || s.size > 0) return;
      this.topicHandlers.delete(topic);
      if (!this.closed) {
        pubsub.unsubscribe(topic);
        pubsub.topicValidators.delete(topic);
      }
    };
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
      out = { stream: null, opening: null, tail: Promise.resolve() };
      this.outbound.set(key, out);
    }
    const o = out;
    const write = async (): Promise<void> => {
      this.assertOpen();
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
      count.frames++;
      count.bytes += frame.byteLength;
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
      rejected: { ...this.rejected },
      wire: this.node.meter.snapshot(),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
    await Promise.all([...this.outbound.values()].map(async (o) => {
      const s = o.stream;
      o.stream = null;
      if (s !== null) await s.close({ signal: AbortSignal.timeout(1_000) }).catch((e: Error) => s.abort(e));
    }));
    this.outbound.clear();
    for (const s of this.inboundStreams) s.abort(new NetError('closed', 'transport closed'));
    this.inboundStreams.clear();
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

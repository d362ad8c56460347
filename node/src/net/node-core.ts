/**
 * The runtime-independent part of a Masha peer's libp2p node: options, listen addresses,
 * bootstrap (relay) dialling with keep-alive tags, pubsub peer discovery with dialling of
 * discovered peers up to `maxPeers`, noise, yamux, identify and gossipsub tuned for the swarm
 * (gossip-config.ts), byte metering (wire-meter.ts). The transports (and any extra service, such
 * as a circuit-relay server) are given by the runtime: create-node.ts for Node (TCP, WebSockets,
 * WebRTC-direct, circuit relay, WebRTC via node-datachannel), the volunteer page for browsers
 * (WebSockets, circuit relay, the browser's WebRTC). Nothing here imports a Node-only module, so
 * it is part of the browser-safe `@masha/node/swarm-net` entry point.
 *
 * Discovery: the node dials its bootstrap (relay) addresses at start — keeping them tagged
 * keep-alive so libp2p re-dials them after a drop — and then finds the rest of the swarm through
 * pubsub peer discovery on a swarm topic, dialling discovered peers up to `maxPeers` so that
 * gossipsub can build a real mesh instead of a star around the relay.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { gossipsub } from '@libp2p/gossipsub';
import type { GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { Identify } from '@libp2p/identify';
import { KEEP_ALIVE } from '@libp2p/interface';
import type { Libp2p, PeerId, PeerInfo, PrivateKey, ServiceMap } from '@libp2p/interface';
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import type { Libp2pOptions } from 'libp2p';
import { NetError } from './errors.js';
import { DEFAULT_GOSSIP_TUNING, gossipOptions } from './gossip-config.js';
import type { GossipTuning } from './gossip-config.js';
import { WireMeter } from './wire-meter.js';

/** Default frame size: 64 KiB, well under WebRTC's 256 KiB message limit and gossipsub's 4 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
/** Hard ceiling for a configured frame size (WebRTC-safe). */
export const MAX_FRAME_BYTES_LIMIT = 256 * 1024 - 1024;
/** The topic on which peers announce their addresses to each other. */
export const DISCOVERY_TOPIC = 'masha/_peer-discovery/1';

export interface MashaServices extends ServiceMap {
  identify: Identify;
  /** Named `pubsub` because pubsub peer discovery looks the router up under that name. */
  pubsub: GossipSub;
  relay?: CircuitRelayService;
}

export interface ListenPorts {
  /** TCP port (0 = any free port), or false for no TCP listener. Default 0. */
  readonly tcp?: number | false;
  /** WebSocket port, or false. Default 0. */
  readonly ws?: number | false;
  /** WebRTC-direct UDP port, or false. Default false (it needs node-datachannel). */
  readonly webrtcDirect?: number | false;
}

export interface MashaNodeOptions {
  /** Interface to listen on. Default 127.0.0.1 (use 0.0.0.0 to accept remote peers). */
  readonly host?: string;
  readonly ports?: ListenPorts;
  /** Explicit listen multiaddrs; when given, `host` and `ports` are ignored. */
  readonly listen?: readonly string[];
  /** WebRTC via circuit relay (browser ↔ node): transport plus a relay reservation. Default true. */
  readonly webrtc?: boolean;
  /** Run a circuit-relay-v2 server (for relays / bootstrap nodes). Default false. */
  readonly relay?: boolean;
  /** Relay / bootstrap multiaddrs (with `/p2p/<id>`); dialled at start and kept alive. */
  readonly bootstrap?: readonly string[];
  /** How long start-up waits for at least one bootstrap peer (ms). Default 10 000. */
  readonly bootstrapTimeoutMs?: number;
  readonly privateKey?: PrivateKey;
  /** Largest frame the node will send or accept, bytes. Default 64 KiB. */
  readonly maxFrameBytes?: number;
  readonly gossip?: Partial<GossipTuning>;
  /** Pubsub peer discovery; false turns it off (peers then only know the relay). */
  readonly discovery?: false | { readonly intervalMs?: number; readonly topic?: string };
  /** Dial discovered peers while connected to fewer than this many peers. Default 32. */
  readonly maxPeers?: number;
  /** Connection-manager cap. Default 256. */
  readonly maxConnections?: number;
  /** Liveness ping period for every connection (ms). Default 5 000. */
  readonly pingIntervalMs?: number;
  /**
   * Least time a liveness ping may take before the connection is dropped (ms). Default 30 000.
   * The ping shares the connection with queued frames, so on a busy or slow link it waits behind
   * them: libp2p's 5 s default dropped healthy connections mid-broadcast (and with them every
   * frame queued on them) in the 16-peer loopback benchmark.
   */
  readonly pingTimeoutMs?: number;
}

export interface MashaNode {
  readonly libp2p: Libp2p<MashaServices>;
  readonly meter: WireMeter;
  readonly maxFrameBytes: number;
  readonly gossip: GossipTuning;
  /** This node's peer id as a string. */
  readonly peerId: string;
  /** The node's Ed25519 key: its peer id names the public half; engines sign with it (the Identity port). */
  readonly privateKey: PrivateKey;
  /** Listen addresses including `/p2p/<id>`, as strings. */
  multiaddrs(): string[];
  stop(): Promise<void>;
}

export function checkFrameBytes(value: number): number {
  if (!Number.isInteger(value) || value < 1024 || value > MAX_FRAME_BYTES_LIMIT) {
    throw new NetError('bad-config', `maxFrameBytes must be an integer in [1024, ${MAX_FRAME_BYTES_LIMIT}] (got ${value})`);
  }
  return value;
}

export function parseAddress(text: string): Multiaddr {
  let ma: Multiaddr;
  try {
    ma = multiaddr(text);
  } catch (err) {
    throw new NetError('bad-address', `not a multiaddr: ${JSON.stringify(text)} (${(err as Error).message})`);
  }
  if (ma.getComponents().findLast((c) => c.name === 'p2p')?.value === undefined) {
    throw new NetError('bad-address', `address ${text} lacks the /p2p/<peer id> part`);
  }
  return ma;
}

function listenAddresses(opts: MashaNodeOptions): string[] {
  const out: string[] = [];
  if (opts.listen !== undefined) {
    out.push(...opts.listen);
  } else {
    const host = opts.host ?? '127.0.0.1';
    const family = host.includes(':') ? 'ip6' : 'ip4';
    const ports = opts.ports ?? {};
    const tcpPort = ports.tcp ?? 0;
    const wsPort = ports.ws ?? 0;
    const rtcPort = ports.webrtcDirect ?? false;
    if (tcpPort !== false) out.push(`/${family}/${host}/tcp/${tcpPort}`);
    if (wsPort !== false) out.push(`/${family}/${host}/tcp/${wsPort}/ws`);
    if (rtcPort !== false) out.push(`/${family}/${host}/udp/${rtcPort}/webrtc-direct`);
  }
  if ((opts.webrtc ?? true) && opts.relay !== true) {
    // Reserve a slot on the relay (so browsers can reach us) and accept WebRTC upgrades over it.
    out.push('/p2p-circuit', '/webrtc');
  }
  return out;
}

/** Why a dial failed, in the user's terms; `final` when retrying cannot help. */
export interface DialFailure {
  readonly final: boolean;
  readonly message: string;
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    parts.push(e.message, (e as NodeJS.ErrnoException).code ?? '');
    if (e instanceof AggregateError) for (const inner of e.errors) parts.push(errorText(inner));
  }
  return parts.join(' ');
}

/**
 * Classifies a failed dial of a relay address. A relay that answers with another identity than
 * the `/p2p/<id>` of its address (it was restarted with a new key, or another program took its
 * port) and a refused connection (nothing listens there) are final; anything else (timeouts,
 * unreachable networks) may pass, so the dial is retried until the deadline.
 */
export function describeDialFailure(address: string, err: unknown): DialFailure {
  const text = errorText(err);
  const identity = /Payload identity key (\S+) does not match expected remote identity key (\S+)/.exec(text);
  if (identity !== null) {
    const [, actual, expected] = identity;
    return {
      final: true,
      message:
        `the relay at ${address} is now peer ${actual}, not the ${expected} its address names: it was restarted with a new key ` +
        `(\`masha relay --key FILE\` keeps one) or another program took its port; use its current address (\`masha relay\` prints it)`,
    };
  }
  if (/ECONNREFUSED/.test(text)) return { final: true, message: `${address}: connection refused (no relay listens there)` };
  return { final: false, message: `${address}: ${err instanceof Error ? err.message : String(err)}` };
}

async function dialBootstrap(node: Libp2p<MashaServices>, addrs: readonly Multiaddr[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(addrs);
  const failures = new Map<Multiaddr, DialFailure>();
  let connected = 0;
  while (pending.size > 0 && Date.now() < deadline) {
    for (const ma of [...pending]) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const conn = await node.dial(ma, { signal: AbortSignal.timeout(Math.min(left, 5_000)) });
        await node.peerStore.merge(conn.remotePeer, {
          multiaddrs: [ma],
          tags: { [KEEP_ALIVE]: { value: 1 } },
        });
        pending.delete(ma);
        failures.delete(ma);
        connected++;
      } catch (err) {
        failures.set(ma, describeDialFailure(ma.toString(), err));
      }
    }
    if (connected > 0) break;
    // Every address refused the connection or answered as another peer: waiting changes nothing.
    if (addrs.every((ma) => failures.get(ma)?.final === true)) {
      throw new NetError('relay-unreachable', `could not reach any relay: ${addrs.map((ma) => failures.get(ma)?.message).join('; ')}`);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
  }
  if (connected === 0 && addrs.length > 0) {
    throw new NetError(
      'relay-unreachable',
      `could not reach any relay within ${timeoutMs} ms: ${addrs.map((ma) => failures.get(ma)?.message ?? `${ma.toString()}: not tried`).join('; ')}`,
    );
  }
  return connected;
}

/** What the runtime supplies: its transports, and extra services (a relay server). */
export interface NodeRuntime {
  readonly transports: NonNullable<Libp2pOptions<MashaServices>['transports']>;
  /** The circuit-relay-v2 server factory, used when `opts.relay` is true. */
  readonly relayService?: NonNullable<Libp2pOptions<MashaServices>['services']>['relay'];
}

/**
 * Creates and starts a node on the runtime's transports; rejects with
 * `NetError('relay-unreachable')` if bootstrap fails.
 */
export async function startMashaNode(opts: MashaNodeOptions, runtime: NodeRuntime): Promise<MashaNode> {
  const maxFrameBytes = checkFrameBytes(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  const tuning: GossipTuning = { ...DEFAULT_GOSSIP_TUNING, ...(opts.relay === true ? { doPX: true } : {}), ...opts.gossip };
  if (tuning.maxRpcBytes < maxFrameBytes + 4096) {
    throw new NetError('bad-config', `gossip.maxRpcBytes (${tuning.maxRpcBytes}) must exceed the frame size (${maxFrameBytes}) plus headers`);
  }
  const bootstrapAddrs = (opts.bootstrap ?? []).map(parseAddress);
  const meter = new WireMeter();
  const listen = listenAddresses(opts);

  const discovery =
    opts.discovery === false
      ? []
      : [
          pubsubPeerDiscovery({
            interval: opts.discovery?.intervalMs ?? 2_000,
            topics: [opts.discovery?.topic ?? DISCOVERY_TOPIC],
          }),
        ];

  const services: Libp2pOptions<MashaServices>['services'] = {
    identify: identify(),
    pubsub: gossipsub(gossipOptions(tuning)),
    ...(opts.relay === true && runtime.relayService !== undefined ? { relay: runtime.relayService } : {}),
  };

  const privateKey = opts.privateKey ?? (await generateKeyPair('Ed25519'));
  const libp2p = await createLibp2p<MashaServices>({
    privateKey,
    addresses: { listen },
    transports: runtime.transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    services,
    metrics: meter.factory(),
    connectionManager: {
      maxConnections: opts.maxConnections ?? 256,
      // Many peers on one host (tests, one lab behind one NAT) connect in bursts.
      inboundConnectionThreshold: 1_000,
      maxIncomingPendingConnections: 64,
    },
    connectionMonitor: {
      pingInterval: opts.pingIntervalMs ?? 5_000,
      pingTimeout: { minTimeout: opts.pingTimeoutMs ?? 30_000, maxTimeout: Math.max(60_000, opts.pingTimeoutMs ?? 30_000) },
    },
    // Loopback and LAN addresses are legitimate in this swarm: dial them.
    connectionGater: { denyDialMultiaddr: () => false },
  });

  const maxPeers = opts.maxPeers ?? 32;
  const dialing = new Set<string>();
  const onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const id: PeerId = evt.detail.id;
    const key = id.toString();
    if (id.equals(libp2p.peerId) || dialing.has(key)) return;
    if (libp2p.getConnections(id).length > 0) return;
    if (libp2p.getPeers().length >= maxPeers) return;
    dialing.add(key);
    libp2p
      .dial(id, { signal: AbortSignal.timeout(10_000) })
      .catch(() => {
        /* unreachable peers are simply not meshed with */
      })
      .finally(() => dialing.delete(key));
  };
  libp2p.addEventListener('peer:discovery', onDiscovery);

  try {
    await dialBootstrap(libp2p, bootstrapAddrs, opts.bootstrapTimeoutMs ?? 10_000);
  } catch (err) {
    libp2p.removeEventListener('peer:discovery', onDiscovery);
    await libp2p.stop();
    throw err;
  }

  return {
    libp2p,
    meter,
    maxFrameBytes,
    gossip: tuning,
    peerId: libp2p.peerId.toString(),
    privateKey,
    multiaddrs: () => libp2p.getMultiaddrs().map((m) => m.toString()),
    stop: async () => {
      libp2p.removeEventListener('peer:discovery', onDiscovery);
      await libp2p.stop();
    },
  };
}

/**
 * The page's libp2p node (main thread: browsers have RTCPeerConnection only there, not in
 * workers). Built from the same node core and swarm transport as Node peers
 * (`@masha/node/swarm-net`): the same gossipsub settings, topics, `/masha/uplink/1.0.0` protocol,
 * length-prefixed frames and frame-size limits. Browser transports:
 *
 * - WebSockets to the relay. The connection gater (node core) lets the node dial private and
 *   insecure `ws://` addresses, which the browser default refuses: a local relay is one.
 * - The circuit-relay transport, listening on `/p2p-circuit` (a reservation on the relay) so that
 *   other tabs and Node peers can reach this tab, and WebRTC listening on `/webrtc`: a peer that
 *   dials our `/p2p-circuit/webrtc` address gets a direct WebRTC connection, signalled through
 *   the relay, so round traffic does not flow through the relay's limited relayed connections.
 * - `iceServers` configurable (`?ice=` on the page): none by default, i.e. host candidates only,
 *   which is what a LAN or one machine needs and what works without outside servers.
 *
 * gossipsub's IP-colocation penalty is off (gossip-config.ts): tabs of one machine, or
 * volunteers behind one NAT, share an address, and with the default weight a 13th–15th peer
 * from one address stopped receiving messages. It is safe because that score component only
 * protects against Sybil peers flooding the mesh from one address, and here a peer gains nothing
 * from mesh position: every frame is checked by the engine (CRC, sender = signed gossip author,
 * epoch/round/lineage), the aggregator is chosen by rendezvous hashing over peer ids (not mesh
 * position), uplinks go over direct streams, and the other score components (invalid messages,
 * mesh delivery) still apply per peer.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { createSwarmTransport, startMashaNode, type MashaNodeOptions, type SwarmTransport } from '@masha/node/swarm-net';

export interface BrowserNodeOptions {
  /** The relay's WebSocket multiaddrs (with `/p2p/<id>`). */
  readonly relays: readonly string[];
  /** ICE servers for WebRTC; [] (the default) means host candidates only. */
  readonly iceServers?: RTCIceServer[];
  /** WebRTC (false where the browser lacks RTCPeerConnection: then only the relay). Default true. */
  readonly webrtc?: boolean;
  /** Pubsub peer discovery (and dialling discovered peers). Default on. */
  readonly discovery?: boolean;
  /** Overrides for the node core (gossip heartbeat, frame size, …). */
  readonly node?: Partial<MashaNodeOptions>;
}

/** Loopback-friendly swarm defaults, as `masha join` uses (launcher/connect.ts). */
const PAGE_NODE_DEFAULTS: Partial<MashaNodeOptions> = {
  gossip: { heartbeatMs: 200 },
  discovery: { intervalMs: 1_000 },
};

export async function startBrowserSwarm(opts: BrowserNodeOptions): Promise<SwarmTransport> {
  const node = await startMashaNode(
    {
      ...PAGE_NODE_DEFAULTS,
      ...opts.node,
      gossip: { ...PAGE_NODE_DEFAULTS.gossip, ...opts.node?.gossip },
      ...(opts.discovery === false ? { discovery: false as const } : {}),
      // No listeners of our own: a relay reservation (/p2p-circuit) and WebRTC over it (/webrtc).
      listen: [],
      webrtc: opts.webrtc ?? true,
      bootstrap: opts.relays,
    },
    {
      transports: [
        webSockets(),
        circuitRelayTransport(),
        ...((opts.webrtc ?? true) ? [webRTC({ rtcConfiguration: { iceServers: opts.iceServers ?? [] } })] : []),
      ],
    },
  );
  try {
    return await createSwarmTransport(node);
  } catch (e) {
    await node.stop().catch(() => {});
    throw e;
  }
}

/** A connection is a direct WebRTC link when it is not relayed and its address ends in /webrtc/p2p/…. */
export function isDirectWebRTC(remoteAddr: string, limited: boolean): boolean {
  return !limited && /\/webrtc\/p2p\/[^/]+$/.test(remoteAddr);
}

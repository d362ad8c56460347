/**
 * The libp2p node factory of a Masha peer under Node (volunteer, aggregator, launcher or relay):
 * node-core.ts with Node's transports.
 *
 * Transports: TCP, WebSockets and WebRTC-direct listeners (each optional, loopback by default),
 * WebRTC via circuit relay v2 (transport + `/p2p-circuit` reservation, so browsers that only
 * reach the relay can open WebRTC connections to this peer; node-datachannel under Node),
 * optionally a circuit-relay-v2 server.
 */
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { tcp } from '@libp2p/tcp';
import { webRTC, webRTCDirect } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { startMashaNode } from './node-core.js';
import { installGossipTrace } from './gossip-trace.js';
import type { MashaNode, MashaNodeOptions, NodeRuntime } from './node-core.js';

export * from './node-core.js';

/** Creates and starts a node; rejects with `NetError('relay-unreachable')` if bootstrap fails. */
export async function createMashaNode(opts: MashaNodeOptions = {}): Promise<MashaNode> {
  const webrtcOn = opts.webrtc ?? true;
  // Every transport can dial; listeners are only opened for the addresses in `listen`.
  const transports: NodeRuntime['transports'] = [tcp(), webSockets(), webRTCDirect()];
  if (webrtcOn || opts.relay !== true) transports.push(circuitRelayTransport());
  if (webrtcOn) transports.push(webRTC());
  const node = await startMashaNode(opts, {
    transports,
    relayService: circuitRelayServer({ reservations: { maxReservations: 1024, applyDefaultLimit: true } }),
  });
  // Benchmarks' diagnostic (MASHA_GOSSIP_TRACE): a no-op without the variable.
  const stopTrace = installGossipTrace(node.libp2p.services.pubsub, node.peerId);
  return {
    ...node,
    stop: async () => {
      stopTrace();
      await node.stop();
    },
  };
}

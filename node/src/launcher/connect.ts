/**
 * Joining the swarm through one or more relays: a libp2p node (net/create-node.ts) and the swarm
 * transport on top of it, with the settings every Masha command shares.
 */
import { createMashaNode, type MashaNodeOptions } from '../net/create-node.js';
import { NetError } from '../net/errors.js';
import { createSwarmTransport, type SwarmTransport } from '../net/swarm-transport.js';

export interface ConnectOptions {
  /** Relay multiaddrs (with `/p2p/<id>`). */
  readonly relays: readonly string[];
  /** How long to wait for a relay before giving up (ms). Default 10 000. */
  readonly timeoutMs?: number;
  /** Overrides of the node options. */
  readonly node?: Partial<MashaNodeOptions>;
}

/** Loopback-friendly defaults: quick gossip heartbeats and discovery (the swarm forms in about a second). */
export const SWARM_NODE_DEFAULTS: Partial<MashaNodeOptions> = {
  gossip: { heartbeatMs: 200 },
  discovery: { intervalMs: 1_000 },
};

export async function connectSwarm(options: ConnectOptions): Promise<SwarmTransport> {
  if (options.relays.length === 0) throw new NetError('bad-address', 'no relay address given (--relay ADDR)');
  const node = await createMashaNode({
    ...SWARM_NODE_DEFAULTS,
    ...options.node,
    gossip: { ...SWARM_NODE_DEFAULTS.gossip, ...options.node?.gossip },
    bootstrap: options.relays,
    bootstrapTimeoutMs: options.timeoutMs ?? 10_000,
  });
  try {
    return await createSwarmTransport(node);
  } catch (e) {
    await node.stop().catch(() => {});
    throw e;
  }
}

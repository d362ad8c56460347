/**
 * `@masha/node/swarm-net`: the browser-safe part of Masha's networking, shared by Node peers and
 * the volunteer page — the libp2p node core without transports (node-core.ts), gossipsub settings
 * (gossip-config.ts), the swarm transport with its uplink protocol and limits
 * (swarm-transport.ts), length-prefixed framing, byte metering and the typed errors. Nothing
 * reachable from here imports a Node-only module (`node:*`, TCP, node-datachannel); the browser
 * build checks that (browser/vite.config.ts refuses `node:` imports).
 */
export * from './net/errors.js';
export * from './net/wire-meter.js';
export * from './net/gossip-config.js';
export * from './net/gossip-validate.js';
export * from './net/length-prefix.js';
export * from './net/node-core.js';
export * from './net/swarm-transport.js';

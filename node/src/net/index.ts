export * from './errors.js';
export * from './wire-meter.js';
export * from './gossip-config.js';
export * from './length-prefix.js';
export * from './create-node.js';
export * from './swarm-transport.js';
export * from './relay.js';
export * from './relay-key.js';

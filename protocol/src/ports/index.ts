/**
 * The ports of a peer host: the contracts a runtime (the simulator, Node, a browser Web Worker)
 * implements so that one `PeerHost` in protocol/ runs the engine everywhere.
 */
export type * from './scheduler.js';
export type * from './frame-link.js';
export type * from './evaluator.js';
export type * from './event-sink.js';
export type * from './identity.js';

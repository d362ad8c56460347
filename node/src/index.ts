/**
 * @masha/node — the Node side of the swarm: libp2p networking (net/), the engine driver (peer/),
 * launching, joining and watching runs (launcher/), and the `masha` CLI (cli/, bin/masha.js).
 */
export * from './net/index.js';
export * from './peer/index.js';
export * from './launcher/index.js';
export * from './model/swarm-model.js';
export { createRuntime, type NodeBackend } from './model/runtimes.js';
export { loadDataset, defaultDataDir, type Dataset } from './model/data.js';

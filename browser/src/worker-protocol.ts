/**
 * The typed messages between the page's main thread (libp2p, DOM) and its dedicated Web Worker
 * (the engine side). The main thread only moves frame bytes: every frame travels as an
 * ArrayBuffer in the message's transfer list, so it is moved, not copied, and the sender must not
 * touch it afterwards (`frameBuffer` hands over a buffer that holds exactly the frame).
 *
 * Main → worker (`ToWorker`): who we are and which run we want; frames received (gossip topic, the
 * direct uplink protocol or the relay trees' protocol) with their sender; peer connected/disconnected hints; the
 * volunteer's controls (pause, resume, CPU share, leave); the network's state for display.
 * Worker → main (`FromWorker`): topics to join, a message's frames to send to one peer (uplink or
 * tree protocol) or to publish on a topic (the run's broadcasts and status reports), the live state the page shows, and
 * (debug) the engine's records.
 */

import type { BackendChoice, TabBackend, WebGpuCheck } from './worker/gpu-backend.js';

/**
 * Which path a frame came by: a gossipsub topic, the direct `/masha/uplink/1.0.0` protocol, or the
 * relay trees' `/masha/tree/1.0.0` protocol (a large broadcast's frame relayed by `from`).
 */
export type FrameVia = 'gossip' | 'direct' | 'tree';

export type ToWorker =
  | {
      readonly type: 'init';
      /** Our libp2p peer id. */
      readonly self: string;
      /** Our libp2p Ed25519 private key (seed ‖ public key): the engine signs with it (its Identity). */
      readonly secretKey: Uint8Array;
      /** A join token from the URL (`?token=`), for runs that admit only token holders. */
      readonly token: string | null;
      /** The run asked for with `?run=ID`, or null for the newest open run. */
      readonly runId: string | null;
      /** The swarm's frame size (the same limit as Node peers). */
      readonly maxFrameBytes: number;
      /** Gossip messages are signed: a gossip frame's `from` is its authenticated author. */
      readonly signedGossip: boolean;
      /** How long to wait for the run's announcement before reporting "run not found" (ms). */
      readonly findRunMs: number;
      /** Fraction of one core the worker may use, (0, 1]. */
      readonly cpuShare: number;
      /** Keep the engine's records and send them to the main thread (`?debug=1`). */
      readonly debug: boolean;
      /** The volunteer's backend choice (remembered by the page; default auto). */
      readonly backend: BackendChoice;
    }
  | { readonly type: 'frame'; readonly via: FrameVia; readonly topic: string | null; readonly from: string; readonly bytes: ArrayBuffer }
  | { readonly type: 'peer'; readonly kind: 'connected' | 'disconnected'; readonly peer: string }
  | { readonly type: 'control'; readonly action: 'pause' | 'resume' | 'leave' }
  | { readonly type: 'cpu-share'; readonly share: number }
  /** The volunteer's choice of onnxruntime-web backend (applies from the next evaluation). */
  | { readonly type: 'backend'; readonly choice: BackendChoice }
  | { readonly type: 'net'; readonly net: NetState; readonly link: LinkInfo };

export type FromWorker =
  | { readonly type: 'subscribe'; readonly topics: readonly string[] }
  /** One message's frames to one peer over the direct uplink protocol (each buffer transferred). */
  | { readonly type: 'send'; readonly peer: string; readonly frames: readonly ArrayBuffer[] }
  /** Frames of a relayed broadcast to one peer over the tree protocol (each buffer transferred). */
  | { readonly type: 'relay'; readonly peer: string; readonly frames: readonly ArrayBuffer[] }
  /** Frames to publish on a gossip topic (the run's broadcast or status topic; each buffer transferred). */
  | { readonly type: 'publish'; readonly topic: string; readonly frames: readonly ArrayBuffer[] }
  | { readonly type: 'live'; readonly state: LiveState }
  /** The engine's records since the last batch (only with `debug`). */
  | { readonly type: 'records'; readonly records: readonly TabRecord[] }
  | { readonly type: 'left' };

/** The main thread's transport counters, for the engine host's link statistics and start-up. */
export interface LinkInfo {
  /** Transport-level bytes of the node (encryption and muxing included). */
  readonly wireSent: number;
  readonly wireReceived: number;
  /** Frames the transport refused before they reached the worker. */
  readonly refused: number;
  readonly sendFailed: number;
  readonly publishFailed: number;
  readonly relayFailed: number;
  /** Bytes sent on uplink / gossip / tree protocol streams. */
  readonly uplinkStreamBytes: number;
  readonly gossipStreamBytes: number;
  readonly treeStreamBytes: number;
  readonly webrtcLinks: number;
  /** Peers known to follow each subscribed topic. */
  readonly topicPeers: Readonly<Record<string, number>>;
}

/** One line of a tab's event log, in the events.jsonl schema (`@masha/protocol/swarm`): `t` (Unix seconds), `ev`, fields. */
export interface TabRecord {
  readonly t: number;
  readonly ev: string;
  readonly [field: string]: unknown;
}

/** The network as the main thread sees it (for display). */
export interface NetState {
  readonly relay: 'connecting' | 'connected' | 'unreachable' | 'lost';
  /** Peers we hold a connection to (relay included). */
  readonly peers: number;
  /** Of those, connections that are direct WebRTC links (not relayed). */
  readonly webrtcLinks: number;
  /** Frame bytes sent and received (gossip and direct). */
  readonly bytesUp: number;
  readonly bytesDown: number;
}

/** The run, as its launcher announced it. */
export interface RunInfo {
  readonly runId: string;
  /** A short human name: method + compressor on problem. */
  readonly name: string;
  readonly method: string;
  readonly compressor: string;
  readonly problem: string;
  readonly launcher: string;
  readonly state: 'open' | 'finished';
  readonly startedAt: number;
  readonly target: number | null;
  readonly iterations: number;
}

/** Why the page cannot take part in a run, in the volunteer's terms. */
export type RunProblem = 'run-not-found' | 'run-finished' | 'no-runs';

export interface SwarmView {
  /** Volunteers heard from recently (their status reports). */
  readonly volunteers: number;
  readonly aggregator: string | null;
  readonly epoch: number;
  readonly round: number;
  readonly iteration: number;
  /** The run's metric (relative squared distance to the solution), newest report. */
  readonly metric: number | null;
  /** Shards held per volunteer (from their reports). */
  readonly shards: ReadonlyArray<{ readonly peer: string; readonly held: number }>;
}

/**
 * Where this tab's engine is: starting (waiting for the gossip mesh), computing, paused (stopped
 * by the volunteer; the swarm moved its shards), done (the run reached its end; still serving
 * stragglers), finished (the run is over and the engine stopped), left, or stopped on an error.
 */
export type SelfState = 'following' | 'starting' | 'computing' | 'paused' | 'done' | 'finished' | 'left' | 'error';

/** This tab's own part in the run. */
export interface SelfView {
  readonly state: SelfState;
  /** Why the engine stopped, when `state` is "error" (or the run cannot be built here). */
  readonly error: string | null;
  readonly isAggregator: boolean;
  /** Last committed round this tab applied (null before its engine runs). */
  readonly round: number | null;
  readonly shardsHeld: readonly number[];
  /** Committed rounds that included an answer for a shard this tab held. */
  readonly roundsContributed: number;
  readonly uplinksSent: number;
  /** The worker's busy time per committed round (ms, mean of the last 20 rounds). */
  readonly computeMsPerRound: number | null;
  /** Operator evaluation time per request (ms, mean of the last 20). */
  readonly evaluateMsPerRound: number | null;
  readonly cpuShare: number;
  /** Engine hosts started in this tab (1, plus one per resume). */
  readonly hosts: number;
}

/** Where this tab's model evaluations compute (issue 17). */
export interface ComputeView {
  /** What the volunteer chose on the page. */
  readonly choice: BackendChoice;
  /** The backend evaluations use now (model runs), or would use (other runs compute in TypeScript). */
  readonly backend: TabBackend;
  /** Why, in the volunteer's terms. */
  readonly reason: string;
  /** The browser's WebGPU adapter, judged (null until checked). */
  readonly webgpu: WebGpuCheck | null;
  /** A model run's evaluator exists (the backend is in use, not only chosen). */
  readonly modelRun: boolean;
  /** A switch was asked for and applies at the next evaluation. */
  readonly pending: TabBackend | null;
}

export interface ChartSeries {
  readonly iteration: readonly number[];
  readonly metric: readonly number[];
  /** The run's target, drawn as a reference line. */
  readonly target: number | null;
}

export interface LiveState {
  readonly run: RunInfo | null;
  readonly problem: RunProblem | null;
  readonly swarm: SwarmView | null;
  /** This tab's peer id. */
  readonly peer: string;
  readonly self: SelfView;
  /** Whether this browser can run the compressors' WebAssembly SIMD kernels (else the JS path). */
  readonly wasmSimd: boolean;
  readonly compute: ComputeView;
  /** The run's metric over iterations for the chart (the page draws it), or null before the first two points. */
  readonly chart: ChartSeries | null;
  /** Status reports and announcements refused as malformed, by reason. */
  readonly rejected: Readonly<Record<string, number>>;
}

/**
 * An ArrayBuffer holding exactly `frame`'s bytes, for a transfer list: the frame's own buffer when
 * the view covers all of it (moved, no copy), else a copy.
 */
export function frameBuffer(frame: Uint8Array): ArrayBuffer {
  const b = frame.buffer;
  if (b instanceof ArrayBuffer && frame.byteOffset === 0 && frame.byteLength === b.byteLength) return b;
  return frame.slice().buffer;
}

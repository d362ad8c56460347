/**
 * The typed messages between the page's main thread (libp2p, DOM) and its dedicated Web Worker
 * (the engine side). The main thread only moves frame bytes: every frame travels as an
 * ArrayBuffer in the message's transfer list, so it is moved, not copied, and the sender must not
 * touch it afterwards (`frameBuffer` hands over a buffer that holds exactly the frame).
 *
 * Main → worker (`ToWorker`): who we are and which run we want; frames received (gossip topic or
 * the direct uplink protocol) with their sender; peer connected/disconnected hints; the
 * volunteer's controls (pause, resume, CPU share, leave); the network's state for display.
 * Worker → main (`FromWorker`): topics to join, frames to send to one peer or to broadcast, status
 * reports to publish, and the live state the page shows.
 */

/** Which path a frame came by: a gossipsub topic, or the direct `/masha/uplink/1.0.0` protocol. */
export type FrameVia = 'gossip' | 'direct';

export type ToWorker =
  | {
      readonly type: 'init';
      /** Our libp2p peer id. */
      readonly self: string;
      /** The run asked for with `?run=ID`, or null for the newest open run. */
      readonly runId: string | null;
      /** The swarm's frame size (the same limit as Node peers). */
      readonly maxFrameBytes: number;
      /** How long to wait for the run's announcement before reporting "run not found" (ms). */
      readonly findRunMs: number;
      /** Fraction of one core the worker may use, (0, 1]. */
      readonly cpuShare: number;
    }
  | { readonly type: 'frame'; readonly via: FrameVia; readonly topic: string | null; readonly from: string; readonly bytes: ArrayBuffer }
  | { readonly type: 'peer'; readonly kind: 'connected' | 'disconnected'; readonly peer: string }
  | { readonly type: 'control'; readonly action: 'pause' | 'resume' | 'leave' }
  | { readonly type: 'cpu-share'; readonly share: number }
  | { readonly type: 'net'; readonly net: NetState };

export type FromWorker =
  | { readonly type: 'subscribe'; readonly topics: readonly string[] }
  | { readonly type: 'send'; readonly peer: string; readonly bytes: ArrayBuffer }
  | { readonly type: 'broadcast'; readonly bytes: ArrayBuffer }
  | { readonly type: 'status-report'; readonly bytes: ArrayBuffer }
  | { readonly type: 'live'; readonly state: LiveState }
  | { readonly type: 'left' };

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

/** This tab's own part in the run. */
export interface SelfView {
  /** Whether this tab computes (it does once the engine host runs in the worker). */
  readonly computing: boolean;
  readonly shardsHeld: readonly number[];
  readonly roundsContributed: number;
  readonly computeMsPerRound: number | null;
  readonly paused: boolean;
  readonly cpuShare: number;
  /** Whether this browser can run the compressors' WebAssembly SIMD kernels (else the JS path). */
  readonly wasmSimd: boolean;
}

export interface LiveState {
  readonly run: RunInfo | null;
  readonly problem: RunProblem | null;
  readonly swarm: SwarmView | null;
  readonly self: SelfView;
  /** The run's metric chart (the CLI's SVG chart code), or null before the first two points. */
  readonly chartSvg: string | null;
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

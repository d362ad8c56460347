/**
 * The page's dedicated Web Worker: the engine side of a browser volunteer. It receives every
 * frame the main thread's libp2p node gets for the run (with its sender), decides which run to
 * follow from the launchers' announcements, follows the run's status reports, and sends the page
 * its live state (run, swarm, chart) a few times a second.
 *
 * The engine itself arrives with the shared engine host (one host for every runtime): the host
 * will be given `MainThreadLink` as its frame link, `WorkerClock` as its scheduler and the
 * inbound frames and peer hints below; until then this tab follows the run without computing
 * (`self.computing` is false and the page says so). Compute happens here, not on the main thread,
 * because browsers compile the compressors' WebAssembly SIMD kernels synchronously only off the
 * main thread.
 */
import { plotLineChartSvg } from './worker/chart.js';
import { MainThreadLink, WorkerClock } from './worker/main-link.js';
import { RunChooser, runInfo, StatusBoard } from './worker/run-watch.js';
import type { FromWorker, LiveState, RunInfo, ToWorker } from './worker-protocol.js';
import { broadcastTopic, RUNS_TOPIC, statusTopic } from '@masha/protocol/swarm';

/** How often the page's view is refreshed (ms). */
const LIVE_EVERY_MS = 500;

/** WebAssembly SIMD support: validates a 30-byte module that uses one v128 instruction. */
function hasWasmSimd(): boolean {
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
  } catch {
    return false;
  }
}

/** The part of DedicatedWorkerGlobalScope used here (the page's tsconfig has the DOM, not WebWorker, lib). */
interface WorkerScope {
  postMessage(message: FromWorker, transfer: Transferable[]): void;
  onmessage: ((evt: MessageEvent<ToWorker>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
const post = (msg: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(msg, transfer);
const link = new MainThreadLink(post);

interface Session {
  readonly self: string;
  readonly chooser: RunChooser;
  readonly startedAt: number;
  readonly findRunMs: number;
  board: StatusBoard | null;
  run: RunInfo | null;
  paused: boolean;
  cpuShare: number;
  /** Engine frames (run broadcasts and direct uplinks) received; the engine host consumes them. */
  engineFrames: number;
  left: boolean;
}

let session: Session | null = null;
const wasmSimd = hasWasmSimd();
const clock = new WorkerClock(() => publishLive());

function clampShare(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0.1, x)) : 1;
}

function liveState(s: Session): LiveState {
  const now = clock.now();
  const series = s.board?.series() ?? { iteration: [], metric: [] };
  return {
    run: s.run,
    problem: s.chooser.problem(now - s.startedAt >= s.findRunMs),
    swarm: s.board?.view(now) ?? null,
    self: {
      computing: false,
      shardsHeld: [],
      roundsContributed: 0,
      computeMsPerRound: null,
      paused: s.paused,
      cpuShare: s.cpuShare,
      wasmSimd,
    },
    chartSvg: series.iteration.length >= 2 ? plotLineChartSvg(series, s.run?.target ?? null) : null,
    rejected: { ...s.chooser.rejected, ...(s.board?.rejected ?? {}) },
  };
}

function publishLive(): void {
  if (session === null || session.left) return;
  post({ type: 'live', state: liveState(session) });
  session.chooser.expire(clock.now());
  clock.wakeAt(clock.now() + LIVE_EVERY_MS);
}

function onFrame(s: Session, topic: string | null, from: string, bytes: Uint8Array): void {
  const now = clock.now();
  if (topic === RUNS_TOPIC) {
    const chosen = s.chooser.accept(bytes, now, from);
    if (chosen === null) return;
    const first = s.run === null;
    s.run = runInfo(chosen);
    if (first) {
      s.board = new StatusBoard(chosen.runId);
      link.subscribe([broadcastTopic(chosen.runId), statusTopic(chosen.runId)]);
    }
    return;
  }
  if (s.run !== null && topic === statusTopic(s.run.runId)) {
    s.board?.accept(bytes, now, from);
    return;
  }
  // Run broadcasts and direct frames are the engine's input.
  s.engineFrames++;
}

scope.onmessage = (evt: MessageEvent<ToWorker>): void => {
  const msg = evt.data;
  switch (msg.type) {
    case 'init':
      session = {
        self: msg.self,
        chooser: new RunChooser(msg.runId),
        startedAt: clock.now(),
        findRunMs: msg.findRunMs,
        board: null,
        run: null,
        paused: false,
        cpuShare: clampShare(msg.cpuShare),
        engineFrames: 0,
        left: false,
      };
      link.subscribe([RUNS_TOPIC]);
      publishLive();
      return;
    case 'frame':
      if (session !== null && !session.left) onFrame(session, msg.topic, msg.from, new Uint8Array(msg.bytes));
      return;
    case 'peer':
      // Membership hints for the engine host (connected / disconnected peers).
      return;
    case 'control':
      if (session === null) return;
      if (msg.action === 'leave') {
        session.left = true;
        clock.cancel();
        post({ type: 'left' });
      } else {
        session.paused = msg.action === 'pause';
        publishLive();
      }
      return;
    case 'cpu-share':
      if (session !== null) session.cpuShare = clampShare(msg.share);
      publishLive();
      return;
    case 'net':
      return;
    default: {
      const never: never = msg;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
};

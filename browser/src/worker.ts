/**
 * The page's dedicated Web Worker: the engine side of a browser volunteer. It receives every
 * frame the main thread's libp2p node gets for the run (with its sender), decides which run to
 * take part in from the launchers' announcements, runs this tab's peer of that run (the shared
 * engine host with the worker's ports: worker/tab-peer.ts), follows the run's status reports for
 * the page, and sends the page its live state (run, swarm, this tab's part, chart) twice a second.
 *
 * Compute happens here, not on the main thread: browsers compile the compressors' WebAssembly
 * SIMD kernels synchronously only off the main thread, and the page stays responsive.
 */
import { RunChooser, runInfo, StatusBoard } from './worker/run-watch.js';
import { TabPeer, type TabPeerInit } from './worker/tab-peer.js';
import { isModelManifest, modelRunFromManifest, type ModelRun } from '@masha/protocol';
import { CpuGovernor } from './worker/cpu-share.js';
import type { ComputeView, FromWorker, LiveState, RunInfo, SelfView, ToWorker } from './worker-protocol.js';
import { backendFor, checkWebGpu, isBackendChoice, type BackendChoice, type GpuLike, type TabBackend, type WebGpuCheck } from './worker/gpu-backend.js';
import { broadcastTopic, RUNS_TOPIC, statusTopic, type RunAnnouncement } from '@masha/protocol/swarm';

/** How often the page's view is refreshed (ms). */
const LIVE_EVERY_MS = 500;

/** WebAssembly SIMD support: validates a 30-byte module that uses one v128 instruction. */
function hasWasmSimd(): boolean {
  try {
    return WebAssembly.validate(
      new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]),
    );
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

interface Session {
  readonly self: string;
  readonly init: Extract<ToWorker, { type: 'init' }>;
  readonly chooser: RunChooser;
  readonly startedAt: number;
  board: StatusBoard | null;
  run: RunInfo | null;
  peer: TabPeer | null;
  /** Why this tab cannot compute the run (it cannot be built here), or null. */
  buildError: string | null;
  paused: boolean;
  cpuShare: number;
  left: boolean;
  /** The volunteer's backend choice, the WebGPU check (null until done) and the model run's switch. */
  backendChoice: BackendChoice;
  webgpu: WebGpuCheck | null;
  readonly webgpuReady: Promise<WebGpuCheck>;
  modelSwitch: { readonly backend: TabBackend; readonly pending: TabBackend | null; setBackend(b: TabBackend): void } | null;
  /** Why the last switch of backend failed, or null. */
  switchError: string | null;
}

let session: Session | null = null;
let liveTimer: ReturnType<typeof setTimeout> | null = null;
const wasmSimd = hasWasmSimd();
const now = (): number => performance.now();

function selfView(s: Session): SelfView {
  if (s.peer !== null) return s.peer.view();
  return {
    state: s.left ? 'left' : s.buildError !== null ? 'error' : s.paused ? 'paused' : 'following',
    error: s.buildError,
    isAggregator: false,
    round: null,
    shardsHeld: [],
    roundsContributed: 0,
    uplinksSent: 0,
    computeMsPerRound: null,
    evaluateMsPerRound: null,
    cpuShare: s.cpuShare,
    hosts: 0,
  };
}

/** The backend the choice asks for, the one in use, and why (a failed switch included). */
function computeView(s: Session): ComputeView {
  const want = backendFor(s.backendChoice, s.webgpu);
  const sw = s.modelSwitch;
  const backend = sw !== null ? sw.backend : want.backend;
  const pending = sw?.pending ?? null;
  let reason = want.reason;
  if (s.switchError !== null) reason = `${backend === 'webgpu' ? 'WebGPU' : 'wasm (the CPU)'}: ${s.switchError}`;
  else if (pending !== null) reason = `${want.reason} — from the next evaluation`;
  return { choice: s.backendChoice, backend, reason, webgpu: s.webgpu, modelRun: sw !== null, pending };
}

/** Applies the volunteer's choice: the model run's next evaluation, and the status reports. */
function applyBackend(s: Session): void {
  const want = backendFor(s.backendChoice, s.webgpu).backend;
  s.modelSwitch?.setBackend(want);
  const backend = s.modelSwitch?.backend ?? want;
  s.peer?.setDevice({
    provider: backend,
    gpu: backend === 'webgpu',
    requested: s.backendChoice === 'auto' ? 'auto' : s.backendChoice === 'wasm' ? 'cpu' : 'gpu',
  });
}

function liveState(s: Session): LiveState {
  const t = now();
  const series = s.board?.series() ?? { iteration: [], metric: [] };
  return {
    run: s.run,
    problem: s.chooser.problem(t - s.startedAt >= s.init.findRunMs),
    swarm: s.board?.view(t) ?? null,
    peer: s.self,
    self: selfView(s),
    wasmSimd,
    compute: computeView(s),
    chart: series.iteration.length >= 2 ? { iteration: series.iteration, metric: series.metric, target: s.run?.target ?? null } : null,
    rejected: { ...s.chooser.rejected, ...(s.board?.rejected ?? {}) },
  };
}

function publishLive(): void {
  if (liveTimer !== null) clearTimeout(liveTimer);
  liveTimer = null;
  const s = session;
  if (s === null) return;
  post({ type: 'live', state: liveState(s) });
  if (s.init.debug && s.peer !== null) {
    const records = s.peer.takeRecords();
    if (records.length > 0) post({ type: 'records', records });
  }
  if (s.left) return;
  s.chooser.expire(now());
  liveTimer = setTimeout(publishLive, LIVE_EVERY_MS);
}

/** The run was chosen: follow its topics and start this tab's peer of it. */
function join(s: Session, a: RunAnnouncement): void {
  s.board = new StatusBoard(a.runId);
  post({ type: 'subscribe', topics: [broadcastTopic(a.runId), statusTopic(a.runId)] });
  if (a.state === 'finished') return;
  if (!isModelManifest(a.manifest)) {
    startPeer(s, a, undefined);
    return;
  }
  // A model run: fetch the dataset and build the ONNX session first (seconds), then start.
  let run: ModelRun;
  try {
    // A resumed run syncs to the launcher's checkpoint before any round opens.
    const resume = a.resume;
    const context =
      resume !== undefined ? { context: { resume: { ...resume, digest: Uint8Array.from(resume.digest.match(/../g) ?? [], (h) => parseInt(h, 16)) } } } : {};
    run = modelRunFromManifest(a.manifest, {
      wallClock: () => Date.now(),
      ...context,
      limits: { maxBytes: 1024 ** 3, maxSeconds: 30 },
      limitsHint: 'a browser tab',
    });
  } catch (e) {
    s.buildError = `this run cannot be computed in a browser: ${(e as Error).message}`;
    return;
  }
  const base = new URL('/', self.location.href).href;
  // The model code and onnxruntime-web are a separate chunk, loaded only for model runs.
  const onSwitch = (_backend: TabBackend, error: string | null): void => {
    s.switchError = error;
    applyBackend(s);
    publishLive();
  };
  s.webgpuReady
    .then(() => import('./worker/model.js'))
    .then(({ createTabModelEvaluator }) => createTabModelEvaluator(run, base, backendFor(s.backendChoice, s.webgpu).backend, onSwitch))
    .then(
      ({ evaluator, switch: sw }) => {
        s.modelSwitch = sw;
        if (!s.left) startPeer(s, a, { ctx: run.ctx, evaluator });
        applyBackend(s);
      },
      (e: unknown) => {
        s.buildError = `this model run cannot be computed in this browser: ${(e as Error).message}`;
      },
    );
}

function startPeer(s: Session, a: RunAnnouncement, model: TabPeerInit['model']): void {
  let peer: TabPeer;
  try {
    peer = new TabPeer({
      self: s.self,
      secretKey: s.init.secretKey,
      token: s.init.token,
      announcement: a,
      maxFrameBytes: s.init.maxFrameBytes,
      signedGossip: s.init.signedGossip,
      post,
      cpuShare: s.cpuShare,
      keepRecords: s.init.debug,
      ...(model !== undefined ? { model } : {}),
    });
  } catch (e) {
    s.buildError = `this run cannot be computed in a browser: ${(e as Error).message}`;
    return;
  }
  // This tab's own reports count on its board too (gossip does not deliver our own messages).
  const board = s.board;
  if (board !== null) peer.link.onStatus = (report) => board.accept(report, now(), s.self);
  s.peer = peer;
  applyBackend(s);
  if (s.paused) peer.pause();
  else peer.start();
}

function onFrame(s: Session, msg: Extract<ToWorker, { type: 'frame' }>): void {
  const bytes = new Uint8Array(msg.bytes);
  const topic = msg.topic;
  if (topic === RUNS_TOPIC) {
    const chosen = s.chooser.accept(bytes, now(), msg.from);
    if (chosen === null) return;
    const first = s.run === null;
    const firstLauncher = s.peer?.launcher ?? chosen.launcher;
    s.run = runInfo(chosen);
    if (first) join(s, chosen);
    // The launcher's epoch anchor (peers joining mid-run verify the aggregator's claim from it).
    if (chosen.anchor !== undefined) s.peer?.anchor(chosen.anchor);
    // Signed runs: the reader took it only if the launcher's key signed it; unsigned ones: only from the first announcer.
    if (!first && chosen.state === 'finished' && (chosen.signed === true || chosen.launcher === firstLauncher)) s.peer?.finished();
    return;
  }
  if (s.run === null) return;
  if (topic === statusTopic(s.run.runId)) {
    s.board?.accept(bytes, now(), msg.from);
    return;
  }
  // The run's broadcasts and direct frames: the engine's input.
  s.peer?.receive(msg.via, msg.from, bytes);
}

scope.onmessage = (evt: MessageEvent<ToWorker>): void => {
  const msg = evt.data;
  switch (msg.type) {
    case 'init':
      session = {
        self: msg.self,
        init: msg,
        chooser: new RunChooser(msg.runId),
        startedAt: now(),
        board: null,
        run: null,
        peer: null,
        buildError: null,
        paused: false,
        cpuShare: CpuGovernor.clamp(msg.cpuShare),
        left: false,
        backendChoice: isBackendChoice(msg.backend) ? msg.backend : 'auto',
        webgpu: null,
        // navigator.gpu exists in dedicated workers too (Chromium, Safari); absent: no WebGPU.
        webgpuReady: checkWebGpu((self.navigator as unknown as { gpu?: GpuLike }).gpu, self.isSecureContext),
        modelSwitch: null,
        switchError: null,
      };
      {
        const s = session;
        void s.webgpuReady.then((c) => {
          s.webgpu = c;
          applyBackend(s);
          publishLive();
        });
      }
      post({ type: 'subscribe', topics: [RUNS_TOPIC] });
      publishLive();
      return;
    case 'frame':
      if (session !== null && !session.left) onFrame(session, msg);
      return;
    case 'peer':
      session?.peer?.peer(msg.kind, msg.peer);
      return;
    case 'control': {
      const s = session;
      if (s === null) return;
      if (msg.action === 'leave') {
        s.left = true;
        s.peer?.leave();
        publishLive();
        post({ type: 'left' });
      } else {
        s.paused = msg.action === 'pause';
        if (s.paused) s.peer?.pause();
        else s.peer?.resume();
        publishLive();
      }
      return;
    }
    case 'cpu-share':
      if (session !== null) {
        session.cpuShare = CpuGovernor.clamp(msg.share);
        session.peer?.setCpuShare(session.cpuShare);
        publishLive();
      }
      return;
    case 'net':
      session?.peer?.update(msg.link);
      return;
    case 'backend':
      if (session !== null && isBackendChoice(msg.choice)) {
        session.backendChoice = msg.choice;
        session.switchError = null;
        applyBackend(session);
        publishLive();
      }
      return;
    default: {
      const never: never = msg;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
};

/**
 * `masha join` as a function: connect through a relay, find a run (the given id, or the first
 * open run announced), build it from its manifest (problem, method, run context — every peer
 * builds the same from the same manifest), and run a peer driver on it until the run is over.
 *
 * - The event log goes to `<outDir>/<runId>/<start time>/peers/<peerId>.jsonl` (when `outDir` is
 *   given; the start time is the one the run announces, so on the launcher's machine it lands in
 *   the launcher's start directory, run-dir.ts), or to `<logDir>/<peerId>.jsonl`.
 * - After the engine reports done the peer stays `lingerMs` longer, and beyond that while some
 *   peer of the run still reports unfinished (up to `maxLingerMs`), serving the last commit and
 *   its state to peers that missed it, then leaves.
 * - A run announced as finished before this peer is done ends it too (`reason: "finished"`) — only
 *   when the run's launcher signed it: the run id binds the launcher's key (the manifest's
 *   `launcher`), and the announcement reader refuses an announcement of that run the key did not
 *   sign, so a forged "finished" never reaches here. (A run without a launcher key — not one
 *   `masha launch` makes — is ended only by the author of its first announcement.)
 * - The epoch certificate chain in each signed announcement is handed to the engine as its trust
 *   anchor, so a peer joining mid-run can verify the current aggregator's claim.
 */
import { join, resolve } from 'node:path';
import { DEFAULT_BUILD_LIMITS, isModelManifest, modelRunFromManifest, runFromManifest, type BuildLimits, type RunContext } from '@masha/protocol';
import { tokenFromText } from '@masha/protocol/trust';
import { hexToBytes } from '@noble/hashes/utils.js';
import { ProblemEvaluator } from '@masha/protocol/host';
import type { Evaluator } from '@masha/protocol/ports';
import { createModelEvaluator, type ModelRuntimeOptions } from '../model/swarm-model.js';
import type { DeviceFlag } from '../model/device.js';
import { computeOf, deviceEventFields, deviceForRun, probeBeforeJoin, statusDevice, type SwarmDevice } from '../model/swarm-device.js';
import type { MashaNodeOptions } from '../net/create-node.js';
import { NetError } from '../net/errors.js';
import type { SwarmTransport } from '../net/swarm-transport.js';
import { PeerDriver } from '../peer/driver.js';
import { EventLog, NO_LOG, type EventSink } from '../peer/event-log.js';
import type { PeerStatus } from '@masha/protocol/swarm';
import { isRunId } from '@masha/protocol/swarm';
import type { RunAnnouncement } from '@masha/protocol/swarm';
import { connectSwarm } from './connect.js';
import { startDirPath } from './run-dir.js';
import { LIVE_WINDOW_MS, RunDirectory, StatusBoard } from './directory.js';

export interface JoinOptions {
  readonly relays: readonly string[];
  /** Join this run only (64 hex digits); default: the first open run announced. */
  readonly runId?: string;
  /** Runs directory for the event log; null = no log file. Default null. */
  readonly outDir?: string | null;
  /** Directory for the event log instead (`<logDir>/<peerId>.jsonl`); overrides `outDir`. */
  readonly logDir?: string | null;
  /** How long to wait for the run to be announced (ms). Default 60 000. */
  readonly waitMs?: number;
  /** How long to wait for a relay (ms). Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Stay at least this long after the run is done (ms). Default: two leases of the run. */
  readonly lingerMs?: number;
  /** …and longer while a live peer of the run has not finished, up to this (ms). Default: ten leases. */
  readonly maxLingerMs?: number;
  /** Join token (base64url, from the launcher) for runs whose admission policy asks for one. */
  readonly token?: string;
  /**
   * Refuse a run whose problem would need more memory or build time than this (estimated before
   * building: @masha/protocol estimate.ts). Default DEFAULT_BUILD_LIMITS (2 GiB, 60 s).
   */
  readonly buildLimits?: BuildLimits;
  /** Start working only once a peer of the run reports this round (staged demos, tests of late joiners). */
  readonly afterRound?: number;
  /** Publish a status report this often (ms). Default 1000. */
  readonly statusIntervalMs?: number;
  /** What this peer reports for the relay trees (upload rate in kbit/s, 0 = unknown; never relay). */
  readonly capacity?: { readonly upKbps: number; readonly leaf: boolean };
  readonly signal?: AbortSignal;
  readonly node?: Partial<MashaNodeOptions>;
  /** Called once connected (peer id known) and once the run is chosen. */
  readonly onConnected?: (info: { peerId: string; addrs: string[] }) => void;
  readonly onRun?: (info: { runId: string; manifest: RunAnnouncement['manifest']; logPath: string | null }) => void;
  /** Called every second with the live status, and at the end. */
  readonly onStatus?: (status: PeerStatus) => void;
  /** Model runs: the ONNX Runtime backend, threads and dataset directory. */
  readonly model?: ModelRuntimeOptions;
  /** Where model runs compute (`auto` default: a GPU that passes the probe, else the CPU; `gpu` fails without one). */
  readonly device?: DeviceFlag;
  /** Called once the run is chosen with the device this peer computes on. */
  readonly onDevice?: (device: SwarmDevice) => void;
}

export interface JoinResult {
  readonly runId: string;
  readonly peerId: string;
  /** done:target | done:iterations | finished (announced finished first) | interrupted. */
  readonly reason: string;
  readonly status: PeerStatus;
  readonly logPath: string | null;
  readonly device: SwarmDevice;
}

export class JoinError extends NetError {}

export async function joinRun(options: JoinOptions): Promise<JoinResult> {
  if (options.runId !== undefined && !isRunId(options.runId)) {
    throw new JoinError('bad-run-id', `--run: a run id is 64 lower-case hex digits, got ${JSON.stringify(options.runId)}`);
  }
  const token = options.token !== undefined ? tokenFromText(options.token) : null;
  if (options.token !== undefined && token === null) throw new JoinError('bad-token', '--token: not a join token (base64url text from `masha token`)');
  // Probe the GPU before connecting: `--device gpu` without a usable one fails here, at once.
  const backend = options.model?.backend ?? 'node';
  const deviceFlag = options.device ?? 'auto';
  const early = await probeBeforeJoin(deviceFlag, backend);
  const transport: SwarmTransport = await connectSwarm({
    relays: options.relays,
    ...(options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {}),
    ...(options.node ? { node: options.node } : {}),
  });
  const peerId = transport.self;
  options.onConnected?.({ peerId, addrs: transport.node.multiaddrs() });
  const directory = new RunDirectory(transport).start();
  let driver: PeerDriver | null = null;
  let boardRef: StatusBoard | null = null;
  let log: EventSink & { close?: () => string } = NO_LOG;
  let releaseModel: () => Promise<void> = () => Promise.resolve();
  try {
    const waitMs = options.waitMs ?? 60_000;
    const wanted = options.runId;
    const announcement = await directory.waitFor(
      (a) => (wanted === undefined ? a.state === 'open' : a.runId === wanted),
      waitMs,
      () => {
        const seen = directory.runs().map((k) => `${k.announcement.runId} (${k.announcement.state})`);
        return new JoinError(
          'run-not-found',
          wanted === undefined
            ? `no open run was announced within ${waitMs / 1000} s${seen.length > 0 ? `; seen: ${seen.join(', ')}` : ''}`
            : `run ${wanted} was not announced within ${waitMs / 1000} s${seen.length > 0 ? `; announced runs: ${seen.join(', ')}` : ' (no run announced on this relay)'}`,
        );
      },
      options.signal,
    );
    const runId = announcement.runId;
    if (announcement.state === 'finished') {
      throw new JoinError('run-finished', `run ${runId} has already finished`);
    }
    if (options.afterRound !== undefined && options.afterRound > 0) {
      await waitForRound(transport, runId, options.afterRound, waitMs, options.signal);
    }
    // A model run evaluates with ONNX Runtime (or the softmax model); a synthetic one from its problem.
    // A resumed run: sync to the launcher's checkpoint before any round opens (engine ResumePoint).
    const resume = announcement.resume;
    const context = resume !== undefined ? { context: { resume: { ...resume, digest: hexToBytes(resume.digest) } } } : {};
    let ctx: RunContext;
    let evaluator: Evaluator;
    let device: SwarmDevice;
    if (isModelManifest(announcement.manifest)) {
      const mrun = modelRunFromManifest(announcement.manifest, {
        wallClock: () => Date.now(),
        ...context,
        limits: options.buildLimits ?? DEFAULT_BUILD_LIMITS,
        limitsHint: '--max-problem-memory MiB, --max-build-seconds S',
      });
      device = await deviceForRun(deviceFlag, computeOf(mrun, backend), runId, early);
      const provider = device.provider === 'cuda' || device.provider === 'webgpu' ? device.provider : 'cpu';
      const handle = await createModelEvaluator(mrun, { ...(options.model ?? {}), provider });
      releaseModel = () => handle.release();
      ctx = mrun.ctx;
      evaluator = handle.evaluator;
    } else {
      device = await deviceForRun(deviceFlag, computeOf(null, backend), runId, early);
      const run = runFromManifest(announcement.manifest, {
        wallClock: () => Date.now(),
        ...context,
        limits: options.buildLimits ?? DEFAULT_BUILD_LIMITS,
        limitsHint: '--max-problem-memory MiB, --max-build-seconds S',
        readFile: (path) => {
          const text = announcement.files[path];
          if (text === undefined) throw new JoinError('missing-file', `problem file ${path} is not in the announcement`);
          return text;
        },
      });
      ctx = run.ctx;
      evaluator = new ProblemEvaluator(run.problem);
    }
    const logPath = options.logDir
      ? join(resolve(options.logDir), `${peerId}.jsonl`)
      : options.outDir
        ? join(startDirPath(resolve(options.outDir), runId, announcement.startedAt), 'peers', `${peerId}.jsonl`)
        : null;
    if (logPath !== null) log = new EventLog(logPath);
    log.write('device', deviceEventFields(peerId, device));
    options.onRun?.({ runId, manifest: announcement.manifest, logPath });
    options.onDevice?.(device);

    // The other peers' reports: who is still working when we are done.
    const board = new StatusBoard(transport, runId);
    boardRef = board;
    let failure: Error | null = null;
    let wakeUp: () => void = () => {};
    const d = new PeerDriver({
      transport,
      ctx,
      evaluator,
      frameBytes: announcement.manifest.network.frameBytes,
      role: 'volunteer',
      log,
      statusIntervalMs: options.statusIntervalMs ?? 1000,
      ...(options.capacity ? { capacity: options.capacity } : {}),
      ...(token !== null ? { token } : {}),
      onError: (e) => {
        failure = e;
        wakeUp();
      },
    });
    driver = d;
    d.host.setDevice(statusDevice(device));
    board.start();
    board.onQuery(() => d.requestStatus());
    d.start();
    if (announcement.anchor !== undefined) d.anchor(announcement.anchor);
    let finishedAnnounced = false;
    directory.onRun((a) => {
      if (a.runId !== runId) return;
      if (a.anchor !== undefined) d.anchor(a.anchor);
      // Signed runs: the reader took it only if the launcher's key signed it. Unsigned (legacy) runs: only from the first announcer.
      if (a.state === 'finished' && (a.signed === true || a.launcher === announcement.launcher)) {
        finishedAnnounced = true;
        wakeUp();
      }
    });
    const statusTick = options.onStatus ? setInterval(() => options.onStatus?.(d.status()), 1000) : null;
    let reason: string;
    try {
      reason = await new Promise<string>((resolvePromise) => {
        wakeUp = () => {
          if (failure !== null) resolvePromise('error');
          else if (options.signal?.aborted) resolvePromise('interrupted');
          else if (finishedAnnounced) resolvePromise('finished');
        };
        void d.done.then((r) => resolvePromise(`done:${r}`));
        options.signal?.addEventListener('abort', () => wakeUp(), { once: true });
        wakeUp();
      });
      // Set by onError (a closure): not narrowed by the checks above.
      const failed = failure as Error | null;
      if (failed !== null) throw failed;
      if (reason.startsWith('done')) {
        // Serve the last state to stragglers: stay at least `lingerMs`, and beyond it while some
        // peer of the run that is still reporting has not finished (it may be receiving the last
        // commit from us, or need our state), up to `maxLingerMs`.
        const lease = ctx.timing.leaseMs;
        const minMs = options.lingerMs ?? 2 * lease;
        const maxMs = Math.max(minMs, options.maxLingerMs ?? 10 * lease);
        const begin = performance.now();
        const othersDone = (): boolean => board.live(Math.max(LIVE_WINDOW_MS, 2 * lease)).every((e) => e.status.done !== null || e.status.role !== 'volunteer');
        while (!options.signal?.aborted) {
          const waited = performance.now() - begin;
          if (waited >= maxMs || (waited >= minMs && othersDone())) break;
          await new Promise<void>((r) => setTimeout(r, 100));
        }
      }
    } finally {
      if (statusTick !== null) clearInterval(statusTick);
    }
    const status = d.status();
    options.onStatus?.(status);
    d.publishStatus();
    await new Promise((r) => setTimeout(r, 100));
    log.write('exit', { peer: peerId, reason, round: status.round, counters: status.counters, bytes: status.bytes, rejected: d.rejected });
    return { runId, peerId, reason, status, logPath, device };
  } finally {
    driver?.stop();
    boardRef?.stop();
    directory.stop();
    log.close?.();
    await releaseModel().catch(() => {});
    await transport.close().catch(() => {});
  }
}

/** Resolves once some peer of the run reports `round` or later. */
/** How often `--after-round` asks the run's peers for their status while it waits (ms). */
const ROUND_QUERY_MS = 1_000;

async function waitForRound(transport: SwarmTransport, runId: string, round: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const board = new StatusBoard(transport, runId).start();
  try {
    const deadline = performance.now() + timeoutMs;
    // Steady peers report only every few seconds (a run moves ~100 rounds meanwhile): ask them
    // every ROUND_QUERY_MS (they answer a query at most once a second), so the round is known within ~1 s.
    let askedAt = Number.NEGATIVE_INFINITY;
    while (!board.all().some((e) => e.status.round >= round)) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const now = performance.now();
      if (now > deadline) throw new JoinError('run-not-found', `no peer of run ${runId} reported round ${round} within ${timeoutMs / 1000} s`);
      if (now - askedAt >= ROUND_QUERY_MS) {
        board.query();
        askedAt = now;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    board.stop();
  }
}

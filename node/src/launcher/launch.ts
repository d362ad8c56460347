/**
 * `masha launch` as a function: publish a run on the swarm, follow it until it ends, and write,
 * in a directory of its own for this start (run-dir.ts: `<outDir>/<runId>/<start time>/`, with
 * `<outDir>/<runId>/latest` pointing at it),
 *   summary.json   the run summary (@masha/protocol/swarm RunSummary, shared with the simulator)
 *   events.jsonl   what the launcher saw: the run's commits and elections (from its observer
 *                  engine), peers appearing and going silent, the end (appended line by line)
 *   run.svg        the metric against iterations and wall-clock time, live peers
 *   z.json         the final iterate (problems of dimension ≤ 100,000)
 * Nothing is written before the manifest has been built and a relay has answered; summary.json,
 * run.svg and z.json are written atomically (files.ts).
 *
 * Durability (durable.ts): `launch.json` (what was launched), `checkpoint.bin` (the replica every
 * `checkpointEvery` rounds, on a state installation and at the end; atomic and fsynced) and
 * `commits.wal` (every commit applied since, appended before its line in events.jsonl). With
 * `resumeDir` the launcher continues the run of that directory after a total crash: it restores
 * the checkpoint and re-applies the WAL's commits (so every round events.jsonl says was committed
 * is kept, and none is applied twice), logs a `resume` line, announces the run with that point
 * (round, epoch, digest, and itself as the source of the state), serves the state to its volunteers
 * (those it hears on the status topic), and appends to the same events.jsonl. Volunteers started
 * for the resumed run sync from it before any round opens (engine: ResumePoint); elections go on
 * above the epoch the checkpoint had seen.
 *
 * How it follows the run: it republishes the announcement every `announceIntervalMs` until the
 * first commit, then every 5 of them and whenever the epoch anchor changes, listens to
 * the peers' status reports, and runs an observer engine (peer/driver.ts, role "observer") that
 * applies every commit broadcast on the run's topic — so the final iterate, the relative distance
 * and the digest in the summary are the launcher's own, checked against the peers' reports
 * (`consistent`), not numbers a volunteer claimed.
 *
 * The launcher's key (launcher-key.ts) is filled into the manifest (`launcher`), so the run id binds
 * it, and signs every announcement (sequence number, expiry, and the epoch certificate chain its
 * observer holds, which volunteers joining mid-run start trusting from): only this launcher can
 * announce the run or end it.
 *
 * The run ends when the observer applies the final commit (target met or iteration budget spent),
 * or when every live volunteer reports done; then the launcher waits up to `finalWaitMs` for the
 * volunteers' final reports (their byte counters), publishes the run as finished, writes the files
 * and returns. A timeout or an abort signal ends it early (`stop: "timeout" | "interrupted"`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DEFAULT_BUILD_LIMITS,
  isModelManifest,
  modelRunFromManifest,
  operatorNormSq,
  runFromManifest,
  runIdOf,
  type BuildLimits,
  type EngineAction,
  type Manifest,
  type ManifestRun,
  type ModelRun,
} from '@masha/protocol';
import { ProblemEvaluator } from '@masha/protocol/host';
import type { Evaluator } from '@masha/protocol/ports';
import { createModelProbe, type ModelMeasure, type ModelProbe, type ModelRuntimeOptions } from '../model/swarm-model.js';
import { writeModelResults, type ModelSeries } from './model-results.js';
import type { MashaNodeOptions } from '../net/create-node.js';
import type { SwarmTransport } from '../net/swarm-transport.js';
import { PeerDriver } from '../peer/driver.js';
import { EventLog } from '../peer/event-log.js';
import { RUNS_TOPIC } from '@masha/protocol/swarm';
import { encodeAnnouncement, parseRunSummary, type AnnouncedResume, type RunOutcome, type RunState, type StopReason } from '@masha/protocol/swarm';
import type { HostRecord } from '@masha/protocol/host';
import { DurableRun, readLaunchRecord, readResumeData, ResumeError, writeLaunchRecord, CHECKPOINT_FILE, LAUNCH_FILE, WAL_FILE } from './durable.js';
import { connectSwarm } from './connect.js';
import { createStartDir } from './run-dir.js';
import { writeJsonFile, writeTextFile } from './files.js';
import { LIVE_WINDOW_MS, StatusBoard, type PeerEntry } from './directory.js';
import { plotLaunch, type LaunchSeries } from './plot.js';
import { buildSummary, type LaunchSummary } from './summary.js';
import { keyedManifest, loadOrCreateLauncherKey, type LauncherKey } from './launcher-key.js';

export const DEFAULT_TARGET = 1e-6;

export interface LaunchProgress {
  readonly elapsedMs: number;
  readonly iteration: number;
  readonly round: number;
  readonly maxIterations: number;
  /** Relative squared distance (or ‖F‖²/‖F(z⁰)‖² when z* is unknown), null before the first measurement. */
  readonly metric: number | null;
  readonly target: number | null;
  readonly epoch: number;
  readonly aggregator: string | null;
  /** Volunteers heard from recently. */
  readonly peers: number;
  /** Fraction of the work done, in [0, 1] (by iterations, or by log-distance to the target). */
  readonly fraction: number;
}

/** Announcements once the run is committing: every this many announce periods (see launch()). */
const QUIET_PERIODS = 5;

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface LaunchOptions {
  /** A validated manifest (parseManifest) and, for `problem.kind = "file"`, the file texts keyed by path (unused with `resumeDir`). */
  readonly manifest?: Manifest;
  /** The launcher's key, or the file to load it from (created on first use). Default `.masha/launcher.key`. */
  readonly key?: LauncherKey;
  readonly keyFile?: string;
  readonly files?: Readonly<Record<string, string>>;
  readonly relays: readonly string[];
  /** Runs directory: files go to `<outDir>/<runId>/<start time>/`. Default `runs`. */
  readonly outDir?: string;
  /** Write the files into exactly this directory instead (created if needed; refused when it holds an earlier run's files; `latest` is left alone). */
  readonly runDir?: string;
  /** Continue the run of this start directory (its launch.json, checkpoint.bin, commits.wal) after a crash. */
  readonly resumeDir?: string;
  /** Checkpoint the replica every this many committed rounds (and at the end). Default 50. */
  readonly checkpointEvery?: number;
  readonly announceIntervalMs?: number;
  /** Give up after this long (ms). Default: no limit. */
  readonly timeoutMs?: number;
  /** How long to wait for a relay (ms). Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** How long to wait for volunteers' final reports after the end (ms). Default 3 000. */
  readonly finalWaitMs?: number;
  readonly signal?: AbortSignal;
  readonly node?: Partial<MashaNodeOptions>;
  /** Refuse a problem estimated to need more than this to build (the volunteers' defaults: DEFAULT_BUILD_LIMITS). */
  readonly buildLimits?: BuildLimits;
  /** Called when the run id is known (before any volunteer joins). */
  readonly onLaunched?: (info: { runId: string; peerId: string; dir: string; key: LauncherKey }) => void;
  /** Called at most every `progressIntervalMs` and at the end. */
  readonly onProgress?: (p: LaunchProgress) => void;
  readonly progressIntervalMs?: number;
  /** Called for launcher events (a peer joined or went silent, an election, the end). */
  readonly onEvent?: (text: string) => void;
  /** Model runs: how the launcher measures the iterate (ONNX Runtime backend, dataset, test examples per probe). */
  readonly model?: ModelRuntimeOptions & { readonly probeExamples?: number; readonly finalExamples?: number; readonly probeIntervalMs?: number };
}

export interface LaunchResult {
  readonly runId: string;
  readonly dir: string;
  readonly summary: LaunchSummary;
  /** z.json (the final iterate) is written only when the dimension is at most Z_FILE_MAX_DIM. */
  readonly files: { readonly summary: string; readonly events: string; readonly plot: string; readonly z: string };
  /** Model runs: the training curves and final test figures (model.json, loss.svg, rounds.csv). */
  readonly model?: { readonly results: string; readonly plot: string; readonly final: ModelMeasure | null };
}

/** z.json is written for problems of at most this dimension. */
export const Z_FILE_MAX_DIM = 100_000;

export { LIVE_WINDOW_MS };

function short(id: string | null): string {
  return id === null ? '—' : id.length > 12 ? `…${id.slice(-8)}` : id;
}

/** Files of a start directory that mean an earlier run's results live there. */
const RESULT_FILES = ['summary.json', 'events.jsonl', LAUNCH_FILE, CHECKPOINT_FILE, WAL_FILE];

export async function launchRun(options: LaunchOptions): Promise<LaunchResult> {
  const key = options.key ?? loadOrCreateLauncherKey(options.keyFile);
  // A resumed run: what was launched, and where it got to.
  const resumeDir = options.resumeDir !== undefined ? resolve(options.resumeDir) : null;
  const record = resumeDir !== null ? readLaunchRecord(resumeDir) : null;
  if (resumeDir !== null) {
    const summaryPath = join(resumeDir, 'summary.json');
    if (existsSync(summaryPath)) {
      const stop = (JSON.parse(readFileSync(summaryPath, 'utf8')) as { stop?: string }).stop ?? '';
      if (stop.startsWith('done')) throw new ResumeError(`--resume: the run in ${resumeDir} is over (${stop}); nothing to resume`);
    }
  }
  const given: Manifest | undefined = record?.manifest ?? options.manifest;
  if (given === undefined) throw new ResumeError('a manifest (or --resume DIR) is required');
  // A resumed run keeps its launcher key: the run id binds it (keyedManifest refuses another key).
  const manifest = keyedManifest(given, key);
  const files = record?.files ?? options.files ?? {};
  const runId = runIdOf(manifest);
  const resumeData = resumeDir !== null ? readResumeData(resumeDir, runId) : null;
  if (resumeDir === null && options.runDir !== undefined) {
    const dir = resolve(options.runDir);
    const taken = existsSync(dir) ? readdirSync(dir).filter((f) => RESULT_FILES.includes(f)) : [];
    if (taken.length > 0) {
      throw new ResumeError(
        `--dir: ${dir} holds an earlier run's results (${taken.join(', ')}); use --resume ${options.runDir} to continue that run, or another directory`,
      );
    }
  }
  const readFile = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`problem file ${path} was not provided`);
    return text;
  };
  // Build the run here first: a manifest that validates but cannot be built fails before publishing.
  const modelRun: ModelRun | null = isModelManifest(manifest) ? modelRunFromManifest(manifest) : null;
  const run: ManifestRun | null =
    modelRun === null
      ? runFromManifest(manifest, {
          readFile,
          limits: options.buildLimits ?? DEFAULT_BUILD_LIMITS,
          limitsHint: 'volunteers refuse it too by default; --max-problem-memory MiB, --max-build-seconds S',
        })
      : null;
  const ctx = modelRun?.ctx ?? (run as ManifestRun).ctx;
  // A model run is measured on the test split by the launcher itself (ONNX Runtime, or the softmax model).
  const probe: ModelProbe | null = modelRun === null ? null : await createModelProbe(modelRun, options.model ?? {});
  // A relay must answer before anything is written: a bad address or an unreachable relay leaves
  // no directory behind (and never touches an earlier start's files).
  const transport: SwarmTransport = await connectSwarm({
    relays: options.relays,
    ...(options.connectTimeoutMs !== undefined ? { timeoutMs: options.connectTimeoutMs } : {}),
    ...(options.node ? { node: options.node } : {}),
  });
  const wallStart = Date.now();
  // Volunteers' logs go to the start directory of the first start (the announced start time).
  const announcedStart = record?.startedAt ?? wallStart;
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  let dir: string;
  try {
    if (resumeDir !== null) {
      dir = resumeDir;
    } else if (options.runDir !== undefined) {
      dir = resolve(options.runDir);
      mkdirSync(dir, { recursive: true });
    } else {
      dir = createStartDir(resolve(options.outDir ?? 'runs'), runId, wallStart);
    }
  } catch (e) {
    await transport.close().catch(() => {});
    throw e;
  }
  const paths = { summary: join(dir, 'summary.json'), events: join(dir, 'events.jsonl'), plot: join(dir, 'run.svg'), z: join(dir, 'z.json') };
  if (record === null) writeLaunchRecord(dir, { runId, manifest, files, startedAt: wallStart });
  const log = new EventLog(paths.events);
  const self = transport.self;
  const durable = new DurableRun(dir, resumeData?.walBytes ?? 0);
  options.onLaunched?.({ runId, peerId: self, dir, key });
  log.write('launch', { peer: self, runId, manifest: manifest as never, relays: [...options.relays], resumed: record !== null });

  const target = modelRun !== null ? null : (manifest.stop.target ?? (ctx.solution !== null ? DEFAULT_TARGET : null));
  const problem = run?.problem ?? null;
  const tmpA = new Float64Array(problem?.dim ?? 0);
  const tmpB = new Float64Array(problem?.dim ?? 0);
  // Model runs: ‖F̃(w)‖² of the replica's minibatch estimate (no evaluation needed), set after init.
  let opNorm0 = problem !== null && ctx.solution === null ? operatorNormSq(problem, f64(ctx.z0), tmpA, tmpB) : 1;
  const modelSeries: ModelSeries = { iteration: [], seconds: [], loss: [], accuracy: [], commits: [] };
  let probing = false;
  let lastProbeAt = -Infinity;
  const series: LaunchSeries = { iteration: [], seconds: [], metric: [], aliveSeconds: [], alive: [] };
  const epochs = new Set<number>();
  let lastIteration = 0;
  let lastMetric: number | null = null;
  let lastMetricAt = -Infinity;

  const metricOf = (observer: PeerDriver): number => {
    const rd = observer.engine.relDist();
    if (rd !== null) return rd;
    const z = f64(ctx.method.iterate(observer.engine.replica));
    return operatorNormSq(problem as NonNullable<typeof problem>, z, tmpA, tmpB) / (opNorm0 > 0 ? opNorm0 : 1);
  };
  /** Model runs: measure a copy of the iterate on the probe's test slice, one measurement at a time. */
  const probeModel = (observer: PeerDriver, force: boolean): void => {
    if (probe === null || probing) return;
    const t = elapsed();
    if (!force && t - lastProbeAt < (options.model?.probeIntervalMs ?? 1_000)) return;
    const it = observer.engine.replica.iteration;
    const z = Float32Array.from(ctx.method.iterate(observer.engine.replica));
    probing = true;
    lastProbeAt = t;
    probe.measure(z).then(
      (r) => {
        probing = false;
        modelSeries.iteration.push(it);
        modelSeries.seconds.push(t / 1000);
        modelSeries.loss.push(r.loss);
        modelSeries.accuracy.push(r.accuracy);
        lastMetric = r.loss;
        series.iteration.push(it);
        series.seconds.push(t / 1000);
        series.metric.push(r.loss);
        options.onEvent?.(`iteration ${it}: test loss ${r.loss.toFixed(4)}, accuracy ${(100 * r.accuracy).toFixed(1)} %${pace(it, t / 1000)}`);
      },
      (e: unknown) => {
        probing = false;
        log.write('error', { message: `probe: ${(e as Error).message}` });
      },
    );
  };
  /** Training tokens per second and seconds per round since the initial exchange. */
  const pace = (it: number, seconds: number): string => {
    const init = modelSeries.commits.find((c) => c.phase === 'init');
    if (init === undefined || it === 0 || seconds <= init.t) return '';
    const dt = seconds - init.t;
    const rounds = modelSeries.commits.filter((c) => c.t > init.t && c.t <= seconds).length;
    const perRound = rounds > 0 ? `, ${(dt / rounds).toFixed(2)} s/round` : '';
    if (modelRun?.task.kind !== 'model') return perRound;
    const t = modelRun.task.task;
    return `, ${Math.round((it * t.shards * t.batch * t.model.seqLen) / dt)} tokens/s${perRound}`;
  };
  const fwNormSq = (observer: PeerDriver): number => {
    const fw = observer.engine.replica.vectors.Fw;
    let s = 0;
    for (let i = 0; i < fw.length; i++) s += fw[i] * fw[i];
    return s;
  };

  // ---------------------------------------------------------------- observer and status board
  let endReason: StopReason | null = null;
  let wake: () => void = () => {};
  const woken = (): Promise<void> =>
    new Promise((r) => {
      wake = r;
    });
  // Volunteers of this run, as heard on its status topic: the peers the observer serves state to
  // (a resumed run's volunteers fetch it from the launcher).
  const board = new StatusBoard(transport, runId);
  const checkpointEvery = Math.max(1, options.checkpointEvery ?? 50);
  let observerRef: PeerDriver | null = null;
  const checkpoint = (why: string): void => {
    const o = observerRef;
    if (o === null) return;
    const e = o.engine;
    const m = e.lastCommit();
    durable.checkpoint(
      { runId, epoch: e.epoch, savedAt: Date.now(), state: e.encodeState(), lastCommit: m === null ? null : { message: m, auth: {} } },
      e.committedRound,
    );
    log.write('checkpoint', { round: e.committedRound, epoch: e.epoch, digest: e.digestHex, why });
  };
  const beforeRecord = (r: HostRecord): void => {
    const o = observerRef;
    if (o === null) return;
    if (r.ev === 'commit') {
      // The commit goes to the WAL before its line goes to events.jsonl.
      const m = o.engine.loggedCommit(r.round);
      if (m !== null) durable.appendCommit(m);
      if (o.engine.committedRound - durable.checkpointRound >= checkpointEvery) checkpoint('every');
    } else if (r.ev === 'state') {
      // A state installation skips commits: the WAL restarts from a checkpoint of it.
      checkpoint('state');
    }
  };
  const observer: PeerDriver = new PeerDriver({
    transport,
    ctx,
    admits: (peer) => board.isVolunteer(peer),
    beforeRecord,
    // An observer answers no round: it never evaluates, but the host needs an evaluator port.
    evaluator: run !== null ? new ProblemEvaluator(run.problem) : NO_EVALUATOR,
    frameBytes: manifest.network.frameBytes,
    role: 'observer',
    log,
    onAction: (a: EngineAction) => {
      if (a.type === 'election') {
        if (!epochs.has(a.epoch)) options.onEvent?.(`epoch ${a.epoch}: aggregator ${short(a.aggregator)}`);
        epochs.add(a.epoch);
      } else if (a.type === 'commit') {
        const it = observer.engine.replica.iteration;
        if (modelRun !== null) {
          modelSeries.commits.push({ t: elapsed() / 1000, round: a.round, iteration: it, phase: a.phase, included: a.included.length });
          if (a.phase === 'init') {
            opNorm0 = fwNormSq(observer);
            probeModel(observer, true);
          } else if (it > lastIteration) {
            lastIteration = it;
            probeModel(observer, it >= manifest.stop.iterations);
          }
        } else if (it > lastIteration) {
          lastIteration = it;
          const known = ctx.solution !== null;
          const t = elapsed();
          // ‖F‖² costs M operator evaluations: at most a few per second when z* is unknown.
          if (known || t - lastMetricAt >= 250 || it >= manifest.stop.iterations) {
            lastMetricAt = t;
            lastMetric = metricOf(observer);
            series.iteration.push(it);
            series.seconds.push(t / 1000);
            series.metric.push(lastMetric);
          }
        }
      } else if (a.type === 'done') {
        endReason = a.reason === 'target' ? 'done:target' : 'done:iterations';
        wake();
      }
    },
    onError: (e) => {
      log.write('error', { message: `observer: ${e.message}` });
    },
  });
  observerRef = observer;
  let resumePoint: AnnouncedResume | undefined;
  if (resumeData !== null) {
    const cp = resumeData.checkpoint;
    const r = observer.host.restore(cp.state, cp.epoch, resumeData.commits);
    const e = observer.engine;
    resumePoint = { round: e.committedRound, commitEpoch: e.snapshot().commitEpoch, epoch: e.epoch, digest: e.digestHex, source: self };
    log.write('resume', { peer: self, round: r.round, digest: e.digestHex, iteration: e.replica.iteration, epoch: e.epoch, walCommits: r.replayed });
    options.onEvent?.(`resumed at round ${r.round} (checkpoint + ${r.replayed} logged commits), epoch ${e.epoch}`);
  }
  // The state the run starts from (round 0, or the resumed one) is durable from the start.
  checkpoint(resumeData !== null ? 'resume' : 'start');
  board.start();
  board.onStatus((e: PeerEntry, isNew: boolean) => {
    if (isNew) {
      log.write('peer', { peer: e.peer, role: e.status.role });
      options.onEvent?.(`peer ${short(e.peer)} joined`);
    }
    epochs.add(e.status.epoch);
    if (e.status.epoch > 0) epochs.add(e.status.epoch);
    wake();
  });
  observer.start();

  // ---------------------------------------------------------------- announcing
  let state: RunState = 'open';
  let outcome: RunOutcome | undefined;
  let messageId = 1;
  let lastAnchor: Uint8Array | null = null;
  const frameSize = Math.min(manifest.network.frameBytes, transport.maxFrameBytes);
  const tp = transport;
  const announce = (): void => {
    let frames: Uint8Array[];
    try {
      frames = encodeAnnouncement(
        {
          manifest,
          files,
          state,
          startedAt: announcedStart,
          ...(outcome !== undefined ? { outcome } : {}),
          ...(resumePoint !== undefined ? { resume: resumePoint } : {}),
        },
        self,
        messageId++,
        frameSize,
        {
          secretKey: key.secretKey,
          now: () => Date.now(),
          anchor: () => (observer.isStopped ? lastAnchor : (lastAnchor = observer.engine.certificate ?? lastAnchor)),
        },
      );
    } catch (e) {
      log.write('error', { message: (e as Error).message });
      return;
    }
    for (const f of frames) tp.publish(RUNS_TOPIC, f).catch(() => {});
    lastAnnounced = performance.now();
    announcedAnchor = lastAnchor;
  };
  // Every period until the first commit (volunteers are joining), then every QUIET_PERIODS periods,
  // and at the next period whenever the epoch anchor changed (joiners mid-run need the new one).
  // Every subscriber of the runs topic forwards each announcement (~1.1 kB) through its mesh:
  // at one a second that was ~37 kB per 0.5 s round at 16 peers (measured with the gossip trace).
  const period = options.announceIntervalMs ?? 1_000;
  let lastAnnounced = -Infinity;
  let announcedAnchor: Uint8Array | null = null;
  // A resumed run starts above round 0: "committing" means a commit this launcher saw.
  const firstRound = observer.engine.committedRound;
  const announceTick = (): void => {
    const anchor = observer.isStopped ? lastAnchor : (observer.engine.certificate ?? lastAnchor);
    const quiet = observer.engine.committedRound > firstRound ? QUIET_PERIODS * period : period;
    if (performance.now() - lastAnnounced >= quiet - period / 2 || !sameBytes(anchor, announcedAnchor)) announce();
  };
  announce();
  const announceTimer = setInterval(announceTick, period);

  // ---------------------------------------------------------------- following
  const silent = new Set<string>();
  const sample = (): void => {
    const live = board.live(LIVE_WINDOW_MS).filter((e) => e.status.role === 'volunteer');
    const t = elapsed() / 1000;
    const prev = series.alive.length > 0 ? series.alive[series.alive.length - 1] : 0;
    if (live.length !== prev || series.alive.length === 0) {
      series.aliveSeconds.push(t, t);
      series.alive.push(prev, live.length);
    }
    for (const e of board.all()) {
      const isLive = live.includes(e);
      if (!isLive && !silent.has(e.peer) && e.status.done === null) {
        silent.add(e.peer);
        log.write('peer-silent', { peer: e.peer, round: e.status.round });
        options.onEvent?.(`peer ${short(e.peer)} went silent`);
      } else if (isLive && silent.delete(e.peer)) {
        log.write('peer-back', { peer: e.peer });
      }
    }
  };
  const progress = (): LaunchProgress => {
    const snap = observer.engine.snapshot();
    const live = board.live(LIVE_WINDOW_MS).filter((e) => e.status.role === 'volunteer');
    const maxIt = manifest.stop.iterations;
    let fraction = snap.iteration / maxIt;
    if (target !== null && lastMetric !== null && lastMetric > 0 && lastMetric < 1) {
      fraction = Math.max(fraction, Math.log(lastMetric) / Math.log(target));
    }
    return {
      elapsedMs: elapsed(),
      iteration: snap.iteration,
      round: snap.round,
      maxIterations: maxIt,
      metric: lastMetric,
      target,
      epoch: snap.epoch,
      aggregator: snap.aggregator,
      peers: live.length,
      fraction: Math.max(0, Math.min(1, endReason !== null && endReason.startsWith('done') ? 1 : fraction)),
    };
  };
  const tick = setInterval(() => {
    sample();
    options.onProgress?.(progress());
  }, options.progressIntervalMs ?? 500);

  const timeout =
    options.timeoutMs !== undefined
      ? setTimeout(() => {
          if (endReason === null) endReason = 'timeout';
          wake();
        }, options.timeoutMs)
      : null;
  const onAbort = (): void => {
    if (endReason === null) endReason = 'interrupted';
    wake();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const volunteersDone = (): boolean => {
    const live = board.live(LIVE_WINDOW_MS).filter((e) => e.status.role === 'volunteer');
    return live.length > 0 && live.every((e) => e.status.done !== null);
  };
  try {
    while (endReason === null) {
      if (volunteersDone()) {
        // Every volunteer finished: give the observer a moment to catch up (state transfer), then end.
        const until = performance.now() + 2_000;
        while (endReason === null && performance.now() < until) await Promise.race([woken(), sleep(100)]);
        if (endReason === null) endReason = 'done:volunteers';
        break;
      }
      await woken();
    }
    log.write('end', { reason: endReason, round: observer.engine.committedRound, iteration: observer.engine.replica.iteration });
    options.onEvent?.(`run ended: ${endReason}`);

    // Final reports: wait for every live volunteer to report done (their final byte counts).
    const finalDeadline = performance.now() + (options.finalWaitMs ?? 3_000);
    if (endReason.startsWith('done')) {
      while (performance.now() < finalDeadline && !volunteersDone()) await Promise.race([woken(), sleep(100)]);
    }
    state = 'finished';
    outcome = { stop: endReason, reached: null, iterations: observer.engine.replica.iteration, committedRounds: observer.engine.committedRound };
    announce();
    sample();
    options.onProgress?.(progress());
  } finally {
    clearInterval(announceTimer);
    clearInterval(tick);
    if (timeout !== null) clearTimeout(timeout);
    options.signal?.removeEventListener('abort', onAbort);
  }

  const zFinal = ctx.method.iterate(observer.engine.replica);
  const z = problem !== null ? f64(zFinal) : null;
  const finalOpNormSq = problem !== null && z !== null ? operatorNormSq(problem, z, tmpA, tmpB) : fwNormSq(observer);
  // Model runs: wait for a probe in flight, then measure the final iterate on the whole test split.
  let finalMeasure: ModelMeasure | null = null;
  if (probe !== null) {
    while (probing) await sleep(50);
    try {
      finalMeasure = await probe.final(Float32Array.from(zFinal));
      options.onEvent?.(
        `final: test loss ${finalMeasure.loss.toFixed(4)}, accuracy ${(100 * finalMeasure.accuracy).toFixed(1)} %${finalMeasure.robustAccuracy !== null ? `, robust accuracy ${(100 * finalMeasure.robustAccuracy).toFixed(1)} %` : ''}`,
      );
    } catch (e) {
      log.write('error', { message: `final probe: ${(e as Error).message}` });
    }
    await probe.release().catch(() => {});
  }
  const summary = buildSummary({
    runId,
    manifest,
    observer,
    peers: board.all(),
    epochs,
    endReason,
    target,
    opNorm0,
    finalOpNormSq,
    wallSeconds: elapsed() / 1000,
    startedAt: wallStart,
    launcherWire: transport.counters().wire.connections,
    launcher: self,
    relays: options.relays,
    logSha256: null,
  });
  checkpoint('end');
  durable.close();
  observer.stop();
  board.stop();
  outcome = { stop: summary.stop, reached: summary.reached, iterations: summary.iterations, committedRounds: summary.committedRounds };
  // One more round of "finished" (now with the outcome) so volunteers that missed it stop waiting.
  for (let i = 0; i < 2; i++) {
    await sleep(150);
    announce();
  }
  await sleep(150);
  await transport.close().catch(() => {});
  series.aliveSeconds.push(elapsed() / 1000);
  series.alive.push(series.alive.length > 0 ? series.alive[series.alive.length - 1] : 0);
  log.write('summary', { reached: summary.reached, committedRounds: summary.committedRounds, finalRelDist: summary.finalRelDist });
  const logSha256 = log.close();
  // Validated once, against the schema the simulator's summaries follow too, before it is written or printed.
  const final: LaunchSummary = parseRunSummary({ ...summary, logSha256 });
  await writeJsonFile(paths.summary, final);
  // The final iterate as the launcher's observer holds it (small problems only).
  if (z !== null && z.length <= Z_FILE_MAX_DIM) {
    await writeJsonFile(paths.z, {
      runId,
      round: observer.engine.committedRound,
      iteration: observer.engine.replica.iteration,
      digest: observer.engine.digestHex,
      z: Array.from(z),
    });
  }
  await writeTextFile(
    paths.plot,
    plotLaunch(series, {
      title: `${manifest.method.name} + ${manifest.compressors.device} — run ${runId.slice(0, 12)} (${final.peersSeen} volunteers)`,
      metricLabel: modelRun !== null ? 'test loss (probe)' : ctx.solution !== null ? 'relative squared distance' : '‖F(z)‖² / ‖F(z⁰)‖²',
      ...(target !== null ? { target } : {}),
    }),
  );
  if (modelRun !== null) {
    const model = await writeModelResults(dir, {
      runId,
      manifest,
      series: modelSeries,
      final: finalMeasure,
      summary: final,
      title: `${manifest.method.name} + ${manifest.compressors.device}`,
    });
    return { runId, dir, summary: final, files: paths, model: { ...model, final: finalMeasure } };
  }
  return { runId, dir, summary: final, files: paths };
}

/** The evaluator of an observer of a model run: it never evaluates. */
const NO_EVALUATOR: Evaluator = {
  evaluate: (_request, complete) => complete(new Error('an observer does not evaluate')),
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The float64 vectors of a synthetic problem's run. */
function f64(v: Float64Array | Float32Array): Float64Array {
  if (!(v instanceof Float64Array)) throw new TypeError('launch: a synthetic problem run has float64 vectors');
  return v;
}

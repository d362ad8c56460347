import { readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseManifest, ValidationError, type Manifest } from '@masha/protocol';
import { finiteOrNull, parseRunSummary, type RunSummary, type StopReason } from '@masha/protocol/swarm';
import { HashingLog } from '../des/event-log.js';
import { DEFAULT_LINK, type LinkProfile } from '../des/link-model.js';
import { writeJsonFile, writeTextFile } from '../io/json.js';
import { commitsOnly, logSizeWatch, type EventLevel, type LogSizeEstimate } from './event-level.js';
import { parseTrace, type Trace } from '../trace/schema.js';
import { plotRun } from './plot-run.js';
import { DEFAULT_TARGET, simulate, type IterationInfo, type SimulateResult } from './simulate.js';

/**
 * `masha-sim run` as a function: read and validate a manifest and a trace, simulate, and write
 *   DIR/events.jsonl   every send, receive, drop, reject, timer, commit, election, membership event
 *                      (`events: "commits"`: commits, elections, membership and done only)
 *   DIR/summary.json   the run summary shared with the real swarm (@masha/protocol/swarm
 *                      RunSummary, host "simulator", the network model in `simulation`)
 *   DIR/run.svg        the metric against iterations and simulated time, and the live-peer count
 * Nothing is written before the manifest and the trace have been read and checked; events.jsonl is
 * written under a temporary name and renamed when the run is over, summary.json and run.svg are
 * written atomically, so a failed rerun into the same directory leaves the earlier results whole.
 */
export interface RunFilesOptions {
  readonly manifestPath: string;
  /** JSON Lines churn trace; none = the manifest's M peers throughout. */
  readonly tracePath?: string;
  readonly outDir: string;
  /** Network seed (default: the manifest's seed). */
  readonly seed?: number;
  readonly link?: LinkProfile;
  readonly fanout?: number;
  readonly logMetrics?: boolean;
  /** Which events go to events.jsonl: every one (default) or commits, elections and membership only. */
  readonly events?: EventLevel;
  readonly maxSimSeconds?: number;
  readonly onIteration?: (info: IterationInfo) => void;
  /** Told once, early in the run, when events.jsonl is on its way past LARGE_LOG_BYTES. */
  readonly onLogSize?: (estimate: LogSizeEstimate) => void;
}

export interface RunFilesResult {
  /** summary.json: the run summary shared with the real swarm (@masha/protocol/swarm), host "simulator". */
  readonly summary: RunSummary & { readonly simulation: NonNullable<RunSummary['simulation']>; readonly simSeconds: number };
  readonly files: { readonly events: string; readonly summary: string; readonly plot: string };
}

export type NetworkDescription = NonNullable<RunSummary['simulation']>;

/** The simulator's stop reasons in the shared vocabulary (`done` splits by why the peers finished). */
export function stopReason(result: Pick<SimulateResult, 'summary' | 'peers'>): StopReason {
  const stop = result.summary.stop;
  switch (stop) {
    case 'done': {
      const reasons = new Set(result.peers.map((p) => p.snapshot().done));
      return reasons.has('target') ? 'done:target' : 'done:iterations';
    }
    case 'idle':
    case 'time':
    case 'events':
      return stop;
    case 'stopped':
      return 'interrupted';
    default:
      throw new Error(`unknown simulator stop reason ${stop}`);
  }
}

/** Reads a file as UTF-8, reporting failures as a ValidationError on `field`. */
function readText(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ValidationError(field, `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Parses and validates a manifest file. Errors name the field (`manifest: network.leaseMs: …`). */
export function loadManifest(path: string): Manifest {
  const text = readText(path, 'manifest');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('manifest', `${path} is not valid JSON (${(e as Error).message})`);
  }
  return parseManifest(json);
}

export function loadTrace(path: string): Trace {
  return parseTrace(readText(path, 'trace'));
}

export async function runToDirectory(options: RunFilesOptions): Promise<RunFilesResult> {
  const manifestPath = resolve(options.manifestPath);
  const manifest = loadManifest(manifestPath);
  const trace = options.tracePath === undefined ? undefined : loadTrace(resolve(options.tracePath));
  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const files = { events: join(outDir, 'events.jsonl'), summary: join(outDir, 'summary.json'), plot: join(outDir, 'run.svg') };
  const link = options.link ?? DEFAULT_LINK;
  const events = options.events ?? 'all';
  const network: NetworkDescription = { seed: options.seed ?? manifest.seed, fanout: options.fanout ?? 6, link: { ...link }, events };
  // The log goes to a file of its own and replaces events.jsonl only once the run is over, so a
  // failed or interrupted rerun into the same directory leaves the previous results whole.
  const partial = join(outDir, `.events-${process.pid}-${Date.now()}.jsonl.partial`);
  const file = new HashingLog(partial);
  const log = events === 'all' ? file : commitsOnly(file);
  const watch = options.onLogSize ? logSizeWatch(file, manifest.stop.iterations, options.onLogSize) : null;
  const startedAt = new Date().toISOString();
  const wallStart = performance.now();
  let result: SimulateResult;
  try {
    result = simulate({
      manifest,
      ...(trace ? { trace } : {}),
      // Problem files are named relative to the manifest's directory.
      readFile: (p) => readText(resolve(dirname(manifestPath), p), 'problem.path'),
      seed: network.seed,
      link,
      fanout: network.fanout,
      log,
      logMetrics: options.logMetrics ?? false,
      ...(options.maxSimSeconds !== undefined ? { maxSimSeconds: options.maxSimSeconds } : {}),
      onIteration: (info) => {
        watch?.(info);
        options.onIteration?.(info);
      },
    });
  } catch (e) {
    file.finish();
    await rm(partial, { force: true });
    throw e;
  }
  const logSha256 = file.finish();
  await rename(partial, files.events);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const s = result.summary;
  const target = manifest.stop.target ?? DEFAULT_TARGET;
  const best = result.peers.reduce<(typeof result.peers)[number] | null>((a, p) => (a === null || p.committedRound > a.committedRound ? p : a), null);
  // Validated once, against the schema the real swarm's summaries follow too, before it is written.
  const summary = parseRunSummary({
    host: 'simulator',
    runId: s.runId,
    startedAt,
    stop: stopReason(result),
    reached: s.reached,
    target,
    iterations: s.iterations,
    rounds: s.rounds,
    committedRounds: s.committedRounds,
    abortedRounds: s.abortedRounds,
    elections: s.elections,
    lateFrames: s.lateFrames,
    rejectedFrames: s.rejectedFrames,
    staleMessages: s.staleMessages,
    framesLost: s.framesLost,
    finalRelDist: finiteOrNull(s.finalRelDist),
    finalOpNormSq: finiteOrNull(s.finalOpNormSq),
    uplinkBytes: s.uplinkBytes,
    downlinkBytes: s.downlinkBytes,
    wireBytes: s.wireBytes,
    logSha256,
    simSeconds: s.simSeconds,
    wallSeconds,
    consistent: s.consistent,
    peersAtEnd: s.peersAtEnd,
    ...(best !== null ? { digest: best.digestHex } : {}),
    simulation: network,
  }) as RunFilesResult['summary'];
  await writeJsonFile(files.summary, summary);
  const known = s.finalRelDist !== null;
  await writeTextFile(
    files.plot,
    plotRun(result.series, {
      title: `${manifest.method.name} + ${manifest.compressors.device} — run ${s.runId.slice(0, 12)}`,
      metricLabel: known ? 'relative squared distance' : '‖F(z)‖² / ‖F(z⁰)‖²',
      target,
    }),
  );
  return { summary, files };
}

import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseManifest, ValidationError, type Manifest } from '@masha/protocol';
import { HashingLog } from '../des/event-log.js';
import { DEFAULT_LINK, type LinkProfile } from '../des/link-model.js';
import { writeJsonFile, writeTextFile } from '../io/json.js';
import { parseTrace, type Trace } from '../trace/schema.js';
import { plotRun } from './plot-run.js';
import { DEFAULT_TARGET, simulate, type IterationInfo, type RunSummary } from './simulate.js';

/**
 * `masha-sim run` as a function: read and validate a manifest and a trace, simulate, and write
 *   DIR/events.jsonl   every send, receive, drop, reject, timer, commit, election, membership event
 *   DIR/summary.json   RunSummary (+ the network model used)
 *   DIR/run.svg        the metric against iterations and simulated time, and the live-peer count
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
  readonly maxSimSeconds?: number;
  readonly onIteration?: (info: IterationInfo) => void;
}

export interface RunFilesResult {
  readonly summary: RunSummary & { readonly network: NetworkDescription };
  readonly files: { readonly events: string; readonly summary: string; readonly plot: string };
}

export interface NetworkDescription {
  readonly seed: number;
  readonly fanout: number;
  readonly link: LinkProfile;
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
  const network: NetworkDescription = { seed: options.seed ?? manifest.seed, fanout: options.fanout ?? 6, link };
  const log = new HashingLog(files.events);
  const wallStart = performance.now();
  let result: ReturnType<typeof simulate>;
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
      ...(options.onIteration ? { onIteration: options.onIteration } : {}),
    });
  } finally {
    // Close the file even when the simulation throws.
    log.finish();
  }
  const logSha256 = log.sha256;
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const s = result.summary;
  // Key order as documented (issue 4), then the extras.
  const summary = {
    runId: s.runId,
    rounds: s.rounds,
    committedRounds: s.committedRounds,
    abortedRounds: s.abortedRounds,
    elections: s.elections,
    lateFrames: s.lateFrames,
    rejectedFrames: s.rejectedFrames,
    finalRelDist: s.finalRelDist,
    finalOpNormSq: s.finalOpNormSq,
    uplinkBytes: s.uplinkBytes,
    downlinkBytes: s.downlinkBytes,
    wireBytes: s.wireBytes,
    logSha256,
    simSeconds: s.simSeconds,
    wallSeconds,
    reached: s.reached,
    iterations: s.iterations,
    staleMessages: s.staleMessages,
    framesLost: s.framesLost,
    consistent: s.consistent,
    peersAtEnd: s.peersAtEnd,
    stop: s.stop,
    network,
  };
  await writeJsonFile(files.summary, summary);
  const known = s.finalRelDist !== null;
  await writeTextFile(
    files.plot,
    plotRun(result.series, {
      title: `${manifest.method.name} + ${manifest.compressors.device} — run ${s.runId.slice(0, 12)}`,
      metricLabel: known ? 'relative squared distance' : '‖F(z)‖² / ‖F(z⁰)‖²',
      target: manifest.stop.target ?? DEFAULT_TARGET,
    }),
  );
  return { summary, files };
}

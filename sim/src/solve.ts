/**
 * One method on one problem, summarised the way `summary.json` reports it; and problem files.
 *
 * Shared by `masha-sim solve` (a user's problem file) and `masha-sim repro bilinear` (the seed's
 * Figure 1 comparison), so both report the same fields computed the same way.
 *
 * Units: megabytes are 10⁶ bytes of *payload* (the exact bits each compressor reports, what the
 * reference runner counts), uplink = summed over all devices, downlink = counted once per broadcast.
 */
import { readFile, stat } from 'node:fs/promises';
import { bilinearFromJson, createMethod, parseCompressor, quadraticFromJson, runReference, theoryStepsize, ValidationError } from '@masha/protocol';
import type { Compressor, IterationRecord, MethodInstance, MethodName, Problem, ReferenceRunResult } from '@masha/protocol';

/** Relative squared distance that counts as "reached" (issue 2: 1e-6). */
export const DEFAULT_TARGET = 1e-6;

/** Bits → megabytes (10⁶ bytes). */
export function megabytes(bits: number): number {
  return bits / 8e6;
}

// ---------------------------------------------------------------------------------------------
// Problem files: the one place that dispatches on `kind`.

/** Turns a parsed, untrusted JSON value of one `kind` into a Problem (throws ValidationError). */
export type ProblemLoader = (value: unknown) => Problem;

/** Problem-file loaders by `kind`. Add a kind with one line. */
export const PROBLEM_LOADERS: Readonly<Record<string, ProblemLoader>> = {
  bilinear: bilinearFromJson,
  quadratic: quadraticFromJson,
};

/** Largest problem file we read (JSON text); bigger files are refused before reading. */
export const MAX_PROBLEM_FILE_BYTES = 256 * 1024 * 1024;

/** Dispatches a parsed JSON value on its `kind` field. */
export function problemFromJson(value: unknown): Problem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('', 'a problem file must hold a JSON object');
  }
  const kind = (value as { kind?: unknown }).kind;
  if (kind === undefined) throw new ValidationError('kind', 'missing');
  if (typeof kind !== 'string') throw new ValidationError('kind', `expected a string, got ${typeof kind}`);
  const loader = Object.hasOwn(PROBLEM_LOADERS, kind) ? PROBLEM_LOADERS[kind] : undefined;
  if (!loader) {
    throw new ValidationError('kind', `unknown problem kind '${kind}' (known: ${Object.keys(PROBLEM_LOADERS).join(', ')})`);
  }
  return loader(value);
}

/** Reads and validates a problem file. Size, JSON syntax and content errors are ValidationErrors. */
export async function loadProblemFile(path: string): Promise<Problem> {
  const info = await stat(path);
  if (!info.isFile()) throw new ValidationError('', `${path} is not a regular file`);
  if (info.size > MAX_PROBLEM_FILE_BYTES) {
    throw new ValidationError('', `file is ${info.size} bytes, larger than the limit of ${MAX_PROBLEM_FILE_BYTES}`);
  }
  const text = await readFile(path, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ValidationError('', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return problemFromJson(value);
}

// ---------------------------------------------------------------------------------------------
// One run.

/** The per-run fields of `summary.json` (issue 2 §3), plus a few diagnostics. */
export interface RunSummary {
  readonly method: string;
  readonly compressor: string;
  readonly gamma: number;
  /** Iterations actually run (fewer than the budget when the target was met or the run diverged). */
  readonly iterations: number;
  /** Device uplink payload megabytes of the whole run. */
  readonly megabytes: number;
  /** Relative squared distance ‖z − z*‖²/‖z⁰ − z*‖² at the end (null when z* is unknown or the run blew up). */
  readonly finalRelDist: number | null;
  /** finalRelDist ≤ target at some point. */
  readonly reached: boolean;
  /** Uplink megabytes when the target was first met; null when not reached. */
  readonly megabytesToTarget: number | null;
  readonly tau: number;
  readonly downlinkMegabytes: number;
  readonly diverged: boolean;
}

export interface RunConfig {
  readonly problem: Problem;
  readonly method: MethodName;
  /** Compressor spec (e.g. `dither:p=2,s=8`) or instance. */
  readonly compressor: string | Compressor;
  readonly iterations: number;
  /** Default: the method's theory stepsize. */
  readonly gamma?: number;
  readonly tau?: number;
  readonly seed?: number;
  /** Relative squared distance that counts as reached; default DEFAULT_TARGET. */
  readonly target?: number;
  /** Stop as soon as the target is met (default true). */
  readonly stopAtTarget?: boolean;
  readonly recordEvery?: number;
  readonly divergenceFactor?: number;
  readonly onRecord?: (record: IterationRecord) => void;
}

export interface RunOutcome {
  readonly summary: RunSummary;
  readonly result: ReferenceRunResult;
  readonly instance: MethodInstance;
}

/** The method's theory stepsize for this problem and compressor. */
export function theoryGamma(problem: Problem, method: MethodName, compressor: string | Compressor): number {
  const device = typeof compressor === 'string' ? parseCompressor(compressor) : compressor;
  return theoryStepsize(method, { problem, device });
}

/** First record whose relative distance is ≤ target (exact when every iteration is recorded). */
export function firstAtTarget(records: readonly IterationRecord[], target: number): IterationRecord | null {
  for (const r of records) if (r.relDist !== null && r.relDist <= target) return r;
  return null;
}

/** Runs one method with the reference runner and summarises it. */
export function runMethod(config: RunConfig): RunOutcome {
  const device = typeof config.compressor === 'string' ? parseCompressor(config.compressor) : config.compressor;
  const gamma = config.gamma ?? theoryStepsize(config.method, { problem: config.problem, device });
  const instance = createMethod(config.method, {
    problem: config.problem,
    seed: config.seed ?? 0,
    gamma,
    device,
    ...(config.tau === undefined ? {} : { tau: config.tau }),
  });
  const target = config.target ?? DEFAULT_TARGET;
  const stop = config.stopAtTarget ?? true;
  const result = runReference({
    problem: config.problem,
    method: instance,
    iterations: config.iterations,
    ...(stop ? { target } : {}),
    recordEvery: config.recordEvery ?? 1,
    ...(config.divergenceFactor === undefined ? {} : { divergenceFactor: config.divergenceFactor }),
    ...(config.onRecord === undefined ? {} : { onRecord: config.onRecord }),
  });
  const hit = stop ? null : firstAtTarget(result.records, target);
  const reached = stop ? result.reached : hit !== null;
  const bitsToTarget = stop ? result.uplinkBitsToTarget : (hit?.uplinkBits ?? null);
  const last = result.records.at(-1);
  const finalRelDist = last && last.relDist !== null && Number.isFinite(last.relDist) ? last.relDist : null;
  const summary: RunSummary = {
    method: config.method,
    compressor: device.spec,
    gamma,
    iterations: result.iterations,
    megabytes: megabytes(result.uplinkBits),
    finalRelDist,
    reached,
    megabytesToTarget: bitsToTarget === null ? null : megabytes(bitsToTarget),
    tau: instance.tau,
    downlinkMegabytes: megabytes(result.downlinkBits),
    diverged: result.diverged,
  };
  return { summary, result, instance };
}

/** The `summary.json` form of a run: the fields first, then the diagnostics. */
export function summaryJson(s: RunSummary): Record<string, unknown> {
  return {
    method: s.method,
    compressor: s.compressor,
    gamma: s.gamma,
    iterations: s.iterations,
    megabytes: s.megabytes,
    finalRelDist: s.finalRelDist,
    reached: s.reached,
    megabytesToTarget: s.megabytesToTarget,
    tau: s.tau,
    downlinkMegabytes: s.downlinkMegabytes,
    diverged: s.diverged,
  };
}

/** CSV rows of a convergence curve: iteration, relDist, uplinkMB, downlinkMB. */
export const CURVE_HEADER = ['iteration', 'relDist', 'uplinkMB', 'downlinkMB'] as const;

export function curveRows(records: readonly IterationRecord[]): (number | null)[][] {
  return records.map((r) => [r.iteration, r.relDist, megabytes(r.uplinkBits), megabytes(r.downlinkBits)]);
}

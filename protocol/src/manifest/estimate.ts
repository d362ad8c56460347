/**
 * What building a manifest's problem will cost, estimated from the manifest alone (and a problem
 * file's declared sizes) *before* anything is generated, allocated or factorised — so that a
 * volunteer can refuse a run that would take its machine's memory or minutes of CPU. A run
 * announcement is untrusted: the schema allows a bilinear game of d = 4,096 and M = 100,000
 * (137 TB of matrices, O(M·d³) to generate), and even d = 1,024, M = 10 took 25 s to build.
 *
 * The model (dense O(d³) work dominates everything generated or loaded):
 * - bilinear, generated: per shard a random SPD matrix (a random orthogonal basis and its
 *   product with the spectrum) and its spectral norm (the Lipschitz constant the stepsize and the
 *   bounds use), plus the solution's two Gram matrices and Cholesky factorisations: about
 *   (M + 2)·d³ units; memory 8·d² bytes per matrix: M of them (M·(1 + r) with r finite-sum
 *   pieces), plus a few of work.
 * - bilinear or dense quadratic from a file: the same d³ per shard (norms) and the solve.
 * - quadratic, generated or banded: O(n·d) (closed-form or tridiagonal constants).
 * Time per unit: BUILD_NS_PER_UNIT, measured on this project's 2-core machine (d = 256 … 512:
 * 6–24 ns per unit; the larger figure where matrices leave the cache), rounded up.
 */
import { ValidationError } from '../errors.js';
import { albertLayout } from '../model/albert/params.js';
import type { Manifest } from './schema.js';

/** Nanoseconds per (shard · d³) unit of dense work (see the module doc). */
export const BUILD_NS_PER_UNIT = 25;
/** Nanoseconds per (shard · d) unit of banded work. */
const BANDED_NS_PER_UNIT = 50;
/**
 * Bytes per parameter of a model run's peer: float32 state (16 B) plus ONNX Runtime's arena and
 * activations, measured at 252 B per parameter for the default tiny ALBERT (README, issue 12).
 */
export const MODEL_BYTES_PER_PARAM = 256;
/** Seconds per parameter to build a model's graph and session (10–17 ms for 1.46 M parameters, rounded up). */
const MODEL_SECONDS_PER_PARAM = 2e-8;

export interface BuildEstimate {
  /** Bytes the problem's data and its build's work arrays need. */
  readonly bytes: number;
  /** Seconds its build takes on the reference machine. */
  readonly seconds: number;
  /** The problem in words, for messages ("bilinear game, d = 1024, M = 10"). */
  readonly what: string;
  /** The manifest field the cost comes from (for errors). */
  readonly field: string;
}

export interface BuildLimits {
  /** Most bytes a problem may take. */
  readonly maxBytes: number;
  /** Most seconds its build may take (estimated). */
  readonly maxSeconds: number;
}

/** Defaults of a volunteer: 2 GiB and a minute. */
export const DEFAULT_BUILD_LIMITS: BuildLimits = { maxBytes: 2 * 1024 ** 3, maxSeconds: 60 };

function dense(kind: string, d: number, M: number, pieces: number, field: string, words: string): BuildEstimate {
  const units = (M + 2) * d ** 3;
  return {
    bytes: 8 * d * d * (M * (1 + pieces) + 8),
    seconds: (units * BUILD_NS_PER_UNIT) / 1e9,
    what: `${kind}, ${words}`,
    field,
  };
}

function banded(d: number, n: number, field: string, words: string): BuildEstimate {
  return { bytes: 8 * d * (4 * n + 8), seconds: (n * d * BANDED_NS_PER_UNIT) / 1e9, what: `quadratic, ${words}`, field };
}

/** Reads d and M/n (and the storage) a problem file declares, without building anything. */
function declared(json: unknown, field: string): BuildEstimate | null {
  if (typeof json !== 'object' || json === null) return null;
  const o = json as Record<string, unknown>;
  const d = typeof o.d === 'number' ? o.d : null;
  if (d === null) return null;
  if (o.kind === 'bilinear' && typeof o.M === 'number') return dense('bilinear game', d, o.M, 0, field, `d = ${d}, M = ${o.M}`);
  if (o.kind === 'quadratic' && typeof o.n === 'number') {
    return o.A !== undefined ? dense('quadratic', d, o.n, 0, field, `dense, d = ${d}, n = ${o.n}`) : banded(d, o.n, field, `banded, d = ${d}, n = ${o.n}`);
  }
  return null;
}

/**
 * The cost of building a manifest's problem. `readFile` gives a problem file's text (its declared
 * sizes are read; nothing is built). Null when it cannot be told before building (a file that
 * does not parse: building it will say why).
 */
export function estimateBuild(manifest: Manifest, readFile?: (path: string) => string): BuildEstimate | null {
  const p = manifest.problem;
  switch (p.kind) {
    case 'bilinear':
      return dense(
        'bilinear game',
        p.d,
        p.M,
        p.samples > 1 ? p.samples : 0,
        'problem',
        `d = ${p.d}, M = ${p.M}${p.samples > 1 ? `, ${p.samples} samples` : ''}`,
      );
    case 'quadratic':
      return banded(p.d, p.n, 'problem', `d = ${p.d}, n = ${p.n}`);
    case 'inline':
      return declared(p.data, 'problem.data');
    case 'file': {
      if (readFile === undefined) return null;
      try {
        return declared(JSON.parse(readFile(p.path)), 'problem.path');
      } catch {
        return null;
      }
    }
    case 'model': {
      const params = albertLayout(p.task.model).size;
      return {
        bytes: params * MODEL_BYTES_PER_PARAM,
        seconds: 1 + params * MODEL_SECONDS_PER_PARAM,
        what: `model (tiny ALBERT, ${params} parameters)`,
        field: 'problem.task.model',
      };
    }
    case 'softmax': {
      // The generated samples (float64 features) of every shard and the test split, and the parameters.
      const samples = p.shards * p.perShard + p.test;
      const values = samples * (p.features + 1) + p.classes * (p.features + 1);
      return {
        bytes: 8 * values + 4096,
        seconds: (values * BANDED_NS_PER_UNIT) / 1e9,
        what: `softmax model, ${p.shards} shards of ${p.perShard} samples, ${p.features} features`,
        field: 'problem',
      };
    }
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (s < 100) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${s / 86_400 < 1e6 ? Math.round(s / 86_400) : (s / 86_400).toExponential(1)} days`;
}

/**
 * Refuses, before building, a problem whose estimated memory or build time exceeds `limits`:
 * throws a ValidationError naming the problem field, e.g. "problem: building this bilinear game
 * (d = 4096, M = 100000) needs an estimated 12 TiB and 1988 days; this peer allows 2 GiB and
 * 60 s (--max-problem-memory, --max-build-seconds)". Returns the estimate (null when unknown).
 */
export function checkBuildLimits(manifest: Manifest, limits: BuildLimits, readFile?: (path: string) => string, flags = ''): BuildEstimate | null {
  const e = estimateBuild(manifest, readFile);
  if (e === null) return null;
  if (e.bytes > limits.maxBytes || e.seconds > limits.maxSeconds) {
    throw new ValidationError(
      e.field,
      `building this ${e.what} needs an estimated ${formatBytes(e.bytes)} and ${formatSeconds(e.seconds)}; ` +
        `this peer allows ${formatBytes(limits.maxBytes)} and ${formatSeconds(limits.maxSeconds)}${flags !== '' ? ` (${flags})` : ''}`,
    );
  }
  return e;
}

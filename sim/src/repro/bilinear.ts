/**
 * The seed's Figure 1 comparison (MASHA paper §5.1, SPEC §3.3): on the distributed bilinear game,
 * MASHA1 (natural dithering) and MASHA2 (Top 30%) against QGDA (natural dithering), EF-GDA
 * (Top 30%), QEG (natural compression) and uncompressed EG, each with its stepsize tuned.
 *
 * Tuning. γ = γ_theory·2^e over a grid of exponents e (γ_theory: the method's theory stepsize):
 *   1. coarse pass, e = eMax, eMax−1, …, eMin (large steps first: they diverge within a few
 *      iterations, and the first run that reaches the target bounds every later run);
 *   2. when the best coarse run reached the target (or was still converging when its budget ran
 *      out), refinement around its e: e ± 1/4, ± 1/2, ± 3/4
 *      (the best stepsize sits just below the stability limit, so a factor-2 grid alone can miss
 *      the best megabytes-to-target by ~2×).
 * Runs are ranked by megabytes-to-target (runs that reached first), then by final distance.
 * Two prunings keep the search cheap without changing what is reported:
 *   - bound: once some γ reached the target with B uplink megabytes, a run stops as soon as it has
 *     sent more than B without reaching it (it cannot win);
 *   - stall: while no γ of the method has reached the target, a run stops (after a fifth of its
 *     budget) when, at its rate over the second half of the iterations so far, it would need more
 *     than STALL_FACTOR × the budget in all.
 *   The chosen γ is then run again without pruning (and with a denser record), so every reported
 *   number and curve comes from a complete run.
 * Every run stops at the target; divergence means the relative distance exceeded `divergenceFactor`.
 */
import { join } from 'node:path';
import { generateBilinear } from '@masha/protocol';
import type { IterationRecord, MethodName, Problem } from '@masha/protocol';
import { writeCsvFile } from '../io/csv.js';
import { writeJsonFile, writeTextFile } from '../io/json.js';
import { renderLineChart } from '@masha/protocol/plot';
import { CURVE_HEADER, curveRows, DEFAULT_TARGET, megabytes, runMethod, summaryJson, theoryGamma } from '../solve.js';
import type { RunSummary } from '../solve.js';

export interface BilinearMethodSpec {
  readonly method: MethodName;
  readonly compressor: string;
}

/** The six curves of the seed's Figure 1 (issue 2 §3), in the order they are reported. */
export const FIGURE1_METHODS: readonly BilinearMethodSpec[] = [
  { method: 'masha1', compressor: 'dither:p=2,s=8' },
  { method: 'masha2', compressor: 'topk:0.3' },
  { method: 'qgda', compressor: 'dither:p=2,s=8' },
  { method: 'ef-gda', compressor: 'topk:0.3' },
  { method: 'qeg', compressor: 'natural' },
  { method: 'eg', compressor: 'identity' },
];

export interface BilinearReproConfig {
  /** Dimension of x and y (z has 2d coordinates). */
  readonly d: number;
  readonly M: number;
  /** Seed of the problem generator and of every run. */
  readonly seed: number;
  /** Iteration budget of every run. */
  readonly iterations: number;
  readonly target: number;
  /** Coarse grid: γ_theory·2^e for e = eMax down to eMin. */
  readonly eMin: number;
  readonly eMax: number;
  /** Refinement offsets tried around the best coarse exponent. */
  readonly refine: readonly number[];
  readonly divergenceFactor: number;
  readonly methods: readonly BilinearMethodSpec[];
  readonly quick: boolean;
}

export const STALL_FACTOR = 4;

/** Defaults of `masha-sim repro bilinear` (`quick`: smaller budget, same grid and story). */
export function bilinearReproConfig(overrides: Partial<BilinearReproConfig> = {}): BilinearReproConfig {
  const quick = overrides.quick ?? false;
  return {
    d: 100,
    M: 10,
    seed: 0,
    iterations: quick ? 1500 : 6000,
    target: DEFAULT_TARGET,
    eMin: -2,
    eMax: 8,
    refine: [0.25, -0.25, 0.5, -0.5, 0.75, -0.75],
    divergenceFactor: 1e5,
    methods: FIGURE1_METHODS,
    ...overrides,
    quick,
  };
}

export type TuningStatus = 'reached' | 'budget' | 'diverged' | 'pruned-bound' | 'pruned-stall';

/** One stepsize tried while tuning. */
export interface TuningRun {
  readonly method: MethodName;
  readonly compressor: string;
  readonly gamma: number;
  /** log₂(γ/γ_theory). */
  readonly exponent: number;
  readonly status: TuningStatus;
  readonly iterations: number;
  readonly megabytes: number;
  readonly lastRelDist: number | null;
  readonly megabytesToTarget: number | null;
}

export interface BilinearMethodResult {
  readonly spec: BilinearMethodSpec;
  readonly gammaTheory: number;
  /** The chosen run (complete, never pruned). */
  readonly summary: RunSummary;
  readonly records: readonly IterationRecord[];
  readonly tuning: readonly TuningRun[];
}

export interface BilinearReproResult {
  readonly config: BilinearReproConfig;
  readonly problem: { readonly kind: string; readonly d: number; readonly M: number; readonly dim: number; readonly seed: number };
  readonly methods: readonly BilinearMethodResult[];
}

/** Reports progress: `done` of `total` work units (iteration budgets), with a short text. */
export type ReproProgress = (done: number, total: number, detail: string) => void;

class Pruned extends Error {
  constructor(readonly status: 'pruned-bound' | 'pruned-stall') {
    super(status);
  }
}

interface Attempt {
  readonly tuning: TuningRun;
  /** Present for complete runs. */
  readonly summary: RunSummary | null;
  readonly records: readonly IterationRecord[];
}

const mb = megabytes;

/** a better than b: reached first, then fewer megabytes to target, then smaller final distance. */
export function betterRun(a: TuningRun, b: TuningRun | null): boolean {
  if (b === null) return true;
  const ar = a.megabytesToTarget !== null;
  const br = b.megabytesToTarget !== null;
  if (ar !== br) return ar;
  if (ar && br) return a.megabytesToTarget < b.megabytesToTarget;
  const da = a.status === 'diverged' || a.lastRelDist === null ? Infinity : a.lastRelDist;
  const db = b.status === 'diverged' || b.lastRelDist === null ? Infinity : b.lastRelDist;
  if (da !== db) return da < db;
  return a.exponent < b.exponent && da === Infinity; // among diverged runs prefer the smaller γ
}

/** Records per tuning run: enough for pruning decisions, few enough to keep F-norm evaluations cheap. */
function tuningStride(budget: number): number {
  return Math.max(1, Math.round(budget / 300));
}

/** Records of a reported curve: about 500 points. */
function curveStride(iterations: number): number {
  return Math.max(1, Math.round(iterations / 500));
}

function attempt(
  problem: Problem,
  spec: BilinearMethodSpec,
  gammaTheory: number,
  exponent: number,
  config: BilinearReproConfig,
  bound: number | null,
  stallCheck: boolean,
  recordEvery: number,
): Attempt {
  const gamma = gammaTheory * 2 ** exponent;
  const records: IterationRecord[] = [];
  const budget = config.iterations;
  const logTarget = Math.log(config.target);
  const onRecord = (r: IterationRecord): void => {
    records.push(r);
    if (r.relDist === null || r.relDist <= config.target) return;
    if (bound !== null && mb(r.uplinkBits) > bound) throw new Pruned('pruned-bound');
    if (stallCheck && r.iteration >= budget / 5 && r.iteration < budget) {
      // Rate over the second half of the run so far (a plateau shows there, not in the average).
      const half = r.iteration / 2;
      let bestNow = Infinity;
      let bestHalf = Infinity;
      for (const q of records) {
        if (q.relDist === null) continue;
        if (q.relDist < bestNow) bestNow = q.relDist;
        if (q.iteration <= half && q.relDist < bestHalf) bestHalf = q.relDist;
      }
      const rate = (Math.log(bestNow) - Math.log(bestHalf)) / (r.iteration - half); // < 0 when improving
      const needed = (logTarget - Math.log(bestNow)) / rate;
      if (!(rate < 0) || r.iteration + needed > STALL_FACTOR * budget) throw new Pruned('pruned-stall');
    }
  };
  try {
    const outcome = runMethod({
      problem,
      method: spec.method,
      compressor: spec.compressor,
      iterations: budget,
      gamma,
      seed: config.seed,
      target: config.target,
      stopAtTarget: true,
      recordEvery,
      divergenceFactor: config.divergenceFactor,
      onRecord,
    });
    const s = outcome.summary;
    return {
      tuning: {
        method: spec.method,
        compressor: s.compressor,
        gamma,
        exponent,
        status: s.reached ? 'reached' : s.diverged ? 'diverged' : 'budget',
        iterations: s.iterations,
        megabytes: s.megabytes,
        lastRelDist: s.finalRelDist,
        megabytesToTarget: s.megabytesToTarget,
      },
      summary: s,
      records: outcome.result.records,
    };
  } catch (e) {
    if (!(e instanceof Pruned)) throw e;
    const last = records.at(-1);
    return {
      tuning: {
        method: spec.method,
        compressor: spec.compressor,
        gamma,
        exponent,
        status: e.status,
        iterations: last?.iteration ?? 0,
        megabytes: last ? mb(last.uplinkBits) : 0,
        lastRelDist: last?.relDist ?? null,
        megabytesToTarget: null,
      },
      summary: null,
      records,
    };
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Tunes and runs one method. `progress(units)` is told how many budget units each run used. */
async function tuneMethod(
  problem: Problem,
  spec: BilinearMethodSpec,
  config: BilinearReproConfig,
  progress: (units: number, detail: string) => void,
): Promise<BilinearMethodResult> {
  const gammaTheory = theoryGamma(problem, spec.method, spec.compressor);
  const tried = new Map<number, Attempt>();
  let best: Attempt | null = null;
  const tryExponent = async (e: number): Promise<Attempt> => {
    const known = tried.get(e);
    if (known) return known;
    const bound = best?.tuning.megabytesToTarget ?? null;
    const a = attempt(problem, spec, gammaTheory, e, config, bound, bound === null, tuningStride(config.iterations));
    tried.set(e, a);
    if (betterRun(a.tuning, best?.tuning ?? null)) best = a;
    const t = a.tuning;
    progress(1, `${spec.method} γ=${t.gamma.toPrecision(3)}: ${t.status}${t.megabytesToTarget !== null ? ` ${t.megabytesToTarget.toPrecision(3)} MB` : ''}`);
    await yieldToEventLoop();
    return a;
  };

  // 1. Coarse pass, largest γ first. Once some run did not diverge, two smaller steps in a row
  //    that do not improve on the best end the pass (below the stability limit a smaller γ only
  //    converges more slowly).
  let worse = 0;
  for (let e = config.eMax; e >= config.eMin; e--) {
    const a = await tryExponent(e);
    if (best !== null && (best as Attempt).tuning.status !== 'diverged') {
      worse = a === best ? 0 : worse + 1;
      if (worse >= 2) break;
    }
  }
  // 2. Refinement around the best coarse exponent, when that run reached the target or was still
  //    converging fast enough when its budget ran out (for runs that stalled or diverged, a finer γ
  //    only nudges a final distance far from the target).
  const coarseBest = best as Attempt | null;
  if (coarseBest !== null && (coarseBest.tuning.status === 'reached' || coarseBest.tuning.status === 'budget')) {
    for (const off of config.refine) await tryExponent(coarseBest.tuning.exponent + off);
  }
  const winner = best as Attempt | null;
  if (winner === null) throw new Error(`${spec.method}: no stepsize was tried`);
  // 3. The winner is run again without pruning and with a denser record (runs are seeded: a run
  //    that reached the target repeats exactly; a pruned one now runs its full budget).
  const length = winner.tuning.status === 'reached' ? winner.tuning.iterations : config.iterations;
  const chosen = attempt(problem, spec, gammaTheory, winner.tuning.exponent, config, null, false, curveStride(length));
  progress(1, `${spec.method} γ=${chosen.tuning.gamma.toPrecision(3)}: final run`);
  const tuning = [...tried.values()].map((a) => a.tuning).sort((a, b) => b.exponent - a.exponent);
  if (chosen.summary === null) throw new Error(`${spec.method}: the final run was pruned`);
  return { spec, gammaTheory, summary: chosen.summary, records: chosen.records, tuning };
}

/** Runs the whole comparison (pure computation; see `writeBilinearRepro` for the files). */
export async function reproBilinear(config: BilinearReproConfig, onProgress?: ReproProgress, problemOverride?: Problem): Promise<BilinearReproResult> {
  const problem = problemOverride ?? generateBilinear({ d: config.d, M: config.M, seed: config.seed });
  // Progress in units of runs: an upper estimate per method, settled when the method is done.
  const perMethod = Math.round(config.eMax - config.eMin + 1 + config.refine.length + 1);
  const total = perMethod * config.methods.length;
  let done = 0;
  const results: BilinearMethodResult[] = [];
  for (let i = 0; i < config.methods.length; i++) {
    const spec = config.methods[i];
    const start = i * perMethod;
    const r = await tuneMethod(problem, spec, config, (units, detail) => {
      done = Math.min(start + perMethod - 1, done + units);
      onProgress?.(done, total, detail);
    });
    done = start + perMethod;
    const s = r.summary;
    onProgress?.(
      done,
      total,
      `${spec.method}: γ=${s.gamma.toPrecision(3)} ${s.reached ? `reached, ${(s.megabytesToTarget as number).toPrecision(3)} MB` : 'not reached'}`,
    );
    results.push(r);
  }
  const d = problemOverride ? problem.dim / 2 : config.d;
  return {
    config,
    problem: { kind: problem.kind, d, M: problem.shards, dim: problem.dim, seed: config.seed },
    methods: results,
  };
}

export interface StoryCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

type SummaryLike = Pick<RunSummary, 'method' | 'reached' | 'megabytesToTarget'>;

/** The done-criteria of issue 2 on a `summary.json` methods list. */
export function checkFigure1Story(methods: readonly SummaryLike[]): StoryCheck[] {
  const get = (name: string): SummaryLike | undefined => methods.find((m) => m.method === name);
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${v.toPrecision(3)} MB`);
  const m1 = get('masha1');
  const m2 = get('masha2');
  const eg = get('eg');
  const qeg = get('qeg');
  const checks: StoryCheck[] = [];
  const reaches = (s: SummaryLike | undefined, name: string): void => {
    checks.push({ name: `${name} reaches the target`, ok: s?.reached === true, detail: s ? fmt(s.megabytesToTarget) : 'missing' });
  };
  reaches(m1, 'masha1');
  reaches(m2, 'masha2');
  const m1mb = m1?.megabytesToTarget ?? null;
  const egmb = eg?.megabytesToTarget ?? null;
  checks.push({
    name: 'masha1 needs at most half the megabytes eg needs',
    ok: m1mb !== null && egmb !== null && m1mb <= egmb / 2,
    detail: `${fmt(m1mb)} vs ${fmt(egmb)}${m1mb !== null && egmb ? ` (ratio ${(m1mb / egmb).toFixed(2)})` : ''}`,
  });
  for (const name of ['qgda', 'ef-gda']) {
    const s = get(name);
    checks.push({
      name: `${name} does not reach the target`,
      ok: s !== undefined && !s.reached,
      detail: s ? (s.reached ? fmt(s.megabytesToTarget) : 'not reached') : 'missing',
    });
  }
  const qmb = qeg?.megabytesToTarget ?? null;
  checks.push({
    name: 'qeg needs more megabytes than masha1',
    ok: qeg !== undefined && m1mb !== null && (qmb === null || qmb > m1mb),
    detail: `${qmb === null ? 'not reached' : fmt(qmb)} vs ${fmt(m1mb)}`,
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Files: DIR/bilinear/{summary.json, tuning.csv, curve-<method>.csv, relDist-vs-*.svg}

/** `summary.json`: the issue's fields per method, then diagnostics; plus the setup and the checks. */
export function bilinearSummaryJson(result: BilinearReproResult): Record<string, unknown> {
  const methods = result.methods.map((m) => ({
    ...summaryJson(m.summary),
    gammaTheory: m.gammaTheory,
    gammaOverTheory: m.summary.gamma / m.gammaTheory,
    stepsizesTried: m.tuning.length,
  }));
  const c = result.config;
  return {
    methods,
    problem: result.problem,
    setup: {
      target: c.target,
      iterationBudget: c.iterations,
      grid: `gamma = gammaTheory * 2^e, e = ${c.eMax} down to ${c.eMin}, refined by ${c.refine.join(', ')} around the best`,
      divergenceFactor: c.divergenceFactor,
      quick: c.quick,
      megabytes: '10^6 bytes of device uplink payload, summed over devices',
    },
    checks: checkFigure1Story(result.methods.map((m) => m.summary)),
  };
}

export const BILINEAR_FILES = {
  summary: 'summary.json',
  tuning: 'tuning.csv',
  curve: (method: string): string => `curve-${method}.csv`,
  plotIterations: 'relDist-vs-iterations.svg',
  plotMegabytes: 'relDist-vs-megabytes.svg',
} as const;

function label(m: BilinearMethodResult): string {
  return `${m.spec.method} (${m.summary.compressor}, γ = ${m.summary.gamma.toPrecision(3)})`;
}

const PLOT_SIZE = { panelWidth: 760, panelHeight: 460 } as const;

/** The two figures: relative distance against iterations and against device megabytes. */
export function bilinearPlots(result: BilinearReproResult): { iterations: string; megabytes: string } {
  const { d, M } = result.problem;
  const target = result.config.target;
  const yLabel = '‖z − z*‖² / ‖z⁰ − z*‖²';
  const reference = { y: target, label: `target ${target.toExponential(0)}` };
  const iterations = renderLineChart({
    ...PLOT_SIZE,
    title: `Bilinear game (d = ${d}, M = ${M}): distance to the solution vs iterations`,
    panels: [
      {
        xLabel: 'iteration',
        yLabel,
        reference,
        series: result.methods.map((m) => ({ name: label(m), x: m.records.map((r) => r.iteration), y: m.records.map((r) => r.relDist ?? NaN) })),
      },
    ],
  });
  // Zoom the megabytes axis on the runs that reached the target (slow runs would squash them).
  const reachedMb = result.methods.flatMap((m) => (m.summary.megabytesToTarget === null ? [] : [m.summary.megabytesToTarget]));
  const allMb = Math.max(...result.methods.map((m) => m.summary.megabytes));
  const xMax = reachedMb.length > 0 ? Math.min(allMb, 2.5 * Math.max(...reachedMb)) : allMb;
  const megabytesChart = renderLineChart({
    ...PLOT_SIZE,
    title: `Bilinear game (d = ${d}, M = ${M}): distance to the solution vs device megabytes`,
    panels: [
      {
        xLabel: 'megabytes sent by devices (uplink payload, all devices)',
        yLabel,
        reference,
        ...(xMax > 0 ? { xDomain: [0, xMax] as const } : {}),
        series: result.methods.map((m) => ({ name: label(m), x: m.records.map((r) => megabytes(r.uplinkBits)), y: m.records.map((r) => r.relDist ?? NaN) })),
      },
    ],
  });
  return { iterations, megabytes: megabytesChart };
}

/** Writes every output under `dir` (created); returns the paths written. */
export async function writeBilinearRepro(dir: string, result: BilinearReproResult): Promise<string[]> {
  const written: string[] = [];
  const path = (name: string): string => {
    const p = join(dir, name);
    written.push(p);
    return p;
  };
  await writeJsonFile(path(BILINEAR_FILES.summary), bilinearSummaryJson(result));
  await writeCsvFile(
    path(BILINEAR_FILES.tuning),
    ['method', 'compressor', 'gamma', 'exponent', 'status', 'iterations', 'megabytes', 'lastRelDist', 'megabytesToTarget', 'chosen'],
    result.methods.flatMap((m) =>
      m.tuning.map((t) => [
        t.method,
        t.compressor,
        t.gamma,
        t.exponent,
        t.status,
        t.iterations,
        t.megabytes,
        t.lastRelDist,
        t.megabytesToTarget,
        t.gamma === m.summary.gamma,
      ]),
    ),
  );
  for (const m of result.methods) {
    await writeCsvFile(path(BILINEAR_FILES.curve(m.spec.method)), CURVE_HEADER, curveRows(m.records));
  }
  const plots = bilinearPlots(result);
  await writeTextFile(path(BILINEAR_FILES.plotIterations), plots.iterations);
  await writeTextFile(path(BILINEAR_FILES.plotMegabytes), plots.megabytes);
  return written;
}

/**
 * `masha-sim repro permk`: the PermK paper's quadratic experiment (SPEC §1, §3.4; issue 3).
 *
 * For every (n, s): the generator's problem (d = 1000, λ = 1e−6, x⁰ = (√d, 0, …, 0)), then MARINA
 * with RandK (K = d/n), PermK and TopK (K = d/n), p = K/d for all three (ζ = K values per
 * compressed round). Each compressor starts from its theory stepsize γ_th (SPEC §3.4: PermK with
 * A = B = 1; RandK as independent with ω = d/K − 1; TopK, outside the theory, given RandK's) and
 * tries γ_th·2^i, i = 0, 1, …; the best is the one reaching the target with the fewest uplink bits
 * per node. All of i = 0 … 12 are raced side by side (see `raceStepsizes`).
 *
 * Target: ‖∇f(x^k)‖² ≤ T·‖∇f(x⁰)‖² with T = 1e−6 (`summary.target` is T, the relative value;
 * `--target` changes it). The measured RandK/PermK ratio depends on T: the problems have
 * λ_min(Ā) = 1e−6 against L₋ ≈ 1, and once the high-curvature part of the gradient is gone (T below
 * ~1e−7 here) what remains lies in low-curvature directions, where the compressed differences
 * A_i(x^{k+1} − x^k) are tiny next to ‖g‖, RandK's extra variance stops binding and every method
 * crawls at the pace of those directions; the theory's worst-case bound (variance ∝ L₊²‖δ‖²)
 * describes the regime above it. At n = 100, s = 0 we measured 18.9× (T = 1e−5), 11.7× (1e−6),
 * 3.3× (1e−7), 2.5× (1e−8), 1.8× (1e−9) against a theory ratio of 10.9×. T = 1e−6 is also the
 * target of the project's bilinear reproduction (there on the relative distance).
 * Bits: uplink payload bits per node spent by the iterations: 32d per full round (c_k = 1), the
 * compressor's exact payload bits per compressed round. The initial exchange g⁰ = ∇f(x⁰) — 32d bits
 * per node, identical for every compressor — is left out (curves start at 0 bits) and reported
 * separately (`initBitsPerNode`, `randkOverPermkWithInit`): at n = 1000 it is
 * most of what PermK spends in total, so including it would measure the common start-up cost.
 *
 * Theory ratio of RandK to PermK bits: (γ_th^PermK / γ_th^RandK) × (expected bits per iteration of
 * RandK / of PermK), the latter p·32d + (1 − p)·β·32d with β each compressor's density (equal here).
 */
import { join } from 'node:path';
import { generatePermkQuadratic, parseCompressor, type Compressor } from '@masha/protocol';
import { marinaAb, marinaStepsize } from '@masha/protocol/methods';
import { type QuadraticConstants } from '@masha/protocol/problems';
import { MarinaQuadraticRun, type MarinaQuadraticResult } from './marina-quadratic.js';
import { scanTopk } from './scan-topk.js';
import { writeCsvFile } from '../io/csv.js';
import { writeJsonFile, writeTextFile } from '../io/json.js';
import { renderLineChart } from '@masha/protocol/plot';

export type PermkCompressorName = 'randk' | 'permk' | 'topk';
export const PERMK_COMPRESSORS: readonly PermkCompressorName[] = ['permk', 'randk', 'topk'];

export interface PermkGrid {
  readonly d: number;
  readonly ns: readonly number[];
  readonly ss: readonly number[];
  readonly compressors: readonly PermkCompressorName[];
  /** Relative target T on ‖∇f(x^k)‖² / ‖∇f(x⁰)‖². */
  readonly target: number;
  /** Seed of the problems and of the runs. */
  readonly seed: number;
  /** Largest doubling exponent tried. */
  readonly maxDoublings: number;
  /** Bits-per-node budget of every run, in units of 32d (full gradients); TopK's is also capped at the larger of PermK's and RandK's bits to target (beyond that it has lost to both). */
  readonly budgetFullGradients: number;
}

export const PERMK_TARGET = 1e-6;

export const FULL_GRID: PermkGrid = {
  d: 1000,
  ns: [10, 1000],
  ss: [0, 0.05, 0.1, 0.2, 0.8],
  compressors: PERMK_COMPRESSORS,
  target: PERMK_TARGET,
  seed: 1,
  maxDoublings: 12,
  budgetFullGradients: 400,
};

export const QUICK_GRID: PermkGrid = { ...FULL_GRID, ns: [100], ss: [0, 0.8] };

/** How a run of the race ended. */
export type RaceOutcome = 'reached' | 'diverged' | 'beaten' | 'budget';

export interface PermkSweepRun {
  readonly n: number;
  readonly s: number;
  readonly compressor: PermkCompressorName;
  readonly multiplier: number;
  readonly gamma: number;
  readonly outcome: RaceOutcome;
  readonly iterations: number;
  readonly reached: boolean;
  readonly diverged: boolean;
  readonly bitsPerNode: number;
  readonly bitsPerNodeToTarget: number | null;
  readonly finalGradNormSq: number;
}

export interface PermkBestRun {
  readonly n: number;
  readonly s: number;
  readonly compressor: PermkCompressorName;
  /** 'reached': best of the runs that met the target; else the non-diverged run closest to it, or 'diverged' when all diverged. */
  readonly outcome: 'reached' | 'not reached' | 'diverged';
  /** Best stepsize (or the largest that did not diverge when none reached the target). */
  readonly gamma: number;
  readonly gammaTheory: number;
  readonly bitsPerNodeToTarget: number | null;
  readonly finalGradNormSq: number;
  readonly iterations: number;
  /** Bits per node of the initial exchange g⁰ = ∇f(x⁰), not included in bitsPerNodeToTarget. */
  readonly initBitsPerNode: number;
}

export interface PermkRatio {
  readonly n: number;
  readonly s: number;
  /** Measured: RandK bits per node to target / PermK's (null when either did not reach it). */
  readonly randkOverPermk: number | null;
  /** Predicted by the theory stepsizes and expected bits per iteration. */
  readonly theory: number;
  readonly topkOverPermk: number | null;
  /** As randkOverPermk, with the common initial exchange (32d bits per node) added to both. */
  readonly randkOverPermkWithInit: number | null;
}

export interface PermkCellInfo {
  readonly n: number;
  readonly s: number;
  readonly Lminus: number;
  readonly Lplus: number;
  readonly Lpm: number;
  readonly gradNormSq0: number;
}

export interface PermkSummary {
  readonly target: number;
  readonly targetDefinition: string;
  readonly d: number;
  readonly seed: number;
  readonly runs: readonly PermkBestRun[];
  readonly ratios: readonly PermkRatio[];
  readonly problems: readonly PermkCellInfo[];
}

export interface PermkCurve {
  readonly n: number;
  readonly s: number;
  readonly compressor: PermkCompressorName;
  readonly gamma: number;
  readonly bits: Float64Array;
  readonly gradNormSq: Float64Array;
}

export interface PermkResult {
  readonly summary: PermkSummary;
  readonly sweep: readonly PermkSweepRun[];
  /** Curves of the best run of every cell. */
  readonly curves: readonly PermkCurve[];
}

export interface PermkProgress {
  /** Called when a (n, s, compressor) cell starts (run = null) and after every run of its race. */
  (info: {
    readonly cellsDone: number;
    readonly cellsTotal: number;
    readonly cell: { readonly n: number; readonly s: number; readonly compressor: PermkCompressorName };
    readonly run: PermkSweepRun | null;
  }): void;
}

function makeCompressor(name: PermkCompressorName, d: number, n: number): { c: Compressor; k: number } {
  const k = Math.max(1, Math.round(d / n));
  switch (name) {
    case 'permk':
      return { c: parseCompressor('permk'), k: d / n };
    case 'randk':
      return { c: parseCompressor(`randk:k=${k}`), k };
    case 'topk':
      return { c: scanTopk(k), k };
  }
}

/** Theory stepsize of a compressor for the cell; TopK gets RandK's (same density, ω = d/K − 1). */
function theoryGamma(name: PermkCompressorName, c: Compressor, constants: QuadraticConstants, p: number, d: number, n: number): number {
  const ab = name === 'topk' ? marinaAb(makeCompressor('randk', d, n).c, d, n) : marinaAb(c, d, n);
  return marinaStepsize(constants, p, ab);
}

function expectedBitsPerIteration(c: Compressor, p: number, d: number, n: number): number {
  return p * 32 * d + (1 - p) * c.constants(d, n).beta * 32 * d;
}

export interface RaceEntry {
  readonly multiplier: number;
  readonly gamma: number;
  readonly result: MarinaQuadraticResult;
}

/**
 * Runs γ_th·2^i for i = 0 … maxDoublings side by side, always advancing the run that has spent the
 * fewest bits, so the first to reach the target sets the bar: a run that has spent as many bits as
 * the best so far without reaching the target can no longer win and is stopped ('beaten'). The best
 * is the fewest bits to target (ties: the smaller stepsize) — the same answer as running every
 * stepsize to the end, at a fraction of the cost. When none reaches the target, the fallback is the
 * non-diverged run with the smallest final ‖∇f‖².
 */
/** Lets timers (progress bars) run between steps of a long computation. */
function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function raceStepsizes(
  make: (gamma: number) => MarinaQuadraticRun,
  gammaTheory: number,
  maxDoublings: number,
  onDone?: (multiplier: number, gamma: number, result: MarinaQuadraticResult, outcome: RaceOutcome) => void,
): Promise<{ best: RaceEntry | null; fallback: RaceEntry | null }> {
  const runs = Array.from({ length: maxDoublings + 1 }, (_, i) => ({ i, gamma: gammaTheory * 2 ** i, run: make(gammaTheory * 2 ** i), beaten: false }));
  let best: RaceEntry | null = null;
  let fallback: RaceEntry | null = null;
  const finished = new Set<number>();
  let steps = 0;
  for (;;) {
    let pick: (typeof runs)[number] | null = null;
    for (const r of runs) {
      if (finished.has(r.i)) continue;
      if (!r.run.done && best !== null && r.run.bitsPerNode >= (best.result.bitsPerNodeToTarget as number)) {
        r.run.stop();
        r.beaten = true;
      }
      if (r.run.done) {
        finished.add(r.i);
        const result = r.run.result();
        const entry: RaceEntry = { multiplier: 2 ** r.i, gamma: r.gamma, result };
        const outcome: RaceOutcome = result.reached ? 'reached' : result.diverged ? 'diverged' : r.beaten ? 'beaten' : 'budget';
        if (
          result.reached &&
          (best === null ||
            (result.bitsPerNodeToTarget as number) < (best.result.bitsPerNodeToTarget as number) ||
            ((result.bitsPerNodeToTarget as number) === (best.result.bitsPerNodeToTarget as number) && r.gamma < best.gamma))
        ) {
          best = entry;
        }
        if (!result.diverged && (fallback === null || result.finalGradNormSq < fallback.result.finalGradNormSq)) fallback = entry;
        onDone?.(entry.multiplier, entry.gamma, result, outcome);
        continue;
      }
      if (pick === null || r.run.bitsPerNode < pick.run.bitsPerNode) pick = r;
    }
    if (pick === null) break;
    pick.run.step();
    if (++steps % 64 === 0) await yieldNow();
  }
  return { best, fallback };
}

export async function reproPermk(grid: PermkGrid, progress?: PermkProgress): Promise<PermkResult> {
  const { d } = grid;
  const sweep: PermkSweepRun[] = [];
  const best: PermkBestRun[] = [];
  const curves: PermkCurve[] = [];
  const ratios: PermkRatio[] = [];
  const problems: PermkCellInfo[] = [];
  const cellsTotal = grid.ns.length * grid.ss.length * grid.compressors.length;
  let cellsDone = 0;
  for (const n of grid.ns) {
    for (const s of grid.ss) {
      const { problem, constants, structure } = generatePermkQuadratic({ d, n, s, seed: grid.seed });
      const x0 = problem.initialPoint();
      let g0 = 0;
      for (const v of problem.gradient(x0)) g0 += v * v;
      problems.push({ n, s, Lminus: constants.Lminus, Lplus: constants.Lplus, Lpm: constants.Lpm, gradNormSq0: g0 });
      const cellBest = new Map<PermkCompressorName, PermkBestRun>();
      const theory = new Map<PermkCompressorName, { gamma: number; bitsPerIteration: number }>();
      // PermK and RandK first: TopK's budget is set from their results.
      const order = [...grid.compressors].sort((a, b) => PERMK_COMPRESSORS.indexOf(a) - PERMK_COMPRESSORS.indexOf(b));
      for (const name of order) {
        const { c, k } = makeCompressor(name, d, n);
        const p = k / d;
        const gammaTheory = theoryGamma(name, c, constants, p, d, n);
        theory.set(name, { gamma: gammaTheory, bitsPerIteration: expectedBitsPerIteration(c, p, d, n) });
        let budget = grid.budgetFullGradients * 32 * d;
        if (name === 'topk') {
          const others = [...cellBest.values()].map((r) => r.bitsPerNodeToTarget).filter((b): b is number => b !== null);
          if (others.length > 0) budget = Math.min(budget, Math.max(...others));
        }
        progress?.({ cellsDone, cellsTotal, run: null, cell: { n, s, compressor: name } });
        const race = await raceStepsizes(
          (gamma) =>
            new MarinaQuadraticRun({
              problem,
              compressor: c,
              gamma,
              p,
              seed: grid.seed,
              structure,
              targetGradNormSq: grid.target * g0,
              maxBitsPerNode: budget,
              divergeGradNormSq: 1e4 * g0,
              maxIterations: 1_000_000,
            }),
          gammaTheory,
          grid.maxDoublings,
          (multiplier, gamma, result, outcome) => {
            const run: PermkSweepRun = {
              n,
              s,
              compressor: name,
              multiplier,
              gamma,
              outcome,
              iterations: result.iterations,
              reached: result.reached,
              diverged: result.diverged,
              bitsPerNode: result.bitsPerNode,
              bitsPerNodeToTarget: result.bitsPerNodeToTarget,
              finalGradNormSq: result.finalGradNormSq,
            };
            sweep.push(run);
            progress?.({ cellsDone, cellsTotal, cell: { n, s, compressor: name }, run });
          },
        );
        const chosen = race.best ?? race.fallback;
        const chosenGamma = chosen?.gamma ?? gammaTheory;
        const entry: PermkBestRun = {
          n,
          s,
          compressor: name,
          outcome: race.best ? 'reached' : race.fallback ? 'not reached' : 'diverged',
          gamma: chosenGamma,
          gammaTheory,
          bitsPerNodeToTarget: race.best?.result.bitsPerNodeToTarget ?? null,
          finalGradNormSq: chosen?.result.finalGradNormSq ?? Number.NaN,
          iterations: chosen?.result.iterations ?? 0,
          initBitsPerNode: 32 * d,
        };
        cellBest.set(name, entry);
        best.push(entry);
        if (chosen) curves.push({ n, s, compressor: name, gamma: chosenGamma, bits: chosen.result.curve.bits, gradNormSq: chosen.result.curve.gradNormSq });
        cellsDone++;
      }
      const perm = cellBest.get('permk');
      const rand = cellBest.get('randk');
      const top = cellBest.get('topk');
      const tp = theory.get('permk');
      const tr = theory.get('randk');
      if (perm && rand && tp && tr) {
        const ratio = (a: PermkBestRun | undefined): number | null =>
          a && a.bitsPerNodeToTarget !== null && perm.bitsPerNodeToTarget !== null ? a.bitsPerNodeToTarget / perm.bitsPerNodeToTarget : null;
        const withInit = (a: PermkBestRun | undefined): number | null =>
          a && a.bitsPerNodeToTarget !== null && perm.bitsPerNodeToTarget !== null
            ? (a.bitsPerNodeToTarget + a.initBitsPerNode) / (perm.bitsPerNodeToTarget + perm.initBitsPerNode)
            : null;
        ratios.push({
          n,
          s,
          randkOverPermk: ratio(rand),
          theory: (tp.gamma / tr.gamma) * (tr.bitsPerIteration / tp.bitsPerIteration),
          topkOverPermk: ratio(top),
          randkOverPermkWithInit: withInit(rand),
        });
      }
    }
  }
  return {
    summary: {
      target: grid.target,
      targetDefinition: `‖∇f(x^k)‖² ≤ ${grid.target} · ‖∇f(x⁰)‖²`,
      d,
      seed: grid.seed,
      runs: best,
      ratios,
      problems,
    },
    sweep,
    curves,
  };
}

/** At most `max` points of a curve, evenly spaced in iteration, first and last kept. */
export function thinCurve(bits: Float64Array, y: Float64Array, max: number): { bits: number[]; y: number[]; iteration: number[] } {
  const len = bits.length;
  const out = { bits: [] as number[], y: [] as number[], iteration: [] as number[] };
  if (len === 0) return out;
  const step = Math.max(1, (len - 1) / Math.max(1, max - 1));
  let last = -1;
  for (let t = 0; t < max; t++) {
    const i = Math.min(len - 1, Math.round(t * step));
    if (i === last) continue;
    last = i;
    out.bits.push(bits[i]);
    out.y.push(y[i]);
    out.iteration.push(i);
    if (i === len - 1) break;
  }
  if (last !== len - 1) {
    out.bits.push(bits[len - 1]);
    out.y.push(y[len - 1]);
    out.iteration.push(len - 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output files.

export const PERMK_FILES = {
  summary: 'summary.json',
  best: 'best.csv',
  ratios: 'ratios.csv',
  sweep: 'sweep.csv',
  curves: 'curves.csv',
  plot: (n: number) => `grad-norm-vs-bits-n${n}.svg`,
} as const;

const LABEL: Readonly<Record<PermkCompressorName, string>> = { permk: 'PermK', randk: 'RandK', topk: 'TopK' };

/** One SVG per n, one panel per s: ‖∇f(x^k)‖² (log) against uplink bits per node. */
export function permkPlots(result: PermkResult): Map<number, string> {
  const out = new Map<number, string>();
  const { summary } = result;
  for (const n of [...new Set(summary.problems.map((p) => p.n))]) {
    const panels = summary.problems
      .filter((p) => p.n === n)
      .map((p) => ({
        title: `n = ${n}, s = ${p.s}`,
        xLabel: 'uplink bits per node',
        yLabel: '‖∇f(xᵏ)‖²',
        xScale: 'linear' as const,
        yScale: 'log' as const,
        reference: { y: summary.target * p.gradNormSq0, label: `target ${summary.target}·‖∇f(x⁰)‖²` },
        series: result.curves
          .filter((c) => c.n === n && c.s === p.s)
          .map((c) => {
            const t = thinCurve(c.bits, c.gradNormSq, 600);
            return { name: LABEL[c.compressor], x: t.bits, y: t.y };
          }),
      }));
    out.set(
      n,
      renderLineChart({
        title: `MARINA on the PermK paper's quadratics, d = ${summary.d}, n = ${n}: best stepsize γ_th·2^i per compressor`,
        panels,
        panelWidth: 420,
        panelHeight: 340,
      }),
    );
  }
  return out;
}

/** Writes summary.json, the CSVs and the plots to `dir`; returns the paths written. */
export async function writePermkRepro(dir: string, result: PermkResult): Promise<string[]> {
  const written: string[] = [];
  const path = (name: string): string => {
    const p = join(dir, name);
    written.push(p);
    return p;
  };
  await writeJsonFile(path(PERMK_FILES.summary), result.summary);
  await writeCsvFile(
    path(PERMK_FILES.best),
    ['n', 's', 'compressor', 'gamma', 'gammaTheory', 'multiplier', 'bitsPerNodeToTarget', 'initBitsPerNode', 'finalGradNormSq', 'iterations'],
    result.summary.runs.map((r) => [
      r.n,
      r.s,
      r.compressor,
      r.gamma,
      r.gammaTheory,
      r.gamma / r.gammaTheory,
      r.bitsPerNodeToTarget,
      r.initBitsPerNode,
      r.finalGradNormSq,
      r.iterations,
    ]),
  );
  await writeCsvFile(
    path(PERMK_FILES.ratios),
    ['n', 's', 'randkOverPermk', 'theory', 'topkOverPermk', 'randkOverPermkWithInit'],
    result.summary.ratios.map((r) => [r.n, r.s, r.randkOverPermk, r.theory, r.topkOverPermk, r.randkOverPermkWithInit]),
  );
  await writeCsvFile(
    path(PERMK_FILES.sweep),
    ['n', 's', 'compressor', 'multiplier', 'gamma', 'outcome', 'iterations', 'bitsPerNode', 'bitsPerNodeToTarget', 'finalGradNormSq'],
    result.sweep.map((r) => [r.n, r.s, r.compressor, r.multiplier, r.gamma, r.outcome, r.iterations, r.bitsPerNode, r.bitsPerNodeToTarget, r.finalGradNormSq]),
  );
  await writeCsvFile(
    path(PERMK_FILES.curves),
    ['n', 's', 'compressor', 'gamma', 'iteration', 'bitsPerNode', 'gradNormSq'],
    result.curves.flatMap((c) => {
      const t = thinCurve(c.bits, c.gradNormSq, 600);
      return t.iteration.map((it, j) => [c.n, c.s, c.compressor, c.gamma, it, t.bits[j], t.y[j]]);
    }),
  );
  for (const [n, svg] of permkPlots(result)) await writeTextFile(path(PERMK_FILES.plot(n)), svg);
  return written;
}

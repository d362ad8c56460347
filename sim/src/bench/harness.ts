/**
 * Benchmark harness. Every Masha benchmark prints the same format:
 * `{ "results": [ { "name", "value", "unit", "baseline", "baselineName", "ratio" } ] }`.
 */

export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same quantity for the reference operation measured in the same run, or null. */
  readonly baseline: number | null;
  readonly baselineName: string | null;
  /** value / baseline, or null without a baseline. */
  readonly ratio: number | null;
}

/** A group of benchmarks. `include(name)` says whether a row is wanted (argv filter): skip it otherwise. */
export interface Suite {
  readonly name: string;
  run(include: (name: string) => boolean): Promise<BenchResult[]>;
}

export interface MeasureOptions {
  /** Minimum total measured time, seconds (default 0.3). */
  readonly minTime?: number;
  /** Minimum number of samples (default 5). */
  readonly minSamples?: number;
  /** Warm-up time, seconds (default 0.1; at least 2 calls). */
  readonly warmup?: number;
  /** Called before each timed call, untimed (e.g. to reset an accumulator). */
  readonly setup?: () => void;
}

export interface Measurement {
  /** Median seconds per call. */
  readonly median: number;
  /** Seconds per call of each sample. */
  readonly samples: readonly number[];
}

const now = (): number => performance.now() / 1000;

/**
 * Times `fn`: warms up, then calls it repeatedly until at least `minTime` seconds and `minSamples`
 * calls were measured, and returns the median time per call. Calls shorter than ~1 ms are batched
 * so that timer resolution does not dominate (the sample is then the batch mean).
 */
export function measure(fn: () => unknown, opts: MeasureOptions = {}): Measurement {
  const minTime = opts.minTime ?? 0.3;
  const minSamples = opts.minSamples ?? 5;
  const warmup = opts.warmup ?? 0.1;
  const setup = opts.setup;
  let sink: unknown;
  // Warm-up, and estimate the cost of one call.
  const w0 = now();
  let calls = 0;
  let single = Infinity;
  while (calls < 2 || now() - w0 < warmup) {
    setup?.();
    const t = now();
    sink = fn();
    single = Math.min(single, now() - t);
    calls++;
  }
  const batch = setup ? 1 : Math.max(1, Math.min(1 << 20, Math.ceil(1e-3 / Math.max(single, 1e-9))));
  const samples: number[] = [];
  let total = 0;
  while (total < minTime || samples.length < minSamples) {
    setup?.();
    const t = now();
    for (let i = 0; i < batch; i++) sink = fn();
    const dt = now() - t;
    total += dt;
    samples.push(dt / batch);
  }
  keep(sink);
  return { median: median(samples), samples };
}

let blackhole: unknown;
/** Keeps a result alive so the engine cannot drop the work that produced it. */
export function keep(x: unknown): void {
  blackhole = x;
}
export function sunk(): unknown {
  return blackhole;
}

/**
 * Times `fn` and a `baseline` in alternation (one sample of each in turn), so that both see the
 * same machine load: on a shared machine a baseline timed once at the start can land in a quiet
 * or a busy moment, and the ratio would reflect that instead of the code.
 */
export function measurePair(baseline: () => unknown, fn: () => unknown, opts: MeasureOptions = {}): { baseline: Measurement; subject: Measurement } {
  const minTime = opts.minTime ?? 0.3;
  const minSamples = opts.minSamples ?? 5;
  const warm = { minTime: opts.warmup ?? 0.1, minSamples: 2, warmup: 0.02 };
  // Warm both up and size their batches so that one sample lasts ≥ ~1 ms.
  const batchOf = (m: Measurement): number => Math.max(1, Math.min(1 << 20, Math.ceil(1e-3 / Math.max(m.median, 1e-9))));
  const bBatch = batchOf(measure(baseline, warm));
  const fBatch = opts.setup ? 1 : batchOf(measure(fn, { ...warm, setup: opts.setup }));
  const sample = (g: () => unknown, batch: number, setup?: () => void): number => {
    setup?.();
    const t = now();
    for (let i = 0; i < batch; i++) keep(g());
    return (now() - t) / batch;
  };
  const b: number[] = [];
  const f: number[] = [];
  let total = 0;
  while (total < minTime || f.length < minSamples) {
    b.push(sample(baseline, bBatch));
    const dt = sample(fn, fBatch, opts.setup);
    f.push(dt);
    total += dt * fBatch;
  }
  return { baseline: { median: median(b), samples: b }, subject: { median: median(f), samples: f } };
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, c) => a - c);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A throughput row: `elements` processed per call, reported in million elements per second. */
export function throughputRow(name: string, elements: number, secondsPerCall: number, baseline?: { name: string; secondsPerCall: number }): BenchResult {
  const value = elements / secondsPerCall / 1e6;
  const base = baseline ? elements / baseline.secondsPerCall / 1e6 : null;
  return {
    name,
    value: round(value),
    unit: 'Melem/s',
    baseline: base === null ? null : round(base),
    baselineName: baseline ? baseline.name : null,
    ratio: base === null ? null : round(value / base),
  };
}

/** A row for any quantity, with an optional baseline. */
export function resultRow(name: string, value: number, unit: string, baseline?: { name: string; value: number }): BenchResult {
  return {
    name,
    value: round(value),
    unit,
    baseline: baseline ? round(baseline.value) : null,
    baselineName: baseline ? baseline.name : null,
    ratio: baseline ? round(value / baseline.value) : null,
  };
}

/** 4 significant digits. */
function round(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : x;
}

/** Progress line on stderr (stdout carries only the JSON). */
export function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

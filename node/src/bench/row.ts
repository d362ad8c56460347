/**
 * One row of `npm run bench`'s `{ "results": [...] }` document. The simulator's benchmarks print
 * the same six fields (sim/src/bench/harness.ts); this type is repeated here, not imported, so
 * that the Node package does not depend on the simulator.
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

/** A row with its baseline measured in the same run (4 significant digits, as the simulator's rows). */
export function resultRow(name: string, value: number, unit: string, baseline?: { name: string; value: number }): BenchResult {
  const round = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);
  return {
    name,
    value: round(value),
    unit,
    baseline: baseline ? round(baseline.value) : null,
    baselineName: baseline ? baseline.name : null,
    ratio: baseline ? round(value / baseline.value) : null,
  };
}

/** Progress of a benchmark, on stderr (stdout carries the JSON document). */
export function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

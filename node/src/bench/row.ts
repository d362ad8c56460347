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

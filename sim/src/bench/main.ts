import { compressorSuite } from './compressors.js';
import { framesSuite } from './frames.js';
import { simSuite } from './sim.js';
import { treeSuite } from './tree.js';
import { trustSuite } from './trust.js';
import { updatesSuite } from './updates.js';
import { progress, type BenchResult, type Suite } from './harness.js';

/**
 * `npm run bench [-- NAME…]`: runs every suite (or only the rows whose name contains one of the
 * arguments) and prints `{ "results": [...] }` as JSON on stdout; progress goes to stderr.
 * Add a suite by appending it to `suites`.
 */
export const suites: Suite[] = [compressorSuite, framesSuite, simSuite, trustSuite, updatesSuite, treeSuite];

export async function runBenchmarks(filters: readonly string[]): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const suite of suites) {
    const whole = filters.length === 0 || filters.some((f) => suite.name.includes(f));
    const include = (name: string): boolean => whole || filters.some((f) => name.includes(f));
    progress(`suite ${suite.name}`);
    results.push(...(await suite.run(include)));
  }
  return results;
}

const filters = process.argv.slice(2);
runBenchmarks(filters).then(
  (results) => {
    process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

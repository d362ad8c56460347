/**
 * `node node/dist/bench/main.js [FILTER…]` (or `npx turbo run bench --filter=@masha/node`): the wire
 * overhead of the two data paths (wire.ts), the swarm benchmark (swarm.ts) and the model suite
 * (model.ts: forward+backward time per batch, ONNX graph build time, memory per parameter), printed as `{ "results": [ { "name", "value", "unit", "baseline",
 * "baselineName", "ratio" } ] }` on stdout; progress on stderr. Rows whose name contains none of
 * the filters are skipped (runs are skipped only when no row of theirs is wanted).
 * MASHA_BENCH_D and MASHA_BENCH_PEERS change the dimension (default 10^6) and the swarm size of the
 * swarm rows' time and traffic rows (default 8 and 16; the aggregator-copies rows run at 4, 8, 16).
 */
import { modelBenchmarks } from './model.js';
import { swarmBenchmarks } from './swarm.js';
import { wireBenchmarks } from './wire.js';

const filters = process.argv.slice(2);
const include = (name: string): boolean => filters.length === 0 || filters.some((f) => name.includes(f));
const d = process.env.MASHA_BENCH_D ? Number(process.env.MASHA_BENCH_D) : undefined;
const peers = process.env.MASHA_BENCH_PEERS ? Number(process.env.MASHA_BENCH_PEERS) : undefined;

try {
  const results = [
    ...(await wireBenchmarks(d ?? 1_000_000, include)),
    ...(await swarmBenchmarks({ include, ...(d ? { d } : {}), ...(peers ? { peers } : {}) })),
    ...(await modelBenchmarks(include)),
  ];
  process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/**
 * `node dist/model/build-data-main.js [OUT]`: run by node's `npm run build` to generate the
 * default dataset into node/dist/data/spam-assassin (or OUT). Prints one line per stage on stderr.
 */
import { buildDataset } from './build-data.js';
import { defaultDataDir } from './data.js';

const out = process.argv[2] ?? defaultDataDir();
const t0 = performance.now();
try {
  const r = await buildDataset({ out, log: (l) => process.stderr.write(`data: ${l}\n`) });
  const m = r.manifest;
  process.stderr.write(
    r.skipped
      ? `data: ${out} is up to date\n`
      : `data: wrote ${m.splits.train.count} training + ${m.splits.test.count} test examples (${m.splits.train.files.length + m.splits.test.files.length} shard files) to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
} catch (e) {
  process.stderr.write(`data: build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

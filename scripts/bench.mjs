#!/usr/bin/env node
// `npm run bench [-- FILTER…]`: runs the simulator/protocol benchmarks (sim/dist/bench/main.js) and
// the network benchmarks (node/dist/bench/main.js) one after the other and prints one merged
// `{ "results": [...] }` document on stdout. Progress and logs of both go to stderr.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entries = ['sim/dist/bench/main.js', 'node/dist/bench/main.js'];
const results = [];
let failed = false;
for (const entry of entries) {
  const run = spawnSync(process.execPath, [entry, ...process.argv.slice(2)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    process.stderr.write(`bench: ${entry} exited with ${run.status ?? run.signal}\n`);
    failed = true;
    continue;
  }
  results.push(...JSON.parse(run.stdout).results);
}
process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
process.exitCode = failed ? 1 : 0;

#!/usr/bin/env node
// `npm run bench [-- FILTER…]`: runs the simulator/protocol benchmarks (sim/dist/bench/main.js),
// the network benchmarks (node/dist/bench/main.js) and the volunteer page's benchmarks — tab-to-tab
// WebRTC throughput (test/bench/browser-webrtc.ts) and tabs as volunteers against Node volunteers
// (test/bench/browser-swarm.ts), run from their TypeScript sources; Chromium in a network
// namespace, so they need root and /usr/bin/chromium, else they print no rows — one after the other
// and prints one merged `{ "results": [...] }` document on stdout. Progress and logs go to stderr.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entries = [
  ['sim/dist/bench/main.js'],
  ['node/dist/bench/main.js'],
  ['--experimental-transform-types', '--no-warnings', '--import', './node/test/net-ts-register.mjs', 'test/bench/browser-webrtc.ts'],
  ['--experimental-transform-types', '--no-warnings', '--import', './node/test/net-ts-register.mjs', 'test/bench/browser-swarm.ts'],
];
const results = [];
let failed = false;
for (const args of entries) {
  const entry = args[args.length - 1];
  const run = spawnSync(process.execPath, [...args, ...process.argv.slice(2)], {
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

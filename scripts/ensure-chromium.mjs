#!/usr/bin/env node
// Makes sure the browser tests have Chromium: Debian's `chromium` package at /usr/bin/chromium
// (Playwright's own browser downloads are not reachable here). Run by `npm test` (the test
// package's `test` script) before the tests. As root (CI) a missing Chromium is installed with
// apt-get; otherwise this says how to install it and the browser tests report themselves skipped
// (under CI=true they fail instead).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const CHROMIUM = '/usr/bin/chromium';
if (existsSync(CHROMIUM)) process.exit(0);
if (process.env.MASHA_SKIP_BROWSER === '1') process.exit(0);
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!root) {
  process.stderr.write(
    `ensure-chromium: ${CHROMIUM} is missing and this is not root; install it with \`sudo apt-get install chromium\` to run the browser tests\n`,
  );
  process.exit(0);
}
process.stderr.write('ensure-chromium: installing Debian chromium for the browser tests (apt-get)…\n');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', 'chromium'],
]) {
  const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env, timeout: 15 * 60_000 });
  if (r.status !== 0) {
    process.stderr.write(`ensure-chromium: apt-get ${args.join(' ')} failed (${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}
if (!existsSync(CHROMIUM)) {
  process.stderr.write(`ensure-chromium: apt-get finished but ${CHROMIUM} is still missing\n`);
  process.exit(1);
}

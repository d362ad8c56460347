/**
 * `npm start`'s volunteer URL works: `node node/dist/start.js` (what `npm start` runs after the
 * build) runs inside a network namespace, and the URL it prints (`volunteers: open
 * http://127.0.0.1:PORT/?run=ID`) is opened as is in Chromium inside the same namespace. The tab
 * joins that run and contributes — it holds shards and its answers are in committed rounds — and
 * the run ends at its target with the tab counted among its volunteers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { browserTestsUnavailable, launchChromium } from './browser/chromium.js';
import { createNetns, type Netns } from './browser/netns.js';
import { waitForText } from './browser/page-helpers.js';

const START = resolve(fileURLToPath(import.meta.url), '../../../node/dist/start.js');
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

describe.skipIf(unavailable !== null)('the volunteer URL that `npm start` prints', () => {
  let ns: Netns | null = null;
  let browser: Browser | null = null;
  const out = mkdtempSync(join(tmpdir(), 'masha-start-browser-'));

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await ns?.remove();
    rmSync(out, { recursive: true, force: true });
  });

  it('opened in Chromium, makes the tab contribute to that run', async () => {
    ns = createNetns();
    const start = ns.spawn('npm start', process.execPath, [START, '--peers', '2', '--out', out, '--progress', 'lines', '--timeout', '240'], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    let stderr = '';
    start.process.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    let stdout = '';
    start.onStdoutLine((l) => {
      stdout += `${l}\n`;
    });
    const deadline = Date.now() + 120_000;
    let url: string | undefined;
    while (url === undefined) {
      url = /volunteers: open (http:\/\/127\.0\.0\.1:\d+\/\?run=[0-9a-f]{64}) /.exec(stderr)?.[1];
      if (Date.now() > deadline) throw new Error(`npm start printed no volunteer URL; stderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await launchChromium(ns);
    const page = await browser.newPage();
    await page.goto(url, { timeout: 30_000 });
    await waitForText(page, '#relay-state', (t) => t === 'connected', 30_000);
    await waitForText(page, '#run-id', (t) => t.startsWith(url.slice(-64, -56)), 60_000);
    // The tab computes for this run: shards, and rounds that included its answers.
    await waitForText(page, '#rounds', (t) => Number(t) > 0, 120_000);
    expect(await page.textContent('#shards')).toMatch(/^\d+(, \d+)*$/);
    const exit = await start.exited;
    expect(exit.code, `${stdout}\n${stderr.slice(-2000)}`).toBe(0);
    expect(stdout).toContain('target reached');
    // Two Node volunteers and the tab.
    expect(stdout).toMatch(/volunteers: 3 \(/);
    await page.close();
  });
});

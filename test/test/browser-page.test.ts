/**
 * The volunteer page in real Chromium, inside a network namespace (browser/netns.ts): a relay
 * serving the page (`masha relay --http`), a run launched with `masha launch` and worked on by two
 * Node volunteers (`masha join`), and Chromium tabs opening the page.
 *
 * - The page connects to the relay, finds the run from `?run=ID`, computes (its worker runs the
 *   engine host), and shows the run (method, problem, launcher), its live state from the
 *   volunteers' status reports (aggregator, epoch, rounds advancing, the metric and its chart) and
 *   its own part: shards held, rounds contributed, compute time. Screenshots go to
 *   test/out/browser/ (page.png, page-paused.png, page-phone.png).
 * - Pause stops the tab's contributions (the other volunteers take its shards over) and resume
 *   restarts them (a fresh engine syncs and is given shards); the CPU-share setting reaches the
 *   worker; Leave stops the engine for good.
 * - The main thread stays responsive while rounds run: its longest task takes under 50 ms of CPU
 *   (Chromium tracing of the renderer main thread, browser/page-helpers.ts `traceMainThread`: the
 *   thread CPU time of each task, which other processes preempting the thread do not inflate).
 *   Wall-time figures (longest traced task, PerformanceObserver long tasks, the longest delay of a
 *   10 ms timer) are printed: on this shared 2-core machine they include preemption.
 * - A missing run and an unreachable relay are said in plain words.
 * - Tabs find each other (pubsub discovery) and link directly over WebRTC by themselves.
 * - Two tabs connect to each other directly over WebRTC, signalled through the relay: the
 *   connection is not limited (not relayed) and its address is the `/p2p-circuit/webrtc` one; an
 *   uplink of 1 MiB in 64 KiB frames (beyond the relay's 128 KiB limit for relayed connections,
 *   and the uplink protocol does not run on relayed connections at all) arrives intact over it.
 * - The @libp2p/webrtc dial race (patches/@libp2p+webrtc+6.0.33.patch): N tab↔tab dials in a
 *   row all succeed. Unpatched, about one dial in three hangs until its timeout (measured
 *   figures in browser/UPSTREAM-webrtc-dial-race.md), so this fails without the patch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdOf } from '@masha/protocol';
import { keyedManifest, loadOrCreateLauncherKey, type ManagedChild } from '@masha/node';
import { browserTestsUnavailable } from './browser/chromium.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import {
  connections,
  debugReady,
  dial,
  hangUp,
  mainThreadReport,
  received,
  resetMainThread,
  sendFrames,
  traceMainThread,
  waitForText,
  waitReceived,
  watchMainThread,
  webrtcAddress,
} from './browser/page-helpers.js';
import type { LiveState } from './browser/tab-swarm.js';
import { testManifest } from './swarm-helpers.js';

const OUT = fileURLToPath(new URL('../out/browser/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);
if (unavailable !== null) console.warn(`browser tests skipped: ${unavailable}`);

function live(page: Page): Promise<LiveState> {
  return page.evaluate(() => (globalThis as unknown as { masha: { live(): LiveState } }).masha.live());
}

async function myRound(page: Page): Promise<number> {
  return (await live(page)).swarm?.round ?? 0;
}

/** Dials for the dial-race test. */
const RACE_DIALS = Number(process.env.MASHA_RACE_DIALS ?? 100);

describe.skipIf(unavailable !== null)('the volunteer page in Chromium', () => {
  let session: BrowserSession;
  const logDir = join(OUT, 'logs');
  const openPage = (query: string): Promise<Page> => session.openPage(query);

  beforeAll(async () => {
    session = await startBrowserSession(logDir);
    expect(session.pageUrl).toBe(`http://${session.ns.hostA}:${new URL(session.pageUrl).port}/`);
  });

  afterAll(async () => {
    await session?.stop();
  });

  it('computes in the tab: shows the run, the chart and its own part, pauses and resumes, and the main thread stays responsive', async () => {
    // A run that outlasts the test (the session's end stops it): 1e-30 is not reached.
    const manifest = testManifest({ stop: { iterations: 20_000, target: 1e-30 }, seed: 11 });
    const keyPath = join(OUT, 'launcher.key');
    const keyed = keyedManifest(manifest, loadOrCreateLauncherKey(keyPath));
    const runId = runIdOf(keyed);
    const path = join(OUT, 'run.json');
    writeFileSync(path, JSON.stringify(keyed));
    const runs = join(OUT, 'runs');
    const processes: ManagedChild[] = [];
    // The launcher and the Node volunteers run at a lower priority than Chromium: on this 2-core
    // machine they stand for the rest of a swarm (other machines), and the page's main-thread tasks
    // are measured below — a task preempted by them would look longer than the page's own work.
    processes.push(
      session.ns.masha(
        'launcher',
        ['--progress', 'off', 'launch', '--manifest', path, '--key', keyPath, '--relay', session.relayTcp, '--out', runs, '--json', '--timeout', '240'],
        {
          nice: 19,
          stdout: 'ignore',
          stderr: { file: join(logDir, 'launcher.log') },
        },
      ),
    );
    for (const v of ['v1', 'v2']) {
      processes.push(
        session.ns.masha(v, ['join', '--relay', session.relayTcp, '--run', runId, '--out', runs, '--json', '--wait', '120'], {
          nice: 19,
          stdout: 'ignore',
          stderr: { file: join(logDir, `${v}.log`) },
        }),
      );
    }
    const page = await session.openPage(`run=${runId}&debug=1`, watchMainThread);
    await waitForText(page, '#relay-state', (t) => t === 'connected', 30_000);
    await waitForText(page, '#run-name', (t) => t.startsWith('MASHA1 + dither:p=2,s=8'), 60_000);
    expect(await page.textContent('#run-problem')).toBe('bilinear game, d = 100, M = 10');
    expect(await page.textContent('#run-target')).toBe('1e-30');
    // Live state from the volunteers' status reports.
    await waitForText(page, '#aggregator', (t) => t !== '—', 60_000);
    await waitForText(page, '#round', (t) => /^\d+/.test(t), 30_000);
    // Two Node volunteers and this tab, which computes too: its shards, its rounds, its compute time.
    await waitForText(page, '#volunteers', (t) => t === '3', 30_000);
    const held = (t: string): number[] => t.split(', ').map((x) => Number(x.split(': ')[1]));
    await waitForText(page, '#shards-by-peer', (t) => held(t).length === 3 && held(t).reduce((a, b) => a + b, 0) === 10, 30_000);
    await waitForText(page, '#rounds', (t) => Number(t) > 0, 30_000);
    const myShards = await waitForText(page, '#shards', (t) => /^\d+(, \d+)*$/.test(t), 30_000);
    expect(myShards.split(', ').length).toBeGreaterThan(0);
    expect(await page.textContent('#computing')).toMatch(/^computing/);
    await waitForText(page, '#compute-ms', (t) => / ms$/.test(t), 30_000);
    expect(await page.textContent('#simd')).toBe('WebAssembly SIMD');
    // The main thread during rounds (from the tab's first contribution on): its tasks traced.
    // Screenshots are the test's work: long tasks (wall) while one is taken are not the page's.
    const shots: Array<[number, number]> = [];
    const screenshot = async (file: string): Promise<void> => {
      const t0 = await page.evaluate(() => performance.now());
      await page.screenshot({ path: join(OUT, file), fullPage: true });
      shots.push([t0, await page.evaluate(() => performance.now())]);
    };
    const windowStart = await resetMainThread(page);
    const r0 = await myRound(page);
    // Traced: at least 30 rounds and 8 s, then pausing and resuming.
    const trace = await traceMainThread(session.browser, page, async () => {
      const traceUntil = Date.now() + 8_000;
      await waitForText(page, '#round', (t) => Number(/^(\d+)/.exec(t)?.[1] ?? -1) >= r0 + 30, 90_000);
      await new Promise((r) => setTimeout(r, Math.max(0, traceUntil - Date.now())));
      expect(Number(await page.textContent('#epoch'))).toBeGreaterThanOrEqual(1);
      const metric = Number(await page.textContent('#metric'));
      expect(Number.isFinite(metric) && metric > 0 && metric < 1).toBe(true);
      await page.waitForSelector('#chart svg path', { timeout: 30_000 });
      // The chart is the CLI's chart code: a panel with a curve and the target line.
      expect(await page.locator('#chart svg .legend-item').count()).toBeGreaterThanOrEqual(1);
      expect(Number(await page.textContent('#peers'))).toBeGreaterThanOrEqual(1);
      expect(await page.textContent('#bytes-up')).not.toBe('0 B');
      expect(await page.textContent('#bytes-down')).not.toBe('0 B');
      await screenshot('page.png');

      // Pause: this tab stops contributing, and the swarm takes its shards over.
      const before = (await live(page)).self;
      await page.click('#pause');
      await waitForText(page, '#computing', (t) => t.startsWith('paused'), 10_000);
      expect(await page.textContent('#pause')).toBe('Resume');
      const pausedAt = (await live(page)).self;
      expect(pausedAt.state).toBe('paused');
      expect(pausedAt.roundsContributed).toBeGreaterThanOrEqual(before.roundsContributed);
      const swarmRound = async (): Promise<number> => (await live(page)).swarm?.round ?? 0;
      const rp = await swarmRound();
      await waitForText(page, '#shards-by-peer', (t) => held(t).length === 2 && held(t).reduce((a, b) => a + b, 0) === 10, 30_000);
      await page.waitForFunction((r) => ((globalThis as unknown as { masha: { live(): LiveState } }).masha.live().swarm?.round ?? 0) >= r + 10, rp, {
        timeout: 60_000,
      });
      const whilePaused = (await live(page)).self;
      expect(whilePaused.roundsContributed).toBe(pausedAt.roundsContributed);
      expect(whilePaused.uplinksSent).toBe(pausedAt.uplinksSent);
      await screenshot('page-paused.png');
      // Resume: a fresh engine syncs and is given shards again.
      await page.click('#pause');
      expect(await page.textContent('#pause')).toBe('Pause');
      await page.waitForFunction(
        (n) => (globalThis as unknown as { masha: { live(): LiveState } }).masha.live().self.roundsContributed > n,
        pausedAt.roundsContributed,
        { timeout: 60_000 },
      );
      const resumed = (await live(page)).self;
      expect(resumed.hosts).toBe(2);
      expect(resumed.uplinksSent).toBeGreaterThan(pausedAt.uplinksSent);
    });
    // The longest main-thread task while rounds ran: under 50 ms of the page's own work.
    const main = await mainThreadReport(page);
    const ranMs = (await page.evaluate(() => performance.now())) - windowStart;
    const pageTasks = main.longTasks.filter((t) => !shots.some(([a, b]) => t.start >= a && t.start <= b));
    console.log(
      `main thread, traced over ${(trace.tracedMs / 1000).toFixed(1)} s of rounds: ${trace.tasks} tasks, longest ${trace.longestCpuMs.toFixed(1)} ms CPU ` +
        `(${trace.longestWallMs.toFixed(1)} ms wall), busy ${((100 * trace.busyCpuMs) / trace.tracedMs).toFixed(1)} % of one core; ` +
        `PerformanceObserver over ${(ranMs / 1000).toFixed(1)} s: long tasks (wall ≥ 50 ms) ${JSON.stringify(pageTasks)}, longest 10 ms-timer delay ${main.maxLag.toFixed(1)} ms`,
    );
    expect(trace.longestCpuMs).toBeLessThan(50);

    // The CPU-share setting reaches the worker's governor.
    await page.evaluate(() => {
      const input = document.getElementById('cpu-share') as HTMLInputElement;
      input.value = '30';
      input.dispatchEvent(new Event('input'));
      input.dispatchEvent(new Event('change'));
    });
    await page.waitForFunction(() => (globalThis as unknown as { masha: { live(): LiveState } }).masha.live().self.cpuShare === 0.3, undefined, {
      timeout: 10_000,
    });
    expect(await page.textContent('#cpu-share-value')).toBe('30 %');

    // Phone width: nothing wider than the viewport.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(OUT, 'page-phone.png'), fullPage: true });

    // Leave: the engine stops for good and the page says how to come back.
    await page.click('#leave');
    await page.waitForSelector('[data-problem="left"]', { timeout: 10_000 });
    await waitForText(page, '#computing', (t) => t === 'left the run', 10_000);
    expect(await page.isDisabled('#pause')).toBe(true);
    await page.close();
    // The run would go on: stop its processes so that they do not load the machine during the next tests.
    for (const p of processes) p.signal('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
  });

  it('says so when the run asked for does not exist', async () => {
    const page = await openPage(`run=${'0'.repeat(64)}`);
    await waitForText(page, '#relay-state', (t) => t === 'connected', 30_000);
    await page.waitForSelector('[data-problem="run-not-found"]', { timeout: 40_000 });
    await page.close();
  });

  it('says so when the relay cannot be reached', async () => {
    const id = session.relayTcp.slice(session.relayTcp.lastIndexOf('/p2p/') + 5);
    // Port 9 on the relay's host: nothing listens there.
    const page = await openPage(`relay=${encodeURIComponent(`/ip4/${session.ns.hostA}/tcp/9/ws/p2p/${id}`)}`);
    await page.waitForSelector('[data-problem="relay-unreachable"]', { timeout: 30_000 });
    expect(await page.textContent('#relay-state')).toBe('unreachable');
    await page.close();
  });

  it('tabs find each other through the swarm and link directly over WebRTC by themselves', async () => {
    const a = await openPage('debug=1');
    const b = await openPage('debug=1');
    await debugReady(a);
    const idB = await debugReady(b);
    const deadline = Date.now() + 30_000;
    let links: Awaited<ReturnType<typeof connections>> = [];
    while (Date.now() < deadline) {
      // Whichever tab dialled: `…/p2p-circuit/webrtc/p2p/B` outbound, `/webrtc/p2p/B` inbound; not limited = not relayed.
      links = (await connections(a, idB)).filter((c) => !c.limited && /\/webrtc\/p2p\/[^/]+$/.test(c.addr));
      if (links.length > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(links.length, JSON.stringify(await connections(a, idB))).toBeGreaterThan(0);
    await waitForText(a, '#webrtc-links', (t) => Number(t) >= 1, 5_000);
    await a.close();
    await b.close();
  });

  it('two tabs connect to each other directly over WebRTC, and an uplink flows over it', async () => {
    const a = await openPage('debug=1&discovery=0');
    const b = await openPage('debug=1&discovery=0');
    await debugReady(a);
    const idB = await debugReady(b);
    const addrB = await webrtcAddress(b);
    expect(addrB).toMatch(/\/p2p-circuit\/webrtc\/p2p\//);
    const d = await dial(a, addrB, 15_000);
    expect(d).toMatchObject({ ok: true, limited: false });
    // The tabs' link: direct (not limited) WebRTC at the /p2p-circuit/webrtc address.
    const links = (await connections(a, idB)).filter((c) => !c.limited);
    expect(links.length).toBe(1);
    expect(links[0].addr).toMatch(/\/p2p-circuit\/webrtc\/p2p\//);
    expect(links[0].addr.endsWith(`/p2p/${idB}`)).toBe(true);
    // 1 MiB over the uplink protocol (which refuses relayed connections) arrives whole.
    const before = (await received(b)).bytes;
    await sendFrames(a, idB, 1 << 20, 64 * 1024);
    await waitReceived(b, before + (1 << 20), 30_000);
    expect(await received(b)).toEqual({ frames: 16, bytes: before + (1 << 20) });
    await a.close();
    await b.close();
  });

  it(`the dial race is fixed: ${RACE_DIALS} tab-to-tab WebRTC dials in a row all succeed`, async () => {
    const a = await openPage('debug=1&discovery=0');
    const b = await openPage('debug=1&discovery=0');
    await debugReady(a);
    const idB = await debugReady(b);
    const addrB = await webrtcAddress(b);
    const failures: string[] = [];
    for (let i = 0; i < RACE_DIALS; i++) {
      const d = await dial(a, addrB, 5_000);
      if (!d.ok) failures.push(`dial ${i + 1}: ${d.error} after ${Math.round(d.ms)} ms`);
      else if (d.limited || !/\/webrtc\/p2p\//.test(d.addr)) failures.push(`dial ${i + 1}: not a direct WebRTC connection (${d.addr})`);
      await hangUp(a, idB);
      // The next dial starts from nothing: no connection left to reuse.
      const deadline = Date.now() + 5_000;
      while ((await connections(a, idB)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    expect(failures).toEqual([]);
    await a.close();
    await b.close();
  });
});

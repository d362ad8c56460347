/**
 * The volunteer page in real Chromium, inside a network namespace (browser/netns.ts): a relay
 * serving the page (`masha relay --http`), a run launched with `masha launch` and worked on by two
 * Node volunteers (`masha join`), and Chromium tabs opening the page.
 *
 * - The page connects to the relay, finds the run from `?run=ID`, and shows the run (method,
 *   problem, launcher) and its live state from the volunteers' status reports: aggregator, epoch,
 *   rounds advancing, the metric and its chart. A screenshot goes to test/out/browser/.
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
import { browserTestsUnavailable } from './browser/chromium.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { connections, debugReady, dial, hangUp, received, sendFrames, waitForText, waitReceived, webrtcAddress } from './browser/page-helpers.js';
import { testManifest } from './swarm-helpers.js';

const OUT = fileURLToPath(new URL('../out/browser/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);
if (unavailable !== null) console.warn(`browser tests skipped: ${unavailable}`);

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

  it('shows a run launched with `masha launch` and its live state and chart', async () => {
    const manifest = testManifest({ stop: { iterations: 4_000, target: 1e-9 }, seed: 11 });
    const runId = runIdOf(manifest);
    const path = join(OUT, 'run.json');
    writeFileSync(path, JSON.stringify(manifest));
    const runs = join(OUT, 'runs');
    session.ns.masha('launcher', ['--progress', 'off', 'launch', '--manifest', path, '--relay', session.relayTcp, '--out', runs, '--json', '--timeout', '240'], {
      stdout: 'ignore',
      stderr: { file: join(logDir, 'launcher.log') },
    });
    for (const v of ['v1', 'v2']) {
      session.ns.masha(v, ['join', '--relay', session.relayTcp, '--run', runId, '--out', runs, '--json', '--wait', '120'], { stdout: 'ignore', stderr: { file: join(logDir, `${v}.log`) } });
    }
    const page = await openPage(`run=${runId}`);
    await waitForText(page, '#relay-state', (t) => t === 'connected', 30_000);
    await waitForText(page, '#run-name', (t) => t.startsWith('MASHA1 + dither:p=2,s=8'), 60_000);
    expect(await page.textContent('#run-problem')).toBe('bilinear game, d = 100, M = 10');
    expect(await page.textContent('#run-target')).toBe('1e-9');
    // Live state from the volunteers' status reports.
    await waitForText(page, '#aggregator', (t) => t !== '—', 60_000);
    const round = async (): Promise<number> => Number(/^(\d+)/.exec((await page.textContent('#round')) ?? '')?.[1] ?? -1);
    await waitForText(page, '#round', (t) => /^\d+/.test(t), 30_000);
    const r0 = await round();
    await waitForText(page, '#round', (t) => Number(/^(\d+)/.exec(t)?.[1] ?? -1) >= r0 + 10, 90_000);
    // Two Node volunteers and this tab, which computes too.
    await waitForText(page, '#volunteers', (t) => t === '3', 30_000);
    // The 10 shards of the run, split between the three volunteers (from their reports).
    const held = (t: string): number[] => t.split(', ').map((x) => Number(x.split(': ')[1]));
    await waitForText(page, '#shards-by-peer', (t) => held(t).length === 3 && held(t).reduce((a, b) => a + b, 0) === 10, 30_000);
    await waitForText(page, '#rounds', (t) => Number(t) > 0, 30_000);
    expect(Number(await page.textContent('#epoch'))).toBeGreaterThanOrEqual(1);
    const metric = Number(await page.textContent('#metric'));
    expect(Number.isFinite(metric) && metric > 0 && metric < 1).toBe(true);
    await page.waitForSelector('#chart svg path', { timeout: 30_000 });
    // The chart is the CLI's chart code: a panel with a curve and the target line.
    expect(await page.locator('#chart svg .legend-item').count()).toBeGreaterThanOrEqual(1);
    expect(Number(await page.textContent('#peers'))).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#bytes-down')).not.toBe('0 B');
    await page.screenshot({ path: join(OUT, 'page.png'), fullPage: true });
    // Phone width: nothing wider than the viewport.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(OUT, 'page-phone.png'), fullPage: true });
    await page.close();
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

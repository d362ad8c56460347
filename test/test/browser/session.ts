/**
 * One browser-test session: a network namespace (netns.ts), a relay inside it serving the
 * volunteer page (`masha relay --host 10.213.0.1 --http 0`), and Chromium inside it. `stop()`
 * closes Chromium, stops every process by PID and removes the namespace; call it from a finally
 * / afterAll whatever happened.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { createNetns, type Netns } from './netns.js';

export interface BrowserSession {
  readonly ns: Netns;
  readonly browser: Browser;
  /** The volunteer URL the relay printed. */
  readonly pageUrl: string;
  /** The relay's TCP multiaddr, for `masha launch` / `masha join` inside the namespace. */
  readonly relayTcp: string;
  /** Opens the page with a query string (`run=…&debug=1`); `before` runs on the new page before it loads (init scripts). */
  openPage(query: string, before?: (page: Page) => Promise<void>): Promise<Page>;
  stop(): Promise<void>;
}

export async function startBrowserSession(logDir: string): Promise<BrowserSession> {
  mkdirSync(logDir, { recursive: true });
  const ns = createNetns();
  let browser: Browser | null = null;
  const stop = async (): Promise<void> => {
    await browser?.close().catch(() => {});
    await ns.remove();
  };
  try {
    const relay = ns.masha('relay', ['relay', '--json', '--ephemeral', '--host', ns.hostA, '--http', '0'], {
      stdout: 'pipe',
      stderr: { file: join(logDir, 'relay.log') },
    });
    const info = await relay.waitForLine((line) => {
      try {
        const j = JSON.parse(line) as { multiaddrs?: string[]; http?: string };
        return j.multiaddrs && j.http ? { multiaddrs: j.multiaddrs, http: j.http } : undefined;
      } catch {
        return undefined;
      }
    }, 60_000);
    const relayTcp = info.multiaddrs.find((a) => a.includes('/tcp/') && !a.includes('/ws')) ?? info.multiaddrs[0];
    const b = await launchChromium(ns);
    browser = b;
    return {
      ns,
      browser: b,
      pageUrl: info.http,
      relayTcp,
      async openPage(query: string, before?: (page: Page) => Promise<void>): Promise<Page> {
        const page = await b.newPage({ viewport: { width: 1100, height: 900 } });
        page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
        if (before !== undefined) await before(page);
        await page.goto(`${info.http}?${query}`, { timeout: 30_000 });
        return page;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

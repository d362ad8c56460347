/**
 * Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by `playwright-core`
 * (Playwright's own browser downloads cannot be fetched here). `npm test` installs the Debian
 * package first when it is missing (scripts/ensure-chromium.mjs). Flags: headless, no sandbox
 * (tests run as root), nothing that reaches out (background networking, component updates,
 * sync, QUIC), and real host addresses as WebRTC candidates instead of mDNS names.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { netnsUnavailable, type Netns } from './netns.js';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Why the browser tests cannot run here, or null. Under CI they must run: the caller fails
 * instead of skipping.
 */
export function browserTestsUnavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  return netnsUnavailable();
}

/** Launches Chromium inside the namespace. */
export function launchChromium(ns: Netns): Promise<Browser> {
  return chromium.launch({ executablePath: ns.chromium, args: [...CHROMIUM_FLAGS], timeout: 60_000 });
}

/**
 * The volunteer page's compute backend in real Chromium (issue 17): the worker asks navigator.gpu
 * for an adapter and takes WebGPU only for a hardware one. Here there is no GPU. The page comes
 * over plain http from the relay's address, where browsers do not expose WebGPU at all (the page
 * says so); with the relay's origin treated as secure, the test flags (--disable-gpu) give no
 * adapter, and --enable-unsafe-webgpu gives only SwiftShader, a software fallback
 * (isFallbackAdapter) — the page must refuse it and compute on wasm, saying why. The "Compute
 * with" control reaches the worker and is remembered across a reload.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserTestsUnavailable, CHROMIUM_FLAGS } from './browser/chromium.js';
import { startBrowserSession, type BrowserSession } from './browser/session.js';
import { debugReady } from './browser/page-helpers.js';

const OUT = fileURLToPath(new URL('../out/browser-backend/', import.meta.url));
const unavailable = browserTestsUnavailable();
if (unavailable !== null && process.env.CI) throw new Error(`browser tests cannot run under CI: ${unavailable}`);

interface Compute {
  choice: string;
  backend: string;
  reason: string;
  modelRun: boolean;
  pending: string | null;
  webgpu: { usable: boolean; reason: string; adapter: string | null; fallback: boolean } | null;
}

async function compute(page: Page): Promise<Compute> {
  const h = await page.waitForFunction(
    () => {
      const live = (globalThis as unknown as { masha?: { live(): { compute: Compute } | null } }).masha?.live();
      return live?.compute.webgpu != null ? live.compute : false;
    },
    undefined,
    { timeout: 30_000 },
  );
  return (await h.jsonValue()) as Compute;
}

describe.skipIf(unavailable !== null)('the page computes on wasm without a hardware GPU, and the volunteer can switch', () => {
  let session: BrowserSession;

  beforeAll(async () => {
    session = await startBrowserSession(join(OUT, 'logs'));
  }, 120_000);

  afterAll(async () => {
    await session?.stop();
  });

  it('plain http (no WebGPU in an insecure page): wasm, said on the page; the control switches and is remembered', async () => {
    const page = await session.openPage('debug=1');
    await debugReady(page);
    const c = await compute(page);
    expect(c.webgpu).toMatchObject({ usable: false, fallback: false, adapter: null });
    expect(c.webgpu?.reason).toBe('WebGPU needs a secure page (https:// or localhost); this page came over plain http');
    expect(c).toMatchObject({ choice: 'auto', backend: 'wasm', modelRun: false, pending: null });
    const shown = await page.locator('#backend-state').textContent();
    expect(shown).toMatch(/^wasm \(the CPU\): WebGPU needs a secure page .*\(for model runs; this run computes in TypeScript\)$/);
    expect(await page.locator('#backend-state').getAttribute('data-webgpu')).toBe('none');
    expect(await page.locator('#backend option[value="webgpu"]').isDisabled()).toBe(true);
    // The switch reaches the worker…
    await page.selectOption('#backend', 'wasm');
    await page.waitForFunction(
      () => (globalThis as unknown as { masha: { live(): { compute: { choice: string } } } }).masha.live().compute.choice === 'wasm',
      undefined,
      { timeout: 10_000 },
    );
    expect(await page.locator('#backend-state').textContent()).toMatch(/^wasm \(the CPU\), as chosen/);
    // …and is remembered.
    await page.reload();
    await debugReady(page);
    expect(await page.locator('#backend').inputValue()).toBe('wasm');
    expect((await compute(page)).choice).toBe('wasm');
    await page.selectOption('#backend', 'auto');
    await page.waitForFunction(
      () => (globalThis as unknown as { masha: { live(): { compute: { choice: string } } } }).masha.live().compute.choice === 'auto',
      undefined,
      { timeout: 10_000 },
    );
    await page.close();
  }, 120_000);

  it('a secure page: no adapter with the test flags; SwiftShader (--enable-unsafe-webgpu) refused as a fallback: wasm', async () => {
    const origin = new URL(session.pageUrl).origin;
    const secure = [...CHROMIUM_FLAGS, `--unsafely-treat-insecure-origin-as-secure=${origin}`];
    const cases = [
      { name: 'test flags', args: secure },
      { name: '--enable-unsafe-webgpu', args: [...secure.filter((f) => f !== '--disable-gpu'), '--enable-unsafe-webgpu'] },
    ];
    for (const k of cases) {
      const browser = await chromium.launch({ executablePath: session.ns.chromium, args: k.args, timeout: 60_000 });
      try {
        const page = await browser.newPage();
        await page.goto(`${session.pageUrl}?debug=1`, { timeout: 30_000 });
        await debugReady(page);
        const c = await compute(page);
        expect(c.backend, k.name).toBe('wasm');
        expect(c.webgpu?.usable, k.name).toBe(false);
        if (k.name === 'test flags') {
          expect(c.webgpu).toMatchObject({ fallback: false, adapter: null });
          expect(c.reason).toMatch(/^wasm \(the CPU\): no WebGPU adapter/);
          expect(await page.locator('#backend-state').getAttribute('data-webgpu')).toBe('none');
          continue;
        }
        expect(c.webgpu?.fallback).toBe(true);
        expect(c.webgpu?.adapter ?? '').toMatch(/swiftshader/i);
        expect(c.reason).toMatch(/^wasm \(the CPU\): only a software WebGPU adapter \(.*swiftshader\)/i);
        expect(await page.locator('#backend-state').getAttribute('data-webgpu')).toBe('fallback');
        // Asking for WebGPU anyway still computes on wasm, and says why.
        await page.evaluate(() => {
          const s = document.getElementById('backend') as HTMLSelectElement;
          (s.querySelector('option[value="webgpu"]') as HTMLOptionElement).disabled = false;
        });
        await page.selectOption('#backend', 'webgpu');
        await page.waitForFunction(
          () => (globalThis as unknown as { masha: { live(): { compute: { choice: string } } } }).masha.live().compute.choice === 'webgpu',
          undefined,
          { timeout: 10_000 },
        );
        const forced = await compute(page);
        expect(forced.backend).toBe('wasm');
        expect(forced.reason).toMatch(/only a software WebGPU adapter/);
      } finally {
        await browser.close();
      }
    }
  }, 180_000);
});

/** Helpers of the browser tests: waiting on the page's text, and its `?debug=1` API (browser/src/debug.ts). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ConnInfo, DialResult } from '../../../browser/src/debug.js';

export type { ConnInfo, DialResult };

/** Waits until the text of `selector` satisfies `ok`; the error names the last text seen. */
export async function waitForText(page: Page, selector: string, ok: (text: string) => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    last = ((await page.textContent(selector).catch(() => null)) ?? '').trim();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting on ${selector} (last text: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits for the page's debug API (it exists once the page's node has started). */
export async function debugReady(page: Page, timeoutMs = 30_000): Promise<string> {
  const h = await page.waitForFunction(() => (globalThis as { masha?: { self: string } }).masha?.self ?? false, undefined, { timeout: timeoutMs });
  return (await h.jsonValue()) as string;
}

/** The page's `/p2p-circuit/webrtc` address, once its relay reservation exists. */
export async function webrtcAddress(page: Page, timeoutMs = 30_000): Promise<string> {
  const h = await page.waitForFunction(() => (globalThis as { masha?: { webrtcAddress(): string | null } }).masha?.webrtcAddress() ?? false, undefined, {
    timeout: timeoutMs,
  });
  return (await h.jsonValue()) as string;
}

export function connections(page: Page, peer?: string): Promise<ConnInfo[]> {
  return page.evaluate((p) => (globalThis as unknown as { masha: { connections(peer?: string): ConnInfo[] } }).masha.connections(p), peer);
}

export function dial(page: Page, addr: string, timeoutMs: number): Promise<DialResult> {
  return page.evaluate(({ a, t }) => (globalThis as unknown as { masha: { dial(a: string, t: number): Promise<DialResult> } }).masha.dial(a, t), {
    a: addr,
    t: timeoutMs,
  });
}

export function hangUp(page: Page, peer: string): Promise<void> {
  return page.evaluate((p) => (globalThis as unknown as { masha: { hangUp(p: string): Promise<void> } }).masha.hangUp(p), peer);
}

/** Sends `total` bytes in `frame`-byte frames from `from` to peer `to` over the uplink; resolves when written (start in epoch ms, write time). */
export function sendFrames(from: Page, to: string, total: number, frame: number): Promise<{ startedAt: number; ms: number }> {
  return from.evaluate(
    ({ p, n, f }) =>
      (globalThis as unknown as { masha: { sendFrames(p: string, n: number, f: number): Promise<{ startedAt: number; ms: number }> } }).masha.sendFrames(
        p,
        n,
        f,
      ),
    { p: to, n: total, f: frame },
  );
}

/** Milliseconds to move `total` bytes in `chunk`-byte messages over a plain RTCDataChannel pair inside the page. */
export function rawDataChannel(page: Page, total: number, chunk: number): Promise<number> {
  return page.evaluate(
    ({ n, c }) => (globalThis as unknown as { masha: { rawDataChannel(n: number, c: number): Promise<number> } }).masha.rawDataChannel(n, c),
    { n: total, c: chunk },
  );
}

export function received(page: Page): Promise<{ frames: number; bytes: number }> {
  return page.evaluate(() => (globalThis as unknown as { masha: { received(): { frames: number; bytes: number } } }).masha.received());
}

/** When (epoch ms) `total` bytes in all had arrived at the page. */
export function waitReceived(page: Page, total: number, timeoutMs: number): Promise<number> {
  return page.evaluate(({ n, t }) => (globalThis as unknown as { masha: { waitReceived(n: number, t: number): Promise<number> } }).masha.waitReceived(n, t), {
    n: total,
    t: timeoutMs,
  });
}

/**
 * Main-thread responsiveness, installed before the page loads (`page.addInitScript`): every long
 * task (PerformanceObserver `longtask`: a task of 50 ms or more) with its start, and the largest
 * delay of a 10 ms interval timer (how long the main thread was busy at a stretch, below 50 ms
 * too) since `resetLag()`.
 */
export async function watchMainThread(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = globalThis as unknown as { __main: { longTasks: { start: number; duration: number }[]; maxLag: number; since: number } };
    w.__main = { longTasks: [], maxLag: 0, since: performance.now() };
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__main.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      w.__main.maxLag = Math.max(w.__main.maxLag, now - last - 10);
      last = now;
    }, 10);
  });
}

export interface MainThreadReport {
  /** Long tasks (≥ 50 ms) that started since `since`. */
  readonly longTasks: { start: number; duration: number }[];
  /** Largest timer delay since the last reset (ms). */
  readonly maxLag: number;
}

/** Starts a measurement window: returns its start (page clock) and resets the lag. */
export function resetMainThread(page: Page): Promise<number> {
  return page.evaluate(() => {
    const m = (globalThis as unknown as { __main: { maxLag: number; since: number } }).__main;
    m.maxLag = 0;
    m.since = performance.now();
    return m.since;
  });
}

export function mainThreadReport(page: Page): Promise<MainThreadReport> {
  return page.evaluate(() => {
    const m = (globalThis as unknown as { __main: { longTasks: { start: number; duration: number }[]; maxLag: number; since: number } }).__main;
    return { longTasks: m.longTasks.filter((t) => t.start >= m.since), maxLag: m.maxLag };
  });
}

export interface MainThreadTrace {
  /** Main-thread tasks traced. */
  readonly tasks: number;
  /** Longest task by thread CPU time (ms): its own work, whatever the OS gave other processes meanwhile. */
  readonly longestCpuMs: number;
  /** Longest task by wall time (ms): includes time the thread was preempted. */
  readonly longestWallMs: number;
  /** CPU time of all the main thread's tasks, and the wall time traced (ms). */
  readonly busyCpuMs: number;
  readonly tracedMs: number;
}

/**
 * Traces the page's renderer main thread (Chromium tracing, category `toplevel`) while `during`
 * runs, and measures its tasks: every top-level task (`ThreadControllerImpl::RunTask`) with its
 * wall time (`dur`) and thread CPU time (`tdur`, 1 ms resolution or better here). A task's CPU
 * time is taken as min(tdur, dur): CPU time cannot exceed wall time, and a few tasks here report a
 * tdur above their dur (an artefact of the thread clock). The longest CPU time is the longest
 * stretch of the page's own work on the main thread, which the OS preempting the thread for other
 * processes does not inflate — on a 2-core machine that runs a whole swarm, and other jobs, it does
 * inflate wall times and so PerformanceObserver's long tasks.
 */
export async function traceMainThread(browser: Browser, page: Page, during: () => Promise<void>): Promise<MainThreadTrace> {
  const dir = mkdtempSync(join(tmpdir(), 'masha-trace-'));
  const file = join(dir, 'trace.json');
  await browser.startTracing(page, { path: file, categories: ['toplevel'] });
  const t0 = Date.now();
  try {
    await during();
  } finally {
    await browser.stopTracing();
  }
  const tracedMs = Date.now() - t0;
  let raw: { traceEvents?: TraceEvent[] } | TraceEvent[];
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const events = Array.isArray(raw) ? raw : (raw.traceEvents ?? []);
  const main = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  let tasks = 0;
  let longestCpu = 0;
  let longestWall = 0;
  let busy = 0;
  for (const e of events) {
    if (e.ph !== 'X' || e.name !== 'ThreadControllerImpl::RunTask' || !main.has(`${e.pid}:${e.tid}`)) continue;
    const wall = (e.dur ?? 0) / 1000;
    const cpu = Math.min(wall, (e.tdur ?? 0) / 1000);
    tasks++;
    busy += cpu;
    longestCpu = Math.max(longestCpu, cpu);
    longestWall = Math.max(longestWall, wall);
  }
  if (main.size === 0 || tasks === 0) throw new Error(`the trace has no renderer main-thread task (${events.length} events)`);
  return { tasks, longestCpuMs: longestCpu, longestWallMs: longestWall, busyCpuMs: busy, tracedMs };
}

interface TraceEvent {
  readonly ph: string;
  readonly name: string;
  readonly pid: number;
  readonly tid: number;
  readonly dur?: number;
  readonly tdur?: number;
  readonly args?: { readonly name?: string };
}

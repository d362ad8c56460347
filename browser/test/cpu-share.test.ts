/**
 * The CPU-share governor (src/worker/cpu-share.ts): for every busy millisecond the worker owes
 * (1/share − 1) ms of idle time, paid off by the idle time that follows; the throttled evaluator
 * waits out what is owed before answering, capped at `maxDelayMs`. Exact arithmetic on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { CpuGovernor, RecentMean, ThrottledEvaluator } from '../src/worker/cpu-share.js';
import type { EvaluationRequest } from '@masha/protocol';

function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('CpuGovernor', () => {
  it('owes (1/share − 1) ms of idle per busy ms, paid off by idle time', () => {
    const c = fakeClock();
    const g = new CpuGovernor(0.25, c.now, 1_000);
    expect(g.delay(0)).toBe(0);
    g.account(0, 10); // 10 ms busy at 25 %: 30 ms idle owed
    expect(g.busyMs).toBe(10);
    expect(g.delay(10)).toBe(30);
    expect(g.delay(25)).toBe(15);
    expect(g.delay(40)).toBe(0);
    // Idle beyond what is owed does not bank credit.
    g.account(100, 104);
    expect(g.delay(104)).toBe(12);
    // Work before the debt is paid adds to what is left of it.
    g.account(110, 112);
    expect(g.delay(112)).toBe(6 + 6);
  });

  it('keeps the busy fraction at the share when every piece of work waits out its delay', () => {
    const c = fakeClock();
    for (const share of [0.1, 0.5, 0.8]) {
      const g = new CpuGovernor(share, c.now, 1e9);
      const start = c.now();
      for (let i = 0; i < 100; i++) {
        c.advance(g.delay(c.now()));
        g.run(() => c.advance(3 + (i % 5)));
      }
      c.advance(g.delay(c.now()));
      expect(g.busyMs / (c.now() - start)).toBeCloseTo(share, 12);
    }
  });

  it('counts nested work once and includes a span still running in the delay', () => {
    const c = fakeClock();
    const g = new CpuGovernor(0.5, c.now, 1_000);
    let inner = -1;
    g.run(() => {
      c.advance(4);
      g.run(() => c.advance(6));
      inner = g.delay(c.now());
    });
    expect(inner).toBe(10);
    expect(g.busyMs).toBe(10);
    expect(g.delay(c.now())).toBe(10);
  });

  it('caps the wait and clamps the share', () => {
    const c = fakeClock();
    const g = new CpuGovernor(0.1, c.now, 50);
    g.account(0, 100);
    expect(g.delay(100)).toBe(50);
    expect(CpuGovernor.clamp(0)).toBe(0.05);
    expect(CpuGovernor.clamp(2)).toBe(1);
    expect(CpuGovernor.clamp(Number.NaN)).toBe(1);
    const full = new CpuGovernor(1, c.now, 50);
    full.account(0, 100);
    expect(full.delay(100)).toBe(0);
  });
});

describe('ThrottledEvaluator', () => {
  const request: EvaluationRequest = { id: 1, iteration: 0, phase: 'diff', items: [] };

  it('answers at once when nothing is owed, later by the owed idle time otherwise', async () => {
    const c = fakeClock();
    const g = new CpuGovernor(0.5, c.now, 1_000);
    const inner = { evaluate: (_r: EvaluationRequest, done: (e: Error | null) => void) => done(null) };
    const ev = new ThrottledEvaluator(inner, g, c.now);
    let answered = false;
    ev.evaluate(request, () => (answered = true));
    expect(answered).toBe(true);
    g.account(0, 20); // 20 ms owed at 50 %
    let late: number | null = null;
    const t0 = performance.now();
    await new Promise<void>((resolve) =>
      ev.evaluate(request, () => {
        late = performance.now() - t0;
        resolve();
      }),
    );
    expect(late).not.toBeNull();
    expect(late!).toBeGreaterThanOrEqual(19);
  });

  it('drops the answers still waiting when cancelled, and passes errors through', async () => {
    const c = fakeClock();
    const g = new CpuGovernor(0.5, c.now, 1_000);
    g.account(0, 20);
    const failing = { evaluate: (_r: EvaluationRequest, done: (e: Error | null) => void) => done(new Error('no')) };
    const ev = new ThrottledEvaluator(failing, g, c.now);
    const seen: Array<string | null> = [];
    ev.evaluate(request, (e) => seen.push(e?.message ?? null));
    ev.cancel();
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([]);
    c.advance(100);
    ev.evaluate(request, (e) => seen.push(e?.message ?? null));
    expect(seen).toEqual(['no']);
  });
});

describe('RecentMean', () => {
  it('is the mean of the last n samples', () => {
    const m = new RecentMean(3);
    expect(m.value).toBeNull();
    for (const x of [1, 2, 3, 4]) m.add(x);
    expect(m.value).toBe(3);
  });
});

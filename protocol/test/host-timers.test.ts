import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TimerTable } from '../src/host/timers.js';

describe('TimerTable', () => {
  it('fires in (deadline, order of setting) order; re-setting replaces, clearing cancels', () => {
    const t = new TimerTable(['x', 'y', 'z', 'w']);
    t.set('x', 10);
    t.set('x', 30);
    t.set('y', 20);
    t.clear('y');
    t.set('z', 5);
    t.set('w', 30);
    expect(t.next()).toBe(5);
    expect(t.popDue(4)).toBe(null);
    expect(t.popDue(5)).toBe('z');
    expect(t.next()).toBe(30);
    expect(t.popDue(100)).toBe('x'); // set before w at the same deadline
    expect(t.popDue(100)).toBe('w');
    expect(t.popDue(100)).toBe(null);
    expect(t.next()).toBe(Number.POSITIVE_INFINITY);
    expect(() => t.set('v' as 'x', 1)).toThrow(RangeError);
  });

  it('next() and popDue agree with a brute-force model under random operations', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('set' as const), k: fc.integer({ min: 0, max: 5 }), t: fc.integer({ min: 0, max: 50 }) }),
            fc.record({ op: fc.constant('clear' as const), k: fc.integer({ min: 0, max: 5 }) }),
            fc.record({ op: fc.constant('pop' as const), now: fc.integer({ min: 0, max: 60 }) }),
          ),
          { maxLength: 80 },
        ),
        (ops) => {
          const table = new TimerTable<string>(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
          const model = new Map<string, { t: number; seq: number }>();
          let seq = 0;
          for (const o of ops) {
            if (o.op === 'set') {
              table.set(`k${o.k}`, o.t);
              model.set(`k${o.k}`, { t: o.t, seq: seq++ });
            } else if (o.op === 'clear') {
              table.clear(`k${o.k}`);
              model.delete(`k${o.k}`);
            } else {
              let best: string | null = null;
              for (const [k, e] of model) {
                if (e.t > o.now) continue;
                const b = best === null ? null : (model.get(best) as { t: number; seq: number });
                if (b === null || e.t < b.t || (e.t === b.t && e.seq < b.seq)) best = k;
              }
              if (best !== null) model.delete(best);
              expect(table.popDue(o.now)).toBe(best);
            }
            const min = Math.min(...[...model.values()].map((e) => e.t));
            expect(table.next()).toBe(model.size === 0 ? Number.POSITIVE_INFINITY : min);
          }
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });
});

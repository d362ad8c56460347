/**
 * Throughput-weighted assignment (assignment-weights.ts): with equal weights it is exactly the
 * even `rebalance`; with weights every peer's holdings are its quota 1 + (M − N)·w/W rounded down
 * or up, a repeat changes nothing, and only shards of departed or over-quota holders move; the
 * weights follow measured turnarounds, clamped to [¼, 4] × the median and held by a hysteresis.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebalance } from '../src/engine/assignment.js';
import { MAX_WEIGHT, MIN_WEIGHT, nextWeight, rebalanceWeighted, ThroughputWeights, WEIGHT_UNIT } from '../src/engine/assignment-weights.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`);

/** Holders drawn from a pool of peers (some of which may not be eligible), or none. */
const scenario = fc
  .record({
    M: fc.integer({ min: 1, max: 60 }),
    pool: fc.integer({ min: 1, max: 12 }),
    seedHolders: fc.array(fc.integer({ min: -1, max: 11 }), { minLength: 60, maxLength: 60 }),
    eligibleMask: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    weights: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 12, maxLength: 12 }),
  })
  .map(({ M, pool, seedHolders, eligibleMask, weights }) => {
    const peers = ids(pool);
    const holders = seedHolders.slice(0, M).map((h) => (h < 0 || h >= pool ? null : peers[h]));
    const eligible = peers.filter((_, i) => eligibleMask[i]);
    const weight = new Map(peers.map((p, i) => [p, weights[i]]));
    return { M, holders, eligible, weight };
  });

describe('throughput-weighted rebalance', () => {
  it('with equal weights it is exactly the even rebalance (same holders, same changes)', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 1, max: 16 }), ({ holders, eligible }, c) => {
        const a = holders.slice();
        const b = holders.slice();
        const ca = rebalance(a, eligible);
        const cb = rebalanceWeighted(b, eligible, () => c);
        expect(b).toEqual(a);
        expect(cb).toEqual(ca);
      }),
      { numRuns: 400, seed: 17 },
    );
  });

  it('holdings are the quotas 1 + (M − N)·w/W rounded down or up; idempotent; sticky', () => {
    fc.assert(
      fc.property(scenario, ({ M, holders, eligible, weight }) => {
        const N = eligible.length;
        const h = holders.slice();
        const wOf = (p: string): number => weight.get(p) ?? WEIGHT_UNIT;
        const changes = rebalanceWeighted(h, eligible, wOf);
        const count = new Map<string, number>();
        for (const x of h) if (x !== null) count.set(x, (count.get(x) ?? 0) + 1);
        if (N === 0) {
          expect(h.every((x) => x === null)).toBe(true);
          return;
        }
        expect(h.every((x) => x !== null && eligible.includes(x))).toBe(true);
        if (N < M) {
          const w = eligible.map((p) => Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, wOf(p))));
          const W = w.reduce((a, b) => a + b, 0);
          eligible.forEach((p, i) => {
            const q = 1 + ((M - N) * w[i]) / W;
            const n = count.get(p) ?? 0;
            expect(n).toBeGreaterThanOrEqual(Math.floor(q));
            expect(n).toBeLessThanOrEqual(Math.ceil(q));
          });
        }
        // A repeat moves nothing.
        const again = h.slice();
        expect(rebalanceWeighted(again, eligible, wOf)).toEqual([]);
        // Sticky: a shard that moved had no eligible holder, or its holder ended below what it held.
        const heldBefore = new Map<string, number>();
        for (const x of holders) if (x !== null) heldBefore.set(x, (heldBefore.get(x) ?? 0) + 1);
        for (const c of changes) {
          if (c.from === null || !eligible.includes(c.from)) continue;
          expect(count.get(c.from) ?? 0).toBeLessThan(heldBefore.get(c.from) ?? 0);
        }
      }),
      { numRuns: 400, seed: 23 },
    );
  });

  it('a 4× weight holds its quota: 24 shards over 4 peers weighted 16, 4, 4, 4', () => {
    const h = new Array<string | null>(24).fill(null);
    const [g, a, b, c] = ids(4);
    rebalanceWeighted(h, [g, a, b, c], (p) => (p === g ? 16 : 4));
    // Quotas: 1 + 20·16/28 = 12.43 and 1 + 20·4/28 = 3.86 → 12 and 4, 4, 4.
    const n = (p: string): number => h.filter((x) => x === p).length;
    expect([n(g), n(a), n(b), n(c)]).toEqual([12, 4, 4, 4]);
    // A weight above the cap counts as the cap.
    const h2 = new Array<string | null>(24).fill(null);
    rebalanceWeighted(h2, [g, a, b, c], (p) => (p === g ? 1e9 : 4));
    expect(h2).toEqual(h);
  });
});

describe('throughput weights', () => {
  it('weights follow the measured turnaround relative to the median, clamped to [¼, 4] × the median', () => {
    const t = new ThroughputWeights('agg');
    const members = new Set(['agg', 'fast', 'slow1', 'slow2', 'slow3', 'liar']);
    for (let round = 0; round < 6; round++) {
      const t0 = 1000 * round;
      t.open(t0);
      t.answered('agg', 4, t0); // the aggregator's own answers: never measured
      t.answered('fast', 4, t0 + 100); // 2.5× the slow peers' rate
      for (const s of ['slow1', 'slow2', 'slow3']) t.answered(s, 4, t0 + 250);
      t.answered('liar', 4, t0 + 0.001); // answers at once
      t.close(members);
    }
    expect(t.weightOf('agg')).toBe(WEIGHT_UNIT);
    expect(t.weightOf('fast')).toBe(10);
    expect(t.weightOf('slow1')).toBe(WEIGHT_UNIT);
    expect(t.weightOf('liar')).toBe(MAX_WEIGHT);
    expect(t.weightOf('unknown')).toBe(WEIGHT_UNIT);
    // A member that leaves is forgotten.
    t.open(9000);
    t.close(new Set(['agg', 'fast', 'slow1', 'slow2', 'slow3']));
    expect(t.rateOf('liar')).toBeNull();
  });

  it('hysteresis: a weight moves only when the ratio is at least 0.75 units away', () => {
    expect(nextWeight(4, 4.7)).toBe(4);
    expect(nextWeight(4, 3.3)).toBe(4);
    expect(nextWeight(4, 4.8)).toBe(5);
    expect(nextWeight(4, 100)).toBe(MAX_WEIGHT);
    expect(nextWeight(4, 0.01)).toBe(MIN_WEIGHT);
    expect(nextWeight(4, Number.POSITIVE_INFINITY)).toBe(MAX_WEIGHT);
  });
});

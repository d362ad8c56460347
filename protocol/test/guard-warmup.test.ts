// The running bounds' warm-up (engine/warmup-reference.ts): a (shard, phase) without a history of
// its own is judged at the commit against the lower median of the other shards' levels, with the
// factor CROSS_FACTOR; a lie is clipped to that reference and enters its history as it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CROSS_FACTOR, WarmupReference, type WarmHistory } from '../src/engine/warmup-reference.js';

/** A history that records what is pushed, with a fixed median once it has `count` entries. */
class Recorded implements WarmHistory {
  readonly pushed: number[] = [];
  constructor(
    private readonly settled: number | null = null,
    private readonly warmup = 3,
  ) {}
  get count(): number {
    return (this.settled === null ? 0 : this.warmup) + this.pushed.length;
  }
  median(): number {
    if (this.settled === null) throw new Error('no median during warm-up');
    return this.settled;
  }
  push(x: number): void {
    this.pushed.push(x);
  }
}

function settleRound(norms: readonly (number | null)[], order: readonly number[], settled: readonly (number | null)[] = []) {
  const M = norms.length;
  const w = new WarmupReference(M);
  const hs = Array.from({ length: M }, (_, m) => new Recorded(settled[m] ?? null));
  w.begin();
  for (const m of order) {
    const x = norms[m];
    if (x !== null && settled[m] == null) expect(w.defer(m, x).kind).toBe('defer');
  }
  const scales = w.settle((m) => hs[m], 3);
  return { scales: scales === null ? null : Array.from(scales), pushed: hs.map((h) => h.pushed), ratio: w.maxRatio };
}

describe('warm-up reference', () => {
  it('clips a ×10⁶ answer to the lower median of the other shards, which enters its history; honest ones pass as they are', () => {
    // Honest norms of 7 shards (heterogeneous: 0.5 … 4) and a liar on shard 2.
    const norms = [1, 2, 1e6, 0.5, 4, 1.5, 3, 2.5];
    const { scales, pushed, ratio } = settleRound(norms, [2, 0, 1, 3, 4, 5, 6, 7]);
    // Others of shard 2, sorted: 0.5 1 1.5 2 2.5 3 4 → lower median 2.
    expect(scales?.[2]).toBe(2 / 1e6);
    expect(pushed[2]).toEqual([2]);
    for (const m of [0, 1, 3, 4, 5, 6, 7]) {
      expect(scales?.[m]).toBe(1);
      expect(pushed[m]).toEqual([norms[m]]);
    }
    // Shard 4 (norm 4) against the others without it (0.5 1 1.5 2 2.5 3 1e6 → 2): ratio 2.
    expect(ratio).toBe(2);
  });

  it('lets an honest answer up to CROSS_FACTOR × the reference pass, and clips one just above', () => {
    const at = settleRound([1, 1, 1, CROSS_FACTOR], [0, 1, 2, 3]);
    expect(at.scales).toEqual([1, 1, 1, 1]);
    const above = settleRound([1, 1, 1, CROSS_FACTOR * 1.001], [0, 1, 2, 3]);
    expect(above.scales?.[3]).toBeCloseTo(1 / (CROSS_FACTOR * 1.001), 15);
    expect(above.pushed[3]).toEqual([1]);
  });

  it('gives the same verdicts whatever the arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(null), fc.double({ min: 1e-3, max: 1e7, noNaN: true })), { minLength: 1, maxLength: 12 }),
        fc.integer(),
        (norms, seed) => {
          const order = norms.map((_, m) => m);
          const shuffled = [...order].sort((a, b) => (((a + 1) * (seed | 1)) % 97) - (((b + 1) * (seed | 1)) % 97));
          expect(settleRound(norms, shuffled)).toEqual(settleRound(norms, order));
        },
      ),
      { seed: 7, numRuns: 300 },
    );
  });

  it('uses a warmed-up shard’s own median as its level, and accepts an answer with no level to compare (M ≤ 2)', () => {
    // Shards 0–2 are past warm-up (medians 3, 3, 3); shard 3 answers 1e6 in its warm-up: clipped to 3.
    const r = settleRound([null, null, null, 1e6], [3], [3, 3, 3, null]);
    expect(r.scales).toEqual([Number.NaN, Number.NaN, Number.NaN, 3 / 1e6]);
    expect(r.pushed).toEqual([[], [], [], [3]]);
    // A round with one judged answer and nothing warmed up: nothing to compare with.
    const alone = settleRound([1e6, null], [0]);
    expect(alone.scales).toEqual([1, Number.NaN]);
    expect(alone.pushed).toEqual([[1e6], []]);
    // Nothing deferred: no verdicts.
    expect(settleRound([null, null], []).scales).toBeNull();
  });

  it('forgets a round re-opened from scratch (begin)', () => {
    const w = new WarmupReference(3);
    const hs = [new Recorded(), new Recorded(), new Recorded()];
    w.begin();
    w.defer(0, 1e6);
    w.begin();
    w.defer(1, 1);
    w.defer(2, 2);
    expect(Array.from(w.settle((m) => hs[m], 3) ?? [])).toEqual([Number.NaN, 1, 1]);
    expect(hs.map((h) => h.pushed)).toEqual([[], [1], [2]]);
  });
});

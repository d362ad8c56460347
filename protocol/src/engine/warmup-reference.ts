/**
 * The running bounds' warm-up (guard.ts has the rule and its reasons): a (shard, phase) with fewer
 * than `warmup` norms in its history has no median of its own, so its answer is judged against the
 * other shards instead — with a generous factor, since shards are heterogeneous on purpose.
 *
 * Such an answer is *deferred*: its norm is recorded here when it arrives and its verdict is given
 * at the commit (`settle`), when the round's answers are all in — an attacker answers first (its
 * garbage needs no computing), so at its arrival there may be nothing to compare it with. At the
 * commit, shard m's reference is the lower median, over the other shards j ≠ m, of j's level: the
 * median of j's history when j is past its own warm-up, else j's norm in this round when it
 * answered. An answer above `CROSS_FACTOR`·reference is clipped to the reference itself (1×: the
 * factor tells a lie, it is not a size to grant one) and enters its history as the reference (a
 * liar cannot seed its shard's median); otherwise it enters as it is. With no positive reference
 * (a round with one judged answer and no warmed-up shard: M ≤ 2 where the aggregator
 * holds the other shard, or a quorum of one) it is accepted and enters as it is — unbounded, as
 * every warm-up answer was before. The verdicts depend only on the round's set of answers and the
 * histories, never on their arrival order, and deferred answers are added in ascending shard order
 * like all others (round-sum.ts), so the sum's bits do not depend on the arrival order either.
 */
import type { Verdict } from './guard.js';

/** A warm-up answer is clipped beyond this many times the other shards' level. */
export const CROSS_FACTOR = 64;

/** What settle needs of a (shard, phase) history (guard.ts's NormHistory). */
export interface WarmHistory {
  readonly count: number;
  median(): number;
  push(x: number): void;
}

export const DEFER: Verdict = { kind: 'defer' };

export class WarmupReference {
  /** This round's deferred norms per shard (NaN: none). */
  private readonly stat: Float64Array;
  /** Per shard: its level (see the module doc), NaN without one; then the levels sorted. */
  private readonly level: Float64Array;
  private readonly sorted: Float64Array;
  /** Per shard: the scale of its deferred answer (1: as it is; NaN: none deferred), and its reference. */
  private readonly scales: Float64Array;
  private readonly refs: Float64Array;
  private pending = 0;
  /** Largest norm / reference of a warm-up answer accepted against one (how close honest answers come to the factor). */
  maxRatio = 0;

  constructor(shards: number) {
    this.stat = new Float64Array(shards).fill(Number.NaN);
    this.level = new Float64Array(shards);
    this.sorted = new Float64Array(shards);
    this.scales = new Float64Array(shards).fill(Number.NaN);
    this.refs = new Float64Array(shards);
  }

  /** A new round (or a round re-opened from scratch): nothing deferred. */
  begin(): void {
    if (this.pending === 0) return;
    this.stat.fill(Number.NaN);
    this.pending = 0;
  }

  /** Shard m's answer of this round, of norm `stat`, waits for `settle`. */
  defer(m: number, stat: number): Verdict {
    if (Number.isNaN(this.stat[m])) this.pending++;
    this.stat[m] = stat;
    return DEFER;
  }

  /**
   * The verdicts of the round's deferred answers: per shard, the scale to add its answer with (1:
   * as it is, < 1: clipped, NaN: not deferred), or null when nothing was deferred. Pushes each
   * deferred norm (or the reference it was clipped to) into its history. The array is reused.
   */
  settle(history: (m: number) => WarmHistory | undefined, warmup: number): Float64Array | null {
    if (this.pending === 0) return null;
    const M = this.stat.length;
    const { stat, level, scales, refs } = this;
    let n = 0;
    for (let j = 0; j < M; j++) {
      const h = history(j);
      level[j] = Number.isNaN(stat[j]) && h !== undefined && h.count >= warmup ? h.median() : stat[j];
      if (!Number.isNaN(level[j])) this.sorted[n++] = level[j];
    }
    const sorted = this.sorted.subarray(0, n);
    sorted.sort();
    scales.fill(Number.NaN);
    for (let m = 0; m < M; m++) {
      const x = stat[m];
      if (Number.isNaN(x)) continue;
      // The lower median of the levels of the other shards (x is among the n sorted levels).
      const ref = n > 1 ? lowerMedianWithout(sorted, x) : 0;
      refs[m] = ref;
      const limit = CROSS_FACTOR * ref;
      if (!(ref > 0)) scales[m] = 1;
      else {
        scales[m] = x > limit ? ref / x : 1;
        if (x <= limit && x / ref > this.maxRatio) this.maxRatio = x / ref;
      }
    }
    for (let m = 0; m < M; m++) {
      if (Number.isNaN(stat[m])) continue;
      const h = history(m);
      // A clipped answer enters as the reference: a liar cannot seed its shard's median.
      h?.push(scales[m] < 1 ? refs[m] : stat[m]);
    }
    stat.fill(Number.NaN);
    this.pending = 0;
    return scales;
  }
}

/** The lower median of `sorted` (ascending, length ≥ 2) without one element equal to x. */
function lowerMedianWithout(sorted: Float64Array, x: number): number {
  // Position of an element equal to x (binary search: any one will do, they are equal).
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  const k = (sorted.length - 2) >> 1;
  return lo <= k ? sorted[k + 1] : sorted[k];
}

/**
 * Throughput-weighted shard assignment (issue 17; manifest `network.assignment: "throughput"`):
 * a peer that computes faster — a GPU peer — holds more shards, so that the holders' answers
 * arrive together instead of every round waiting for the slowest CPU.
 *
 * Measured, not reported: the aggregator times each holder's answers from the round's opening
 * (its own clock: OPEN broadcast or implicit opening by the previous COMMIT) to the arrival of the
 * holder's last evaluated answer of the round, and takes its rate as shards answered per ms of
 * that turnaround (fresh answers, which cost no work, do not count). The turnaround includes the
 * holder's network latency, so the weights tend to equalise when holders finish: where latency
 * dominates the compute, slow links count as slow peers. The rate is an exponential moving average
 * over committed rounds (α = 1/2).
 *
 * Every peer may lie (answer at once with garbage, or simply be an outlier): weights are small
 * integers relative to the median measured rate, WEIGHT_UNIT = the median, clamped to
 * [MIN_WEIGHT, MAX_WEIGHT] = [¼, 4] × the median, so no peer can hold more than about four times
 * the median peer's shards. A weight changes only when the measured ratio moves at least
 * HYSTERESIS units away from it (no shard ping-pong from measurement noise). Peers not measured
 * yet — and the aggregator itself, whose own answers take no network time — weigh the median.
 *
 * Balance and stickiness (`rebalanceWeighted`), generalising assignment.ts's rules: with N eligible
 * peers and M ≥ N shards, every peer holds at least one shard (so that its rate stays measured) and
 * the other M − N are shared in proportion to the weights — peer i's quota is
 * 1 + (M − N)·w_i/W, rounded down or up (largest remainders get the extra shards; peers already
 * above their floor keep theirs first). A shard keeps its holder while that holder is eligible
 * and not above its quota. With equal weights it is exactly `rebalance`. Deterministic: integer
 * arithmetic, peers in code-unit order of their ids.
 */
import { rebalance, type AssignmentChange } from './assignment.js';
import type { PeerId } from './types.js';

/** The median peer's weight; weights are integers in [MIN_WEIGHT, MAX_WEIGHT]. */
export const WEIGHT_UNIT = 4;
export const MIN_WEIGHT = 1;
/** 4 × the median: the most a peer can weigh, however fast it is (or claims to be by answering early). */
export const MAX_WEIGHT = 16;
/** A weight moves only when the measured ratio (in weight units) is this far from it. */
export const HYSTERESIS = 0.75;
/** Weight of the newest rate sample in the moving average. */
export const RATE_ALPHA = 0.5;
/** Turnarounds shorter than this (ms) count as this (a rate must stay finite). */
const MIN_TURNAROUND_MS = 1e-3;

interface RoundTally {
  shards: number;
  lastAt: number;
}

/** The aggregator's per-peer throughput estimates and their integer weights (one per epoch). */
export class ThroughputWeights {
  private openedAt = Number.NaN;
  private readonly tally = new Map<PeerId, RoundTally>();
  /** Moving average of shards answered per ms of turnaround. */
  private readonly rates = new Map<PeerId, number>();
  private readonly weights = new Map<PeerId, number>();

  constructor(private readonly self: PeerId) {}

  /** A round (or a new attempt of it) opens now: turnarounds count from here. */
  open(now: number): void {
    this.openedAt = now;
    this.tally.clear();
  }

  /** `shards` evaluated answers of `peer` were accepted now. */
  answered(peer: PeerId, shards: number, now: number): void {
    if (peer === this.self || !(shards > 0) || Number.isNaN(this.openedAt)) return;
    const t = this.tally.get(peer);
    if (t === undefined) this.tally.set(peer, { shards, lastAt: now });
    else {
      t.shards += shards;
      t.lastAt = now;
    }
  }

  /**
   * The round committed: folds its turnarounds into the rates and recomputes the weights of the
   * `members` (others are forgotten). True when some member's weight changed (rebalance then).
   */
  close(members: { has(id: PeerId): boolean }): boolean {
    for (const [peer, t] of this.tally) {
      const sample = t.shards / Math.max(MIN_TURNAROUND_MS, t.lastAt - this.openedAt);
      const old = this.rates.get(peer);
      this.rates.set(peer, old === undefined ? sample : old + RATE_ALPHA * (sample - old));
    }
    this.tally.clear();
    this.openedAt = Number.NaN;
    for (const peer of [...this.rates.keys()]) if (!members.has(peer)) this.rates.delete(peer);
    for (const peer of [...this.weights.keys()]) if (!members.has(peer)) this.weights.delete(peer);
    const median = medianOf([...this.rates.values()]);
    let changed = false;
    for (const [peer, rate] of this.rates) {
      const w = nextWeight(this.weights.get(peer) ?? WEIGHT_UNIT, (WEIGHT_UNIT * rate) / median);
      if (w !== (this.weights.get(peer) ?? WEIGHT_UNIT)) changed = true;
      this.weights.set(peer, w);
    }
    return changed;
  }

  /** The weight of `peer` (WEIGHT_UNIT when not measured, and for the aggregator itself). */
  weightOf(peer: PeerId): number {
    return peer === this.self ? WEIGHT_UNIT : (this.weights.get(peer) ?? WEIGHT_UNIT);
  }

  /** The measured rate of `peer` (shards per ms of turnaround), or null. */
  rateOf(peer: PeerId): number | null {
    return this.rates.get(peer) ?? null;
  }
}

/** The integer weight for a measured ratio `x` (in weight units), kept at `old` within the hysteresis. */
export function nextWeight(old: number, x: number): number {
  if (!Number.isFinite(x)) return MAX_WEIGHT;
  const clamped = Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, x));
  if (Math.abs(clamped - old) < HYSTERESIS) return old;
  return Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, Math.round(clamped)));
}

function medianOf(values: number[]): number {
  values.sort((a, b) => a - b);
  const n = values.length;
  if (n === 0) return 1;
  const m = n % 2 === 1 ? values[(n - 1) / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return m > 0 ? m : Number.MIN_VALUE;
}

/**
 * Rebalances `holders` in place over the `eligible` peers with integer weights (`weightOf`, each
 * clamped to [MIN_WEIGHT, MAX_WEIGHT]); returns the changes in ascending shard order. See the
 * module comment for the rules; with N ≥ M (a shard each at most) the weights play no part.
 */
export function rebalanceWeighted(holders: (string | null)[], eligible: Iterable<string>, weightOf: (peer: string) => number): AssignmentChange[] {
  const M = holders.length;
  const peers = [...new Set(eligible)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const N = peers.length;
  if (N === 0 || N >= M) return rebalance(holders, peers);
  const before = holders.slice();
  const w = peers.map((p) => {
    const x = Math.round(weightOf(p));
    return Number.isFinite(x) ? Math.min(MAX_WEIGHT, Math.max(MIN_WEIGHT, x)) : WEIGHT_UNIT;
  });
  let W = 0;
  for (const x of w) W += x;
  const R = M - N;
  const base = w.map((x) => 1 + Math.floor((R * x) / W));
  const rem = w.map((x) => (R * x) % W);
  let extra = M;
  for (const b of base) extra -= b;

  const index = new Map<string, number>();
  for (let i = 0; i < N; i++) index.set(peers[i], i);
  const lists: number[][] = peers.map(() => []);
  const pool: number[] = [];
  for (let m = 0; m < M; m++) {
    const h = holders[m];
    const i = h === null ? undefined : index.get(h);
    if (i === undefined) pool.push(m);
    else lists[i].push(m);
  }
  // The extra shards: to peers whose quota has a fractional part, those already above their floor
  // first (they keep a shard instead of moving one), then the larger remainders, then id order.
  const target = base.slice();
  const cands: number[] = [];
  for (let i = 0; i < N; i++) if (rem[i] > 0) cands.push(i);
  cands.sort((a, b) => {
    const sa = lists[a].length > base[a] ? 0 : 1;
    const sb = lists[b].length > base[b] ? 0 : 1;
    return sa - sb || rem[b] - rem[a] || a - b;
  });
  for (let k = 0; k < extra; k++) target[cands[k]]++;
  for (let i = 0; i < N; i++) while (lists[i].length > target[i]) pool.push(lists[i].pop() as number);
  pool.sort((a, b) => a - b);
  let next = 0;
  for (let i = 0; i < N && next < pool.length; i++) while (lists[i].length < base[i] && next < pool.length) lists[i].push(pool[next++]);
  for (let i = 0; i < N && next < pool.length; i++) while (lists[i].length < target[i] && next < pool.length) lists[i].push(pool[next++]);
  holders.fill(null);
  for (let i = 0; i < N; i++) for (const m of lists[i]) holders[m] = peers[i];
  const out: AssignmentChange[] = [];
  for (let m = 0; m < M; m++) if (before[m] !== holders[m]) out.push({ shard: m, from: before[m], to: holders[m] });
  return out;
}

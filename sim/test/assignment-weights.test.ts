/**
 * Throughput-weighted assignment in the simulator (issue 17, manifest `network.assignment:
 * "throughput"`): five peers on fast links (1 ms, 1 Gbit/s) where compute dominates — four CPU
 * peers at 100 ms per operator evaluation and one 2.5× faster (a GPU peer, 40 ms), M = 40 shards.
 *
 * Expected holdings: the aggregator measures each holder's rate from its turnarounds; weights are
 * integers with the median = 4, so the GPU peer weighs 10 (2.5 × 4), the CPU peers 4 (the
 * aggregator, never measured, 4 too); quotas 1 + (M − N)·w/W = 1 + 35·10/26 = 14.46 and
 * 1 + 35·4/26 = 6.38, each peer within one shard of its quota (floor or ceiling). Stickiness: the
 * only moves after the start are the ones the weights ask for (no shard moves back and forth).
 * A peer that answers at once (computeMs 0: infinitely fast, or lying with instant answers) weighs
 * at most 4× the median: 1 + 35·16/32 = 18.5 → 18 or 19 shards of 40, not all of them.
 */
import { describe, expect, it } from 'vitest';
import { parseManifest } from '@masha/protocol';
import { simulate } from '../src/run/simulate.js';
import { formatTrace, parseTrace, type TraceEvent } from '../src/trace/index.js';

const M = 40;

function manifest(assignment: 'even' | 'throughput') {
  return parseManifest({
    problem: { kind: 'bilinear', d: 10, M, seed: 1 },
    method: { name: 'masha1' },
    compressors: { device: 'randk:0.5' },
    stop: { iterations: 60 },
    network: { heartbeatMs: 1000, leaseMs: 20_000, roundDeadlineMs: 15_000, quorum: 1, assignment },
    seed: 3,
  });
}

/** One run with these peers' compute times (ms per evaluation); final holdings and the aggregator. */
function run(assignment: 'even' | 'throughput', computeMs: Record<string, number>) {
  const events: TraceEvent[] = Object.entries(computeMs).map(([peer, c]) => ({
    t: 0,
    event: 'join',
    peer,
    computeMs: c,
    latencyMs: 1,
    uplinkMbps: 1000,
    downlinkMbps: 1000,
  }));
  const r = simulate({ manifest: manifest(assignment), trace: parseTrace(formatTrace(events)) });
  const held = new Map(r.peers.map((p) => [p.id, p.snapshot().held.length]));
  const agg = r.peers.find((p) => p.snapshot().isAggregator)?.id ?? null;
  return { summary: r.summary, held, agg, moved: r.counters.get('reassigned-shards') ?? 0 };
}

/** Quota of each peer: 1 + (M − N)·w/W. */
function quotas(weights: Record<string, number>): Map<string, number> {
  const ids = Object.keys(weights);
  const W = ids.reduce((a, p) => a + weights[p], 0);
  return new Map(ids.map((p) => [p, 1 + ((M - ids.length) * weights[p]) / W]));
}

const CPU = { a: 100, b: 100, c: 100, d: 100 };

describe('throughput-weighted assignment in the simulator', () => {
  it('a 2.5× faster peer holds its weighted quota (±1 shard), the others theirs; only the needed shards move; rounds are shorter', () => {
    const even = run('even', { ...CPU, x: 40 });
    const weighted = run('throughput', { ...CPU, x: 40 });
    for (const r of [even, weighted]) {
      expect(r.summary.stop).toBe('done');
      expect(r.summary.consistent).toBe(true);
      expect([...r.held.values()].reduce((a, b) => a + b, 0)).toBe(M);
    }
    // Even: 8 each, whatever the speeds.
    expect([...even.held.values()]).toEqual([8, 8, 8, 8, 8]);
    expect(even.moved).toBe(M);
    // Weighted: the fast peer is not the aggregator here (the aggregator is never measured: weight 4).
    expect(weighted.agg).not.toBe('x');
    const q = quotas({ ...Object.fromEntries(Object.keys(CPU).map((p) => [p, 4])), x: 10 });
    for (const [peer, n] of weighted.held) {
      const quota = q.get(peer) as number;
      expect(n, peer).toBeGreaterThanOrEqual(Math.floor(quota));
      expect(n, peer).toBeLessThanOrEqual(Math.ceil(quota));
    }
    expect(weighted.held.get('x')).toBe(14);
    // Sticky: the start's 40 assignments, then exactly the 6 shards the fast peer gains (14 − 8).
    expect(weighted.moved).toBe(M + 6);
    // The rounds wait less for the slowest holder: a CPU peer holds at most 7 shards instead of 8
    // (7/8 of the round once the weights settle; simulated time, deterministic: here 0.90×).
    expect(weighted.summary.simSeconds).toBeLessThan(0.92 * even.summary.simSeconds);
  });

  it('a peer that answers at once is capped at 4× the median weight; equal peers stay even', () => {
    const liar = run('throughput', { ...CPU, x: 0 });
    expect(liar.summary.stop).toBe('done');
    expect(liar.agg).not.toBe('x');
    const cap = quotas({ ...Object.fromEntries(Object.keys(CPU).map((p) => [p, 4])), x: 16 }).get('x') as number;
    expect(cap).toBe(18.5);
    const n = liar.held.get('x') as number;
    expect(n).toBeGreaterThanOrEqual(Math.floor(cap));
    expect(n).toBeLessThanOrEqual(Math.ceil(cap));
    expect(liar.moved).toBe(M + (n - 8));
    const same = run('throughput', { ...CPU, x: 100 });
    expect([...same.held.values()]).toEqual([8, 8, 8, 8, 8]);
    expect(same.moved).toBe(M);
  });
});

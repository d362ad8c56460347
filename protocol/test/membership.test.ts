import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rebalance } from '../src/engine/assignment.js';
import { runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import { commitSequenceProblems, TestSwarm } from './engine-driver.js';

const peerId = fc.stringMatching(/^p[0-9]{1,3}$/);

/** A random assignment of M shards to peers drawn from `pool` (or none), and an eligible set. */
const scenario = fc.record({ M: fc.integer({ min: 1, max: 60 }), pool: fc.uniqueArray(peerId, { minLength: 1, maxLength: 20 }) }).chain(({ M, pool }) =>
  fc.record({
    M: fc.constant(M),
    holders: fc.array(fc.option(fc.constantFrom(...pool), { nil: null }), { minLength: M, maxLength: M }),
    eligible: fc.subarray(pool),
  }),
);

function counts(holders: readonly (string | null)[]): Map<string, number> {
  const c = new Map<string, number>();
  for (const h of holders) if (h !== null) c.set(h, (c.get(h) ?? 0) + 1);
  return c;
}

describe('shard assignment', () => {
  it('is balanced, complete, sticky and deterministic', () => {
    fc.assert(
      fc.property(scenario, ({ M, holders, eligible }) => {
        const before = holders.slice();
        const after = holders.slice();
        const changes = rebalance(after, eligible);
        const N = new Set(eligible).size;
        if (N === 0) return after.every((h) => h === null);
        // Complete: every shard has an eligible holder.
        for (const h of after) if (h === null || !eligible.includes(h)) return false;
        // Balanced: ⌊M/N⌋ or ⌈M/N⌉ each (peers with none count when M ≥ N).
        const c = counts(after);
        const lo = Math.floor(M / N);
        for (const p of new Set(eligible)) {
          const k = c.get(p) ?? 0;
          if (k < lo || k > Math.ceil(M / N)) return false;
        }
        // Sticky: a shard whose holder is still eligible moves only if that holder had more than ⌈M/N⌉.
        const cb = counts(before);
        for (let m = 0; m < M; m++) {
          const h = before[m];
          if (h !== null && eligible.includes(h) && after[m] !== h && (cb.get(h) ?? 0) <= lo) return false;
        }
        // The change list is exactly the diff.
        const diff = before.flatMap((h, m) => (h !== after[m] ? [m] : []));
        if (JSON.stringify(changes.map((x) => x.shard)) !== JSON.stringify(diff)) return false;
        // Deterministic, whatever the order of the eligible list.
        const again = holders.slice();
        rebalance(again, [...eligible].reverse());
        return JSON.stringify(again) === JSON.stringify(after);
      }),
      { numRuns: 500, seed: 4 },
    );
  });

  it('moves only the shards of departed peers when the rest stay balanced', () => {
    const holders = ['a', 'b', 'c', 'd', 'a', 'b', 'c', 'd'];
    const changes = rebalance(holders, ['a', 'b', 'c']);
    expect(changes.map((c) => c.shard)).toEqual([3, 7]);
    expect(changes.every((c) => c.from === 'd' && c.to !== null)).toBe(true);
    expect([...counts(holders).values()].sort()).toEqual([2, 3, 3]);
    // A joiner takes over only the excess.
    const more = rebalance(holders, ['a', 'b', 'c', 'e']);
    expect(more.length).toBe(2);
    expect(more.every((c) => c.to === 'e')).toBe(true);
  });
});

describe('membership and failure detection', () => {
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
    method: { name: 'masha1', gamma: 0.5 },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 5000, target: 1e-6 },
    network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
    seed: 5,
  });

  it('expires a silent member after its lease, not before', () => {
    const run = runFromManifest(manifest);
    let expiredAt = -1;
    const swarm = new TestSwarm(run, {
      onAction: (node, a) => {
        if (expiredAt < 0 && node.peer.isAggregator && a.type === 'metric' && a.name === 'member-expired') expiredAt = swarm.now;
      },
    });
    for (const id of ['p1', 'p2', 'p3', 'p4']) swarm.add(id, 0);
    swarm.run(500);
    const victim = swarm.alive().find((n) => !n.peer.isAggregator && n.peer.snapshot().held.length > 0);
    if (!victim) throw new Error('no victim');
    // The aggregator last heard the victim at most one round before the crash.
    swarm.crash(victim.id, 500);
    swarm.run(30_000, () => swarm.alive().every((n) => n.done !== null));
    expect(expiredAt).toBeGreaterThan(500 + 200 - 5);
    expect(expiredAt).toBeLessThan(500 + 200 + 100 + 5); // detected at the next round boundary (a deadline at most)
    expect(swarm.alive().every((n) => n.done === 'target')).toBe(true);
  });

  it('moves the shards of a peer that keeps missing deadlines (slow link) and converges', () => {
    const run = runFromManifest(manifest);
    let slow = '';
    let swarm: TestSwarm | null = null;
    swarm = new TestSwarm(run, { latency: (from) => (from === slow && (swarm as TestSwarm).now >= 500 ? 150 : 1) });
    for (const id of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) swarm.add(id, 0);
    swarm.run(499);
    // From t = 500 on, one shard holder's messages take 150 ms (the round deadline is 100 ms).
    const holder = swarm.alive().find((n) => !n.peer.isAggregator && n.peer.snapshot().held.length > 0);
    if (!holder) throw new Error('no holder');
    slow = holder.id;
    swarm.run(60_000, () => swarm.alive().every((n) => n.done !== null));
    const agg = swarm.aggregators()[0];
    // The slow peer still lives (its heartbeats arrive) but holds nothing once it missed twice;
    // its answers arrived after their rounds committed and were dropped and counted.
    expect(swarm.node(slow).peer.snapshot().held).toEqual([]);
    expect(agg.peer.counters['late-uplink']).toBeGreaterThan(0);
    expect(agg.peer.counters['reassigned-shards']).toBeGreaterThan(0);
    expect(swarm.alive().every((n) => n.done === 'target')).toBe(true);
    expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
    for (const n of swarm.alive()) expect(commitSequenceProblems(n)).toEqual([]);
  });
});

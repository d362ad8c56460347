// The aggregator's membership table is capped (RunContextInit.maxMembers): peers beyond the cap
// are not admitted (counted 'member-cap') until a member expires, and the run goes on.
import { describe, expect, it } from 'vitest';
import { parseManifest, runFromManifest } from './internals.js';
import { TestSwarm } from './engine-driver.js';

describe('membership cap', () => {
  it('admits at most maxMembers peers; the others wait, and get in once a member leaves', () => {
    const manifest = parseManifest({
      problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
      method: { name: 'masha1', gamma: 0.5 },
      compressors: { device: 'randk:0.25' },
      stop: { iterations: 1_000_000 },
      network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100, minPeers: 1 },
      seed: 5,
    });
    const swarm = new TestSwarm(runFromManifest(manifest, { context: { maxMembers: 3 } }));
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
    for (const id of ids) swarm.add(id, 0);
    swarm.run(1_500);
    const agg = swarm.aggregators()[0];
    const holders = swarm.alive().filter((n) => n.peer.snapshot().held.length > 0);
    expect(holders.length).toBeLessThanOrEqual(3);
    expect(agg.peer.counters['member-cap'] ?? 0).toBeGreaterThan(0);
    const before = agg.peer.committedRound;
    expect(before).toBeGreaterThan(10);
    // A holder leaves: after a lease its slot goes to one of the waiting peers.
    const leaver = holders.find((n) => n !== agg)!;
    swarm.crash(leaver.id);
    swarm.run(swarm.now + 1_500);
    const after = swarm.alive().filter((n) => n.peer.snapshot().held.length > 0);
    expect(after.some((n) => !holders.includes(n))).toBe(true);
    expect(after.length).toBeLessThanOrEqual(3);
    expect(agg.peer.committedRound).toBeGreaterThan(before);
  });
});

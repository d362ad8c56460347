// A device that hears of a commit before the commit itself (a small later message overtaking a
// large one on another relay path) waits syncGraceMs for it instead of asking the aggregator for a
// replay at once: at 10,000 peers, hundreds of such requests for the same large commit filled the
// aggregator's uplink, delayed its broadcasts past the lease and forced a needless election.
import { describe, expect, it } from 'vitest';
import { MSG, parseManifest, runFromManifest, type EngineMessage } from './internals.js';
import { TestSwarm } from './engine-driver.js';

/** commitDelayMs: how late every 7th commit reaches p3 (Infinity: never). */
function trial(commitDelayMs: number) {
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
    method: { name: 'masha1', gamma: 0.5 },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 150 },
    // A short deadline and a low quorum: the aggregator commits the next round without p3, whose
    // late commit is then overtaken by the next one.
    network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 10, quorum: 0.25, minPeers: 1 },
    seed: 5,
  });
  const run = runFromManifest(manifest);
  let delayed = 0;
  const swarm: TestSwarm = new TestSwarm(run, {
    // Every 7th commit reaches p3 late: the next commit (or an OPEN) tells it about the round first.
    latency: (_from, to, msg: EngineMessage) => {
      if (to !== 'p3' || msg.kind !== MSG.COMMIT || msg.round % 7 !== 0 || msg.round < 10) return 1;
      delayed++;
      return 1 + commitDelayMs;
    },
  });
  for (const id of ['p1', 'p2', 'p3', 'p4']) swarm.add(id, 0);
  swarm.run(60_000, () => swarm.alive().every((n) => n.done !== null));
  const p3 = swarm.node('p3');
  const digests = new Set(swarm.alive().map((n) => n.peer.snapshot().digest));
  return {
    delayed,
    counters: p3.peer.counters as Record<string, number>,
    rounds: p3.peer.committedRound,
    digests: digests.size,
    elections: p3.elections?.length,
  };
}

describe('sync grace', () => {
  it('a commit that is only late (within the grace) is waited for, not requested', () => {
    // Later than the 10 ms deadline (the next commit overtakes it), well within syncGraceMs
    // (= heartbeatMs = 50 ms), and not so late that p3 falls more than two commits behind.
    const r = trial(15);
    expect(r.delayed, JSON.stringify(r)).toBeGreaterThan(5);
    expect(r.counters['early-commit-applied'] ?? 0, JSON.stringify(r)).toBeGreaterThan(0); // it was overtaken
    expect(r.counters['sync-request'] ?? 0, JSON.stringify(r)).toBe(0);
    expect(r.counters['sync-after-grace'] ?? 0).toBe(0);
    expect(r.digests).toBe(1);
  });

  it('a commit that never comes is fetched: p3 ends on the same state as everyone', () => {
    const r = trial(Infinity);
    expect(r.delayed).toBeGreaterThan(5);
    expect(r.counters['sync-request'] ?? 0, JSON.stringify(r)).toBeGreaterThan(0);
    expect(r.counters['replay-applied'] ?? 0, JSON.stringify(r)).toBeGreaterThan(0);
    expect(r.digests).toBe(1);
  });
});

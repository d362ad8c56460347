// A volunteer that joins a run moving at full speed: its snapshot is a few rounds old by the time
// it is installed. It must catch up with a replay at once, not wait a sync timeout per snapshot
// while the run outpaces the serving peer's commit log (seen in the multi-process churn test).
import { describe, expect, it } from 'vitest';
import { MSG, parseManifest, runFromManifest, type EngineMessage } from './internals.js';
import { TestSwarm } from './engine-driver.js';

function setup() {
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
    method: { name: 'masha1', gamma: 0.5 },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 5000, target: 1e-6 },
    network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100, minPeers: 1 },
    seed: 5,
  });
  return runFromManifest(manifest);
}

function trial(stateDelay: number) {
  const swarm: TestSwarm = new TestSwarm(setup(), {
    latency: (_from, to, msg: EngineMessage) => (to === 'p9' && msg.kind === MSG.STATE ? 1 + stateDelay : 1),
  });
  for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
  swarm.run(600);
  swarm.add('p9', 600);
  let firstHeld = -1;
  let firstCommit = -1;
  swarm.run(30_000, () => {
    const j = swarm.nodes.get('p9');
    if (j && firstHeld < 0 && j.peer.snapshot().held.length > 0) firstHeld = swarm.now;
    if (j && firstCommit < 0 && j.commits.length > 0) firstCommit = swarm.now;
    return swarm.alive().every((n) => n.done !== null);
  });
  const j = swarm.node('p9');
  const roundsTotal = Math.max(...swarm.alive().map((n) => n.peer.committedRound));
  return { stateDelay, end: swarm.now, roundsTotal, firstHeld, firstCommit, joinerCommits: j.commits.length, counters: j.peer.counters };
}

describe('a joiner whose snapshot arrives after the swarm moved on', () => {
  it.each([5, 20, 40])('catches up by replay and contributes (snapshot delayed %i ms)', (delay) => {
    const r = trial(delay);
    const c = r.counters as Record<string, number>;
    // It applies commits of its own and gets shards, after a single snapshot.
    expect(r.joinerCommits, JSON.stringify(r)).toBeGreaterThan(50);
    expect(r.firstHeld, JSON.stringify(r)).toBeGreaterThan(0);
    expect(c['state-installed'] ?? 0, JSON.stringify(c)).toBe(1);
    expect(c['sync-timeout'] ?? 0, JSON.stringify(c)).toBe(0);
  });
});

/**
 * A volunteer that poisons the aggregate, on a real swarm (issue 14): while 4 `masha join`
 * processes solve the run, a fifth volunteer — a real engine and Node driver in this test process,
 * joined over libp2p like any other — answers with every operator value multiplied by 10³⁰ (a
 * well-formed answer that passes every decoder). Its answers cross the uplink streams to whoever
 * aggregates; the aggregator refuses them against the problem's Lipschitz bound, each refusal
 * benches the attacker (its shards move), the second (`refusalLimit` 2 here, so that the ban comes
 * well within the run) bans it for the run, and the run reaches its target on the
 * reference lineage. (While the attacker itself aggregates it answers honestly: a lying aggregator
 * is the business of signed commits and certified epochs, not of bounds.)
 */
import { describe, expect, it } from 'vitest';
import { parseManifest, runFromManifest } from '@masha/protocol';
import { ProblemEvaluator } from '@masha/protocol/host';
import { checkLineage, testManifest } from './swarm-helpers.js';
import { attackedSwarm } from './swarm-attacker.js';

const PEERS = 4;

describe('a volunteer answering with values ×1e30', () => {
  const { swarm, joinAttacker } = attackedSwarm();

  it('is refused, banned after its second refusal, and the run reaches its target', async () => {
    // A short lease (benches are leases long) and a far target: the attacker joins once the run is
    // under way (so that an honest volunteer aggregates) and is banned well before the end.
    const base = testManifest({ stop: { iterations: 4_000, target: 1e-10 }, network: { heartbeatMs: 300, leaseMs: 1_500 } });
    const { path, runId } = swarm.writeManifest(parseManifest({ ...base, updates: { refusalLimit: 2 } }));
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);
    // The attacker listens from the start (announcements are every second only until the first
    // commit) and joins once the run is under way, so that an honest volunteer aggregates.
    const attacker = await joinAttacker(runId, 1e30, 5, (manifest) => {
      const run = runFromManifest(manifest);
      return { ctx: run.ctx, honest: new ProblemEvaluator(run.problem) };
    });

    const { code, summary } = await launcher.summary();
    expect(attacker.lies()).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    await Promise.all(swarm.volunteers.map((v) => v.child.exited));
    const total = (name: string): number => swarm.volunteers.reduce((s, v) => s + (v.exit?.status.counters[name] ?? 0), 0);
    for (const v of swarm.volunteers) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }
    // Refused against the bound (refusalLimit = 2 times by the aggregator that met it), then banned.
    expect(total('out-of-bound')).toBeGreaterThanOrEqual(2);
    expect(total('banned')).toBeGreaterThanOrEqual(1);
    const logs = swarm.peerLogs(runId);
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);
  });
});

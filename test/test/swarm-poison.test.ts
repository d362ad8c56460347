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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSwarm, PeerDriver, RunDirectory, type SwarmTransport } from '@masha/node';
import { parseManifest, runFromManifest } from '@masha/protocol';
import { ProblemEvaluator } from '@masha/protocol/host';
import type { Evaluator } from '@masha/protocol/ports';
import { checkLineage, testManifest, TestSwarm } from './swarm-helpers.js';

const PEERS = 4;

describe('a volunteer answering with values ×1e30', () => {
  const swarm = new TestSwarm();
  let transport: SwarmTransport | null = null;
  let attacker: PeerDriver | null = null;

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    attacker?.stop();
    await transport?.close().catch(() => {});
    await swarm.stop();
  });

  it('is refused, banned after its second refusal, and the run reaches its target', async () => {
    // A short lease (benches are leases long) and a far target: the attacker joins once the run is
    // under way (so that an honest volunteer aggregates) and is banned well before the end.
    const base = testManifest({ stop: { iterations: 4_000, target: 1e-10 }, network: { heartbeatMs: 300, leaseMs: 1_500 } });
    const { path, runId } = swarm.writeManifest(parseManifest({ ...base, updates: { refusalLimit: 2 } }));
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);
    // The attacker hears the run's announcement while the run starts (the launcher announces every
    // second until its first commit, then every 5 s), and joins once it is under way.
    const t = await connectSwarm({ relays: [swarm.relayAddr] });
    transport = t;
    const directory = new RunDirectory(t).start();
    const announcement = await directory.waitFor(
      (a) => a.runId === runId,
      240_000,
      () => new Error('the run was not announced'),
    );
    directory.stop();
    await swarm.waitFor(() => swarm.round() >= 5, 240_000, 'the run to start');
    const run = runFromManifest(announcement.manifest);
    const honest = new ProblemEvaluator(run.problem);
    let lies = 0;
    const lying: Evaluator = {
      evaluate(request, complete) {
        honest.evaluate(request, (err) => {
          if (err === null && !(attacker?.host.engine.isAggregator ?? false)) {
            lies++;
            for (const item of request.items) for (const e of item.evaluations) for (let i = 0; i < e.value.length; i++) e.value[i] *= 1e30;
          }
          complete(err);
        });
      },
    };
    attacker = new PeerDriver({
      transport: t,
      ctx: run.ctx,
      evaluator: lying,
      frameBytes: announcement.manifest.network.frameBytes,
      role: 'volunteer',
      statusIntervalMs: 1000,
    });
    attacker.start();

    const { code, summary } = await launcher.summary();
    expect(lies).toBeGreaterThan(0);
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

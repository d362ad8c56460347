/**
 * A volunteer that poisons a model run, on a real swarm (issue 14, running bounds): while 4
 * `masha join` processes train the pure-TypeScript softmax model, a fifth volunteer — a real engine
 * and Node driver in this test process, joined over libp2p like any other — answers with every
 * value ×10⁶ (well-formed answers that pass every decoder). A model has no Lipschitz constant, so
 * the aggregator bounds answers by the running bounds (the manifest leaves `updates` out: a model
 * run's default): each of the attacker's answers is clipped to 8× its shard's recent median, and the
 * run completes with a trained model. (A small stepsize, γ = 0.2: the attacker may hold 2 of the 8
 * shards, and two lies clipped at 8× with γ = 0.5 still diverged this run — see guard.ts. Without the
 * bound the simulator shows the run diverging,
 * sim/test/model-guard.test.ts. While the attacker itself aggregates it answers honestly: a lying
 * aggregator is the business of signed commits and certified epochs, not of bounds.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelRunFromManifest, parseManifest } from '@masha/protocol';
import { OperatorEvaluator, SoftmaxOperator } from '@masha/protocol/model';
import { checkLineage, TestSwarm } from './swarm-helpers.js';
import { joinScalingAttacker, type Attacker } from './swarm-attacker.js';

const PEERS = 4;
const ITERATIONS = 1_500;

interface ModelJson {
  final: { loss: number; accuracy: number } | null;
}

describe('a volunteer answering a model run with values ×1e6', () => {
  const swarm = new TestSwarm();
  let attacker: Attacker | null = null;

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await attacker?.stop();
    await swarm.stop();
  });

  it('is clipped by the running bounds, and the run completes with a trained model', async () => {
    const manifest = parseManifest({
      problem: { kind: 'softmax', features: 24, classes: 4, shards: 2 * PEERS },
      method: { name: 'masha1', gamma: 0.2 },
      compressors: { device: 'identity' },
      stop: { iterations: ITERATIONS },
      network: { heartbeatMs: 300, leaseMs: 1_500, roundDeadlineMs: 1_000, quorum: 1, minPeers: 2 },
      seed: 3,
    });
    const { path, runId } = swarm.writeManifest(manifest);
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);
    // The attacker joins at round 100, as the simulator's sleeper starts lying at iteration 100: a
    // running bound needs its shards' history (an attacker present from round 5 held the medians
    // itself and brought the final accuracy to 0.405 — audits, not bounds, are the defence there).
    attacker = await joinScalingAttacker(swarm, runId, 1e6, 100, (m) => {
      const run = modelRunFromManifest(m);
      if (run.task.kind !== 'softmax') throw new Error('a softmax run expected');
      return { ctx: run.ctx, honest: new OperatorEvaluator(new SoftmaxOperator(run.task.task)) };
    });

    const { code, summary } = await launcher.summary();
    expect(attacker.lies()).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(summary.stop).toBe('done:iterations');
    expect(summary.consistent).toBe(true);
    await Promise.all(swarm.volunteers.map((v) => v.child.exited));
    const total = (name: string): number => swarm.volunteers.reduce((s, v) => s + (v.exit?.status.counters[name] ?? 0), 0);
    for (const v of swarm.volunteers) {
      expect(v.exit?.reason).toBe('done:iterations');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }
    // The attacker's answers reached an aggregator and were clipped there (its own answers, while it
    // aggregates, are honest and not judged).
    expect(total('clipped')).toBeGreaterThan(0);
    console.log(`clipped ${total('clipped')} of the attacker's ${attacker.lies()} answers`);
    const logs = swarm.peerLogs(runId);
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);
    // Trained: the honest run of this manifest (simulated, no attacker) ends at test accuracy 0.7625
    // and loss 0.633 (4 classes: chance is 0.25); a diverged one ends near chance with a huge loss.
    // Measured here: 0.7425 and 0.710 with all 1,522 of the attacker's answers clipped — the clipped
    // lies (8× their shards' median) still bias the run a little.
    const model = swarm.readJson<ModelJson>(runId, 'model.json');
    expect(model.final).not.toBeNull();
    console.log(`final ${JSON.stringify(model.final)}`);
    expect(model.final?.accuracy).toBeGreaterThan(0.7);
    expect(model.final?.loss).toBeLessThan(1);
  }, 300_000);
});

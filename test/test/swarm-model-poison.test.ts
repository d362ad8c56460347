/**
 * A volunteer that poisons a model run, on a real swarm (issue 14, running bounds): while 4
 * `masha join` processes train the pure-TypeScript softmax model, a fifth volunteer — a real engine
 * and Node driver in this test process, joined over libp2p like any other — answers with every
 * value ×10⁶ (well-formed answers that pass every decoder). A model has no Lipschitz constant, so
 * the aggregator bounds answers by the running bounds (the manifest leaves `updates` out: a model
 * run's default): each of the attacker's answers is clipped — to 8× its shard's recent median, or,
 * in a shard's warm-up (its first answers of a phase at an aggregator), to the other shards' level —
 * and the run completes with a trained model. (A small stepsize, γ = 0.2: the attacker may hold 2 of
 * the 8 shards, and two lies clipped at 8× with γ = 0.5 still diverged this run — see guard.ts.
 * Without the bound the simulator shows the run diverging, sim/test/model-guard.test.ts. While the
 * attacker itself aggregates it answers honestly: a lying aggregator is the business of signed
 * commits and certified epochs, not of bounds.)
 *
 * Measured (honest: 0.7625 / 0.633). Joined at round 100: every answer clipped, 0.7425 / 0.700 and
 * 0.745 / 0.713. Joined at round 5, before warm-up answers were judged against the other shards: 2
 * of 4 runs diverged (accuracy 0.3075 and 0.295, loss ~10³⁶; an earlier run 0.405), 2 trained
 * (0.7375 / 0.740, 0.73 / 0.759) — it depended on whether the attacker's shards were still in
 * warm-up when it got them; with them: 6 of 6 runs trained, 0.73–0.7475 / 0.698–0.808, every one of
 * the attacker's answers clipped and no other answer. (Joined at round 0: 2 of 2 runs diverged
 * before (0.5325 and 0.615, loss ~10³⁷); with them, 2 runs: 0.695 and 0.7025 / 0.87–0.88 — clipped
 * all along at 8× its shards' early median, one shard of eight biases the run more: audits are the
 * cure. Not a case here: it sits at this test's 0.7 threshold.)
 */
import { describe, expect, it } from 'vitest';
import { modelRunFromManifest, parseManifest } from '@masha/protocol';
import { OperatorEvaluator, SoftmaxOperator } from '@masha/protocol/model';
import { checkLineage } from './swarm-helpers.js';
import { attackedSwarm } from './swarm-attacker.js';

const PEERS = 4;
const ITERATIONS = 1_500;

interface ModelJson {
  final: { loss: number; accuracy: number } | null;
}

/**
 * When the attacker joins: round 100, as the simulator's sleeper starts lying at iteration 100 (its
 * shards' histories long formed), and round 5 (a shard's first answers of a phase, and every
 * phase's first rounds at a new aggregator, are its warm-up: judged against the other shards).
 */
for (const joinAt of [100, 5]) {
  describe(`a volunteer answering a model run with values ×1e6 from round ${joinAt}`, () => {
    const { swarm, joinAttacker } = attackedSwarm();

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
      const attacker = await joinAttacker(runId, 1e6, joinAt, (m) => {
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
      // The attacker's answers reached an aggregator and were clipped there (its own answers, while
      // it aggregates, are honest and not judged).
      expect(total('clipped')).toBeGreaterThan(0);
      console.log(`clipped ${total('clipped')} of the attacker's ${attacker.lies()} answers`);
      const logs = swarm.peerLogs(runId);
      logs.set('launcher', swarm.launcherLog(runId));
      expect(checkLineage(logs).problems).toEqual([]);
      // Trained: the honest run of this manifest (simulated, no attacker) ends at test accuracy 0.7625
      // and loss 0.633 (4 classes: chance is 0.25); a diverged one ends near chance with a huge loss.
      // Measured (see the file's doc) 0.73–0.7475 and 0.70–0.81: the clipped lies (8× their shards'
      // median) still bias the run a little.
      const model = swarm.readJson<ModelJson>(runId, 'model.json');
      expect(model.final).not.toBeNull();
      console.log(`final ${JSON.stringify(model.final)}`);
      expect(model.final?.accuracy).toBeGreaterThan(0.7);
      expect(model.final?.loss).toBeLessThan(1);
    }, 300_000);
  });
}

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
import { connectSwarm, PeerDriver, RunDirectory, type SwarmTransport } from '@masha/node';
import { modelRunFromManifest, parseManifest } from '@masha/protocol';
import { OperatorEvaluator, SoftmaxOperator } from '@masha/protocol/model';
import type { Evaluator } from '@masha/protocol/ports';
import { checkLineage, TestSwarm } from './swarm-helpers.js';

const PEERS = 4;
const ITERATIONS = 1_500;

interface ModelJson {
  final: { loss: number; accuracy: number } | null;
}

describe('a volunteer answering a model run with values ×1e6', () => {
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
    await swarm.waitFor(() => swarm.round() >= 5, 240_000, 'the run to start');

    const t = await connectSwarm({ relays: [swarm.relayAddr] });
    transport = t;
    const directory = new RunDirectory(t).start();
    const announcement = await directory.waitFor(
      (a) => a.runId === runId,
      240_000,
      () => new Error('the run was not announced'),
    );
    directory.stop();
    const run = modelRunFromManifest(announcement.manifest);
    if (run.task.kind !== 'softmax') throw new Error('a softmax run expected');
    const honest = new OperatorEvaluator(new SoftmaxOperator(run.task.task));
    let lies = 0;
    const lying: Evaluator = {
      evaluate(request, complete) {
        honest.evaluate(request, (err) => {
          if (err === null && !(attacker?.host.engine.isAggregator ?? false)) {
            lies++;
            // A 'diff' answer's two evaluations share one buffer: scale each buffer once.
            const seen = new Set<Float32Array | Float64Array>();
            for (const item of request.items)
              for (const e of item.evaluations) {
                if (seen.has(e.value)) continue;
                seen.add(e.value);
                for (let i = 0; i < e.value.length; i++) e.value[i] *= 1e6;
              }
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
    console.log(`clipped ${total('clipped')} of the attacker's ${lies} answers`);
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

/**
 * Model runs in the simulator: the engine trains the softmax model on simulated peers bit for bit
 * like the reference runner, and compressed setups make a bandwidth-limited round shorter.
 */
import { describe, expect, it } from 'vitest';
import { modelRunFromManifest, parseManifest, type ManifestInput } from '@masha/protocol';
import { ModelReferenceDriver, OperatorEvaluator, SoftmaxOperator } from '@masha/protocol/model';
import type { EvaluationRequest } from '@masha/protocol';
import type { Evaluator } from '@masha/protocol/ports';
import { simulateTiming } from '../src/repro/adversarial.js';
import type { SimCpu } from '../src/des/node.js';

function manifest(device: string, iterations = 15): ReturnType<typeof parseManifest> {
  return parseManifest({
    problem: { kind: 'softmax', features: 128, classes: 32, shards: 4, adversarial: { epsilon: 0.5, steps: 2, stepSize: 0.3 } },
    method: { name: 'masha2', optimizer: { name: 'lamb', lr: 0.1 } },
    compressors: { device, server: device },
    stop: { iterations },
    network: { heartbeatMs: 200, leaseMs: 5_000, roundDeadlineMs: 5_000, quorum: 1, minPeers: 4 },
    seed: 2,
  } satisfies ManifestInput);
}

/** The softmax operator, each evaluation charged to the simulated CPU. */
function charged(op: SoftmaxOperator, cpu: SimCpu): Evaluator {
  const inner = new OperatorEvaluator(op);
  return {
    evaluate(request: EvaluationRequest, complete: (e: Error | null) => void): void {
      cpu.charge(request.items.reduce((n, i) => n + i.evaluations.length, 0));
      inner.evaluate(request, complete);
    },
  };
}

const LINK = { computeMs: 5, uplinkMbps: 1, downlinkMbps: 1, latencyMs: 5, jitterMs: 0, loss: 0 };

describe('model runs in the simulator', () => {
  it('4 simulated peers train the softmax model to the reference runner’s parameters, bit for bit', async () => {
    const m = manifest('powersgd:r=2,min=1000');
    const run = modelRunFromManifest(m);
    const task = run.task.kind === 'softmax' ? run.task.task : null;
    if (task === null) throw new Error('softmax run expected');
    const sim = simulateTiming(run, LINK, 4, 1, (cpu) => charged(new SoftmaxOperator(task), cpu));
    const op = new SoftmaxOperator(task);
    const ref = new ModelReferenceDriver(modelRunFromManifest(m).method, op, run.w0);
    await ref.runIteration();
    const l0 = op.loss(ref.replica.vectors.z).loss;
    for (let k = 0; k < 15; k++) await ref.runIteration();
    expect(op.loss(ref.replica.vectors.z).loss).toBeLessThan(0.9 * l0);
    expect(sim.peers.length).toBe(4);
    for (const h of sim.peers) {
      expect(h.engine.replica.iteration).toBe(15);
      expect(Array.from(h.engine.replica.vectors.z)).toEqual(Array.from(ref.replica.vectors.z));
    }
  });

  it('at 1 Mbit/s a compressed round is shorter: identity > mixed 8-bit > PowerSGD', () => {
    const secs = ['identity', 'int8:min=1000', 'powersgd:r=2,min=1000'].map((spec) => {
      const t = simulateTiming(modelRunFromManifest(manifest(spec, 4)), LINK, 4, 1);
      return t.diff.reduce((a, b) => a + b, 0) / t.diff.length;
    });
    expect(secs[0]).toBeGreaterThan(secs[1]);
    expect(secs[1]).toBeGreaterThan(secs[2]);
    // 16,416 float32 parameters each way: ≥ 0.13 s per transfer at 1 Mbit/s; PowerSGD sends ~1/20 of it.
    expect(secs[0] / secs[2]).toBeGreaterThan(4);
  });
});

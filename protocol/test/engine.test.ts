import { describe, expect, it } from 'vitest';
import { buildRun, runFromManifest } from '../src/manifest/build.js';
import { parseManifest, type ManifestInput } from '../src/manifest/schema.js';
import { ReferenceDriver } from '../src/runner/reference.js';
import { commitSequenceProblems, TestSwarm } from './engine-driver.js';

function manifest(over: Partial<ManifestInput> = {}) {
  return parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 4, seed: 3 },
    method: { name: 'masha1' },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 40 },
    network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
    seed: 5,
    ...over,
  });
}

/** The reference runner's z after each iteration (bit patterns). */
function referenceTrajectory(m: ReturnType<typeof manifest>, iterations: number): Float64Array[] {
  const built = buildRun(m);
  const driver = new ReferenceDriver(built.method, built.problem, built.problem.initialPoint());
  driver.initialize();
  const out: Float64Array[] = [];
  for (let k = 0; k < iterations; k++) {
    driver.runIteration();
    out.push(built.method.iterate(driver.replica).slice());
  }
  return out;
}

describe('engine without churn, every method', () => {
  const cases: [string, Partial<ManifestInput>][] = [
    ['masha2 + topk', { method: { name: 'masha2', gamma: 0.3 }, compressors: { device: 'topk:0.25' } }],
    ['masha1 + dither, server randk', { method: { name: 'masha1', gamma: 0.2 }, compressors: { device: 'dither:p=2,s=8', server: 'randk:0.5' } }],
    ['eg', { method: { name: 'eg', gamma: 0.2 }, compressors: { device: 'identity' } }],
    ['qeg + natural', { method: { name: 'qeg', gamma: 0.2 }, compressors: { device: 'natural' } }],
    ['qgda + dither', { method: { name: 'qgda', gamma: 0.01 }, compressors: { device: 'dither:p=2,s=8' } }],
    ['ef-gda + topk', { method: { name: 'ef-gda', gamma: 0.01 }, compressors: { device: 'topk:0.3' } }],
    [
      'marina + permk (quadratic)',
      { problem: { kind: 'quadratic', d: 12, n: 4, s: 0.2, seed: 2 }, method: { name: 'marina', gamma: 0.5 }, compressors: { device: 'permk' } },
    ],
  ];
  for (const [name, over] of cases) {
    it(`${name}: iterates equal the reference runner's bit for bit`, () => {
      const m = manifest({ stop: { iterations: 25 }, ...over });
      const run = runFromManifest(m);
      const K = m.stop.iterations;
      const trajectory: Float64Array[] = [];
      const swarm = new TestSwarm(run, {
        onAction: (node) => {
          if (node.id !== 'p2') return;
          const r = node.peer.replica;
          if (r.initialized && r.iteration > trajectory.length) trajectory.push(Float64Array.from(run.ctx.method.iterate(r)));
        },
      });
      for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
      swarm.run(60_000, () => swarm.alive().every((n) => n.done !== null));
      const ref = referenceTrajectory(m, K);
      expect(trajectory.length).toBe(K);
      for (let k = 0; k < K; k++) expect(Array.from(trajectory[k])).toEqual(Array.from(ref[k]));
      expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
    });
  }
});

describe('engine without churn', () => {
  for (const wire of ['default frames', 'frames'] as const) {
    it(`reproduces the reference runner bit for bit (MASHA1 + RandK, 3 peers, 4 shards, ${wire})`, () => {
      const m = manifest();
      const run = runFromManifest(m);
      const K = m.stop.iterations;
      const trajectory: Float64Array[] = [];
      const swarm = new TestSwarm(run, {
        ...(wire === 'frames' ? { frameSize: 512 } : {}),
        onAction: (node) => {
          if (node.id !== 'p1') return;
          const r = node.peer.replica;
          if (r.initialized && r.iteration > trajectory.length) trajectory.push(Float64Array.from(run.ctx.method.iterate(r)));
        },
      });
      for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
      swarm.run(60_000, () => swarm.alive().every((n) => n.done !== null));
      const ref = referenceTrajectory(m, K);
      expect(trajectory.length).toBe(K);
      for (let k = 0; k < K; k++) expect(Array.from(trajectory[k])).toEqual(Array.from(ref[k]));
      const digests = new Set(swarm.alive().map((n) => n.peer.digestHex));
      expect(digests.size).toBe(1);
      for (const n of swarm.alive()) {
        expect(n.done).toBe('iterations');
        expect(Array.from(run.ctx.method.iterate(n.peer.replica))).toEqual(Array.from(ref[K - 1]));
        expect(commitSequenceProblems(n)).toEqual([]);
        expect(n.peer.counters['stale-epoch'] ?? 0).toBe(0);
      }
      // One election (bootstrap), one aggregator.
      expect(new Set(swarm.alive().flatMap((n) => n.elections.map((e) => `${e.epoch}:${e.aggregator}`))).size).toBe(1);
    });
  }
});

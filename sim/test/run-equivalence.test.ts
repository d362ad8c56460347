import { describe, expect, it } from 'vitest';
import { buildRun, parseManifest, ReferenceDriver, type ManifestInput } from '@masha/protocol';
import { DEFAULT_LINK } from '../src/des/link-model.js';
import { simulate, type SimulateOptions } from '../src/run/simulate.js';
import { parseTrace } from '../src/trace/schema.js';

function manifest(over: Partial<ManifestInput> = {}) {
  return parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
    method: { name: 'masha1' },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 60 },
    network: { heartbeatMs: 500, leaseMs: 2000, roundDeadlineMs: 1000, frameBytes: 512 },
    seed: 5,
    ...over,
  });
}

function reference(m: ReturnType<typeof manifest>): Float64Array[] {
  const built = buildRun(m);
  const driver = new ReferenceDriver(built.method, built.problem, built.problem.initialPoint());
  driver.initialize();
  const out: Float64Array[] = [];
  for (let k = 0; k < m.stop.iterations; k++) {
    driver.runIteration();
    out.push(built.method.iterate(driver.replica).slice());
  }
  return out;
}

describe('simulated swarm without churn or loss', () => {
  const fourPeers = parseTrace(['a', 'b', 'c', 'd'].map((p) => `{"t":0,"event":"join","peer":"${p}"}`).join('\n'));
  const cases: [string, Partial<ManifestInput>, Partial<SimulateOptions>][] = [
    ['MASHA1 + RandK 25%, one shard per peer', {}, {}],
    ['MASHA1 + RandK 25%, 4 peers holding 6 shards, jitter', {}, { trace: fourPeers, link: { ...DEFAULT_LINK, jitterMs: 15 } }],
    ['MASHA2 + TopK 30%', { method: { name: 'masha2' }, compressors: { device: 'topk:0.3' } }, {}],
  ];
  for (const [name, over, sim] of cases) {
    it(`${name}: bitwise the same iterates as the reference runner`, () => {
      const m = manifest(over);
      const ref = reference(m);
      const trajectory: Float64Array[] = [];
      const result = simulate({
        ...sim,
        manifest: m,
        onIteration: ({ iteration, peer }) => {
          expect(peer.replica.iteration).toBe(iteration);
          trajectory.push(Float64Array.from(peer.ctx.method.iterate(peer.replica)));
        },
      });
      expect(result.summary.stop).toBe('done');
      expect(trajectory.length).toBe(m.stop.iterations);
      for (let k = 0; k < ref.length; k++) expect(Array.from(trajectory[k])).toEqual(Array.from(ref[k]));
      expect(result.summary.consistent).toBe(true);
      expect(result.summary.committedRounds).toBeGreaterThanOrEqual(m.stop.iterations);
      expect(result.summary.abortedRounds).toBe(0);
      expect(result.summary.elections).toBe(1);
      expect(result.summary.lateFrames).toBe(0);
      expect(result.summary.rejectedFrames).toBe(0);
      for (const p of result.peers) expect(Array.from(p.ctx.method.iterate(p.replica))).toEqual(Array.from(ref[ref.length - 1]));
    });
  }
});

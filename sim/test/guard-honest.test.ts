// The bounds and audits must never refuse or accuse an honest peer (issue 14). Every method with
// every kind of compressor runs honestly in the simulator (real engines) with the Lipschitz bounds
// on and audits at p = 0.2: no answer is refused, no audit disagrees, nobody is benched for a bad
// answer or banned, and — the argument for the factor c — no answer comes above its bound before
// c (the largest ratio ‖answer‖ / bound is at most 1, up to the bound's own 1e-9 float slack), so
// c = 2 is pure margin.
import { describe, expect, it } from 'vitest';
import { parseManifest, type ManifestInput } from '@masha/protocol';
import { simulate } from '../src/run/simulate.js';

const bilinear = { kind: 'bilinear', d: 12, M: 6, seed: 2 } as const;
const quadratic = { kind: 'quadratic', d: 24, n: 6, s: 0.1, seed: 2 } as const;

interface Case {
  readonly name: string;
  readonly problem: ManifestInput['problem'];
  readonly method: ManifestInput['method'];
  readonly device: string;
  readonly iterations: number;
  /** Every answer depends on the holder's memory (error feedback): neither bounded nor audited. */
  readonly opaque?: boolean;
}

const cases: Case[] = [
  { name: 'masha1 identity', problem: bilinear, method: { name: 'masha1' }, device: 'identity', iterations: 150 },
  { name: 'masha1 randk', problem: bilinear, method: { name: 'masha1' }, device: 'randk:0.25', iterations: 150 },
  { name: 'masha1 natural', problem: bilinear, method: { name: 'masha1' }, device: 'natural', iterations: 150 },
  { name: 'masha1 dither', problem: bilinear, method: { name: 'masha1' }, device: 'dither:p=2,s=4', iterations: 150 },
  { name: 'masha1 dither p=1', problem: bilinear, method: { name: 'masha1' }, device: 'dither:p=1,s=2', iterations: 150 },
  { name: 'masha1 int8 stochastic', problem: bilinear, method: { name: 'masha1' }, device: 'int8:block=4,stochastic', iterations: 150 },
  { name: 'masha1 randk+natural', problem: bilinear, method: { name: 'masha1' }, device: 'randk:0.5+natural', iterations: 150 },
  { name: 'masha1 permk', problem: bilinear, method: { name: 'masha1' }, device: 'permk', iterations: 150 },
  {
    name: 'masha1 stochastic',
    problem: { ...bilinear, samples: 4 },
    method: { name: 'masha1', stochastic: true },
    device: 'randk:0.25',
    iterations: 150,
  },
  { name: 'masha2 topk', problem: bilinear, method: { name: 'masha2' }, device: 'topk:0.3', iterations: 150 },
  { name: 'masha2 int8', problem: bilinear, method: { name: 'masha2' }, device: 'int8:block=4', iterations: 150 },
  { name: 'eg', problem: bilinear, method: { name: 'eg' }, device: 'identity', iterations: 100 },
  { name: 'qeg', problem: bilinear, method: { name: 'qeg' }, device: 'natural', iterations: 100 },
  { name: 'qgda', problem: bilinear, method: { name: 'qgda', gamma: 0.01 }, device: 'dither:p=2,s=8', iterations: 60 },
  { name: 'ef-gda', problem: bilinear, method: { name: 'ef-gda', gamma: 0.01 }, device: 'topk:0.3', iterations: 60, opaque: true },
  { name: 'marina permk', problem: quadratic, method: { name: 'marina' }, device: 'permk', iterations: 150 },
  { name: 'marina randk', problem: quadratic, method: { name: 'marina' }, device: 'randk:0.2', iterations: 150 },
  { name: 'marina topk', problem: quadratic, method: { name: 'marina' }, device: 'topk:0.2', iterations: 150 },
];

describe('bounds and audits on honest runs of every method and compressor', () => {
  for (const c of cases) {
    it(c.name, () => {
      const manifest = parseManifest({
        problem: c.problem,
        method: c.method,
        compressors: { device: c.device },
        stop: { iterations: c.iterations },
        network: { heartbeatMs: 100, leaseMs: 400, roundDeadlineMs: 200 },
        updates: { audit: 0.2 },
      });
      const r = simulate({ manifest });
      const count = (name: string) => r.counters.get(name as never) ?? 0;
      expect(r.summary.iterations).toBe(c.iterations);
      expect(r.summary.consistent).toBe(true);
      for (const name of ['out-of-bound', 'bad-payload', 'audit-mismatch', 'banned', 'benched', 'clipped']) expect(count(name), name).toBe(0);
      const ratio = Math.max(...r.peers.map((p) => p.guard.maxRatio));
      if (c.opaque) {
        expect(count('audit-requested')).toBe(0);
        expect(ratio).toBe(0);
        return;
      }
      // Audits happened and agreed bit for bit; answers were judged and stayed within 1× their bound.
      expect(count('audit-match')).toBeGreaterThan(0);
      expect(ratio).toBeGreaterThan(0);
      expect(ratio).toBeLessThanOrEqual(1 + 1e-6);
    });
  }
});

// The aggregator adds uplinks as they arrive but in ascending shard order, so the committed sum is
// the same bits whatever the arrival order (and equal to the single-process sum).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCompressor } from '../src/compress/registry.js';
import { RoundSum } from '../src/engine/round-sum.js';
import { sumUplinks } from '../src/methods/common.js';
import { uplinkFromProblem } from '../src/methods/evaluate.js';
import { createMethod } from '../src/methods/registry.js';
import { generateBilinear } from '../src/problems/bilinear.js';

describe('RoundSum', () => {
  const problem = generateBilinear({ d: 6, M: 9, seed: 4 });
  const method = createMethod('masha1', { problem, seed: 2, gamma: 0.1, device: parseCompressor('natural') });
  const replica = method.initReplica(problem.initialPoint());
  const info = method.phase('init');
  // Real, encoded answers of every shard (the init phase: F_m(w⁰) uncompressed).
  const encoded = Array.from({ length: 9 }, (_, m) => {
    const res = uplinkFromProblem(method, problem, replica, method.initShard(m), method.initWork(m), m, 'init');
    return info.uplink.encode(res.payload);
  });

  it('any arrival order and any subset of answers gives the ascending-order sum bit for bit', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8]), fc.integer({ min: 0, max: 8 }), (order, freshShard) => {
        const acc = new RoundSum(method, problem.dim);
        acc.reset(replica, 'init', info);
        for (const s of order) {
          if (s === freshShard) acc.skip(s);
          else acc.add(s, encoded[s], info.uplink.decode(encoded[s], problem.dim));
        }
        const got = acc.finish();
        const answered = order.filter((s) => s !== freshShard);
        const want = sumUplinks(
          method,
          replica,
          'init',
          answered.map((s) => ({ shard: s, payload: info.uplink.decode(encoded[s], problem.dim) })),
          new Float64Array(problem.dim),
        );
        expect(got.included).toEqual(want.included);
        expect(Array.from(got.sum)).toEqual(Array.from(want.sum));
      }),
      { seed: 5, numRuns: 200 },
    );
  });
});

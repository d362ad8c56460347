// The aggregator adds uplinks as they arrive but in ascending shard order, so the committed sum is
// the same bits whatever the arrival order (and equal to the single-process sum).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCompressor } from '../src/compress/registry.js';
import { HOLD_DECODED_BYTES, RoundSum } from '../src/engine/round-sum.js';
import type { Payload } from '../src/compress/types.js';
import type { MethodInstance } from '../src/methods/types.js';
import { keyedRng, Streams } from '../src/rng/streams.js';
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

  it('deferred (warm-up) answers: any arrival order gives the ascending-order sum bit for bit, a clipped one scaled', () => {
    // guard.ts: a running bound's warm-up answer waits for its verdict until the commit.
    fc.assert(
      fc.property(
        fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8], { minLength: 1 }),
        fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
        fc.integer({ min: 0, max: 8 }),
        (order, deferred, clippedShard) => {
          const acc = new RoundSum(method, problem.dim);
          acc.reset(replica, 'init', info);
          for (const s of order) {
            const payload = info.uplink.decode(encoded[s], problem.dim);
            if (deferred[s]) acc.addDeferred(s, encoded[s], payload);
            else acc.add(s, encoded[s], payload);
          }
          const k = 0.375;
          const scales = new Float64Array(9).fill(Number.NaN);
          for (const s of order) if (deferred[s]) scales[s] = s === clippedShard ? k : 1;
          const got = acc.finish(scales);
          // Expected: the terms in ascending order, the clipped one as (1/M)·decode·k.
          const want = new Float64Array(problem.dim);
          const one = new Float64Array(problem.dim);
          const sorted = [...order].sort((a, b) => a - b);
          for (const s of sorted) {
            const payload = info.uplink.decode(encoded[s], problem.dim);
            if (deferred[s] && s === clippedShard) {
              one.fill(0);
              method.accumulateUplink(replica, 'init', s, payload, one);
              for (let i = 0; i < want.length; i++) want[i] += one[i] * k;
            } else method.accumulateUplink(replica, 'init', s, payload, want);
          }
          expect(got.included).toEqual(sorted);
          expect(Array.from(got.sum)).toEqual(Array.from(want));
          expect(acc.deferred).toBe(order.filter((s) => deferred[s]).length);
          expect(acc.clipped).toBe(deferred[clippedShard] && order.includes(clippedShard) ? 1 : 0);
        },
      ),
      { seed: 6, numRuns: 200 },
    );
  });
});

describe('RoundSum with large answers', () => {
  it('holds early answers over 64 KiB as their bytes, and still sums them in order bit for bit', () => {
    const dim = 20_000; // an uncompressed answer is 80 kB on the wire
    const M = 5;
    const codec = parseCompressor('identity');
    const streams = new Streams(1);
    const scale = 1 / M;
    // A stand-in for a method: only the shard count and the accumulation are used by the sum.
    const method = {
      shards: M,
      accumulateUplink: (_r: unknown, _p: string, m: number, payload: Payload, sum: Float64Array) =>
        codec.accumulate(payload, { streams, round: 0, purpose: 'up:init', device: m, devices: M }, scale, sum),
    } as unknown as MethodInstance;
    const rng = keyedRng(7, 0, 'test:round-sum', 0);
    const encoded = Array.from({ length: M }, (_, m) => {
      const x = new Float64Array(dim);
      for (let i = 0; i < dim; i++) x[i] = (rng.nextFloat53() - 0.5) * 10 ** ((i + m) % 7);
      return codec.encode(codec.compress(x, { streams, round: 0, purpose: 'up:init', device: m, devices: M, local: rng }));
    });
    expect(encoded[0].length).toBeGreaterThan(HOLD_DECODED_BYTES);
    const info = { uplink: codec, downlink: codec, requiresAll: true, flagBits: 0 };
    const run = (order: number[]): Float64Array => {
      const acc = new RoundSum(method, dim);
      acc.reset({ iteration: 0, initialized: true, vectors: {} }, 'init', info);
      for (const s of order) acc.add(s, encoded[s], codec.decode(encoded[s], dim));
      return acc.finish().sum.slice();
    };
    const ascending = run([0, 1, 2, 3, 4]);
    expect(Array.from(run([4, 2, 0, 3, 1]))).toEqual(Array.from(ascending));
    expect(Array.from(run([3, 4, 1, 2, 0]))).toEqual(Array.from(ascending));
  });
});

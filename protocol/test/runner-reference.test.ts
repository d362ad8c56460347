import { describe, expect, it } from 'vitest';
import { generateBilinear, BilinearProblem } from '../src/problems/bilinear.js';
import { parseCompressor } from '../src/compress/registry.js';
import { createMethod } from '../src/methods/registry.js';
import { runReference, operatorNormSq } from '../src/runner/reference.js';
import { ValidationError } from '../src/errors.js';
import type { Compressor, Payload } from '../src/compress/types.js';
import type { Problem } from '../src/problems/types.js';

const p = generateBilinear({ d: 8, M: 3, lambda: 0.2, seed: 5 });
const distSq = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);

describe('reference runner', () => {
  it('records iteration 0, every recordEvery, and the last; cumulative bits never decrease', () => {
    const m = createMethod('masha1', { problem: p, seed: 1, gamma: 0.3, device: parseCompressor('randk:0.25') });
    const seen: number[] = [];
    const r = runReference({ problem: p, method: m, iterations: 53, recordEvery: 10, onRecord: (rec) => seen.push(rec.iteration) });
    expect(r.records.map((x) => x.iteration)).toEqual([0, 10, 20, 30, 40, 50, 53]);
    expect(seen).toEqual([0, 10, 20, 30, 40, 50, 53]);
    expect(r.iterations).toBe(53);
    for (let i = 1; i < r.records.length; i++) {
      expect(r.records[i].uplinkBits).toBeGreaterThanOrEqual(r.records[i - 1].uplinkBits);
      expect(r.records[i].downlinkBits).toBeGreaterThanOrEqual(r.records[i - 1].downlinkBits);
    }
    expect(r.records[r.records.length - 1].uplinkBits).toBe(r.uplinkBits);
    // The initial exchange F(w⁰) is already counted at iteration 0.
    expect(r.records[0].uplinkBits).toBe(p.shards * 32 * p.dim);
    expect(r.records[0].relDist).toBe(1);
  });

  it('metrics: relDist = ‖z − z*‖²/‖z⁰ − z*‖² and opNormSq = ‖F(z)‖² of the returned iterate', () => {
    const m = createMethod('eg', { problem: p, seed: 1, gamma: 0.5, device: parseCompressor('identity') });
    const r = runReference({ problem: p, method: m, iterations: 20, recordEvery: 20 });
    const zs = p.solution()!;
    const last = r.records[r.records.length - 1];
    expect(last.relDist).toBeCloseTo(distSq(r.z, zs) / distSq(p.initialPoint(), zs), 14);
    const t = new Float64Array(p.dim);
    const acc = new Float64Array(p.dim);
    expect(last.opNormSq).toBeCloseTo(operatorNormSq(p, r.z, t, acc), 14);
  });

  it('stops at the target and reports the uplink bits spent to reach it', () => {
    const m = createMethod('masha1', { problem: p, seed: 2, gamma: 0.3, device: parseCompressor('randk:0.25') });
    const r = runReference({ problem: p, method: m, iterations: 100000, target: 1e-6, recordEvery: 1000 });
    expect(r.reached).toBe(true);
    expect(r.iterations).toBeLessThan(100000);
    const last = r.records[r.records.length - 1];
    expect(last.iteration).toBe(r.iterations);
    expect(last.relDist).toBeLessThanOrEqual(1e-6);
    expect(r.uplinkBitsToTarget).toBe(r.uplinkBits);
    // One iteration fewer would not have met it.
    const again = createMethod('masha1', { problem: p, seed: 2, gamma: 0.3, device: parseCompressor('randk:0.25') });
    const before = runReference({ problem: p, method: again, iterations: r.iterations - 1, recordEvery: 1000 });
    expect(before.records[before.records.length - 1].relDist).toBeGreaterThan(1e-6);
    expect(before.uplinkBitsToTarget).toBeNull();
  });

  it('stops on divergence', () => {
    const m = createMethod('qgda', { problem: p, seed: 1, gamma: 40, device: parseCompressor('identity') });
    const r = runReference({ problem: p, method: m, iterations: 10000, target: 1e-6 });
    expect(r.diverged).toBe(true);
    expect(r.reached).toBe(false);
    expect(r.iterations).toBeLessThan(200);
    expect(r.uplinkBitsToTarget).toBeNull();
  });

  it('without a known solution: relDist is null and the target applies to ‖F(z)‖²/‖F(z⁰)‖²', () => {
    const noSolution: Problem = {
      kind: p.kind,
      dim: p.dim,
      shards: p.shards,
      samples: p.samples,
      strongMonotonicity: p.strongMonotonicity,
      operator: (m, z, out) => p.operator(m, z, out),
      sampleOperator: (m, i, z, out) => p.sampleOperator(m, i, z, out),
      lipschitz: (m) => p.lipschitz(m),
      solution: () => null,
      initialPoint: () => p.initialPoint(),
    };
    const m = createMethod('eg', { problem: noSolution, seed: 1, gamma: 0.5, device: parseCompressor('identity') });
    const r = runReference({ problem: noSolution, method: m, iterations: 5000, target: 1e-8, recordEvery: 100 });
    expect(r.reached).toBe(true);
    const first = r.records[0];
    const last = r.records[r.records.length - 1];
    expect(first.relDist).toBeNull();
    expect(last.opNormSq / first.opNormSq).toBeLessThanOrEqual(1e-8);
  });

  it('passes every payload through encode/decode and rejects a codec whose byte count disagrees with its bits', () => {
    const real = parseCompressor('identity');
    let encoded = 0;
    const counting: Compressor = {
      spec: 'identity',
      kind: 'unbiased',
      constants: (d, M) => real.constants(d, M),
      compress: (x, ctx) => real.compress(x, ctx),
      decompress: (pl, ctx, out) => real.decompress(pl, ctx, out),
      accumulate: (pl, ctx, a, out) => real.accumulate(pl, ctx, a, out),
      encode: (pl: Payload) => {
        encoded++;
        return real.encode(pl);
      },
      decode: (b, d) => real.decode(b, d),
    };
    const m = createMethod('qgda', { problem: p, seed: 1, gamma: 0.1, device: counting });
    runReference({ problem: p, method: m, iterations: 4 });
    expect(encoded).toBe(4 * p.shards); // the uplinks (the downlink uses the server codec)
    const lying: Compressor = { ...counting, encode: (pl: Payload) => new Uint8Array(real.encode(pl).length + 1) };
    const bad = createMethod('qgda', { problem: p, seed: 1, gamma: 0.1, device: lying });
    expect(() => runReference({ problem: p, method: bad, iterations: 1 })).toThrow(ValidationError);
  });

  it('rejects a method built for another problem and bad options', () => {
    const other = generateBilinear({ d: 4, M: 3, seed: 1 });
    const m = createMethod('eg', { problem: other, seed: 1, gamma: 0.5, device: parseCompressor('identity') });
    expect(() => runReference({ problem: p, method: m, iterations: 1 })).toThrow(ValidationError);
    const ok = createMethod('eg', { problem: p, seed: 1, gamma: 0.5, device: parseCompressor('identity') });
    expect(() => runReference({ problem: p, method: ok, iterations: -1 })).toThrow(ValidationError);
    expect(() => runReference({ problem: p, method: ok, iterations: 1, recordEvery: 0 })).toThrow(ValidationError);
  });

  it('reports a z* start as reached at iteration 0', () => {
    const zs = p.solution()!;
    const q = new BilinearProblem(p.data);
    const m = createMethod('eg', { problem: q, seed: 1, gamma: 0.5, device: parseCompressor('identity') });
    const r = runReference({ problem: q, method: m, iterations: 10, target: 1e-6, z0: zs });
    expect(r.reached).toBe(true);
    expect(r.iterations).toBe(0);
  });
});

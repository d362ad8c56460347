import { describe, expect, it } from 'vitest';
import { parseCompressor, PayloadError, SpecError, Streams, Rng, SERVER } from './internals.js';
import type { CompressContext, SharedContext } from './internals.js';

function ctx(seed: number, round: number, device = 0, purpose = 'up:diff'): CompressContext {
  return { streams: new Streams(seed), round, purpose, device, devices: 4, local: new Rng(seed, round, device + 7, 99) };
}

describe('randk', () => {
  it('carries exactly 32K bits: 1% of d=1000 → 320 bits, 40 bytes', () => {
    const c = parseCompressor('randk:0.01');
    const x = Float64Array.from({ length: 1000 }, (_, i) => Math.sin(i) + 0.1);
    const p = c.compress(x, ctx(1, 3));
    expect(p.bits).toBe(320);
    expect(c.encode(p).length).toBe(40);
    expect(c.constants(1000, 10)).toMatchObject({ kind: 'unbiased', q: 100, beta: 0.01 });
    expect(c.constants(1000, 10).ab?.A).toBeCloseTo(99 / 10, 12);
  });

  it('the receiver regenerates the sender indices from the shared context alone', () => {
    const c = parseCompressor('randk:k=50');
    const d = 2000;
    const x = Float64Array.from({ length: d }, (_, i) => i + 1);
    const send = ctx(7, 12, 3);
    const p = c.compress(x, send);
    const recv: SharedContext = { streams: new Streams(7), round: 12, purpose: 'up:diff', device: 3, devices: 4 };
    const out = c.decompress(c.decode(c.encode(p), d), recv, new Float64Array(d));
    let nz = 0;
    for (let i = 0; i < d; i++) {
      if (out[i] !== 0) {
        nz++;
        // value i+1 scaled by d/K = 40 (float32 of i+1 is exact)
        expect(out[i]).toBe((i + 1) * 40);
      }
    }
    expect(nz).toBe(50);
    const other = c.decompress(p, { ...recv, device: SERVER }, new Float64Array(d));
    expect(Array.from(other)).not.toEqual(Array.from(out));
  });

  it('rejects bad specs and bad payloads with typed errors', () => {
    for (const s of ['randk', 'randk:0', 'randk:1.5', 'randk:k=0', 'randk:k=1.5', 'randk:0.1,k=3', 'randk:0.1,x=2', 'nope', 'randk:abc', '']) {
      expect(() => parseCompressor(s), s).toThrow(SpecError);
    }
    const c = parseCompressor('randk:0.1');
    expect(() => c.decode(new Uint8Array(39), 100)).toThrow(PayloadError);
    expect(() => c.decode(new Uint8Array(41), 100)).toThrow(PayloadError);
    const nan = new Uint8Array(40);
    new DataView(nan.buffer).setFloat32(8, NaN, true);
    expect(() => c.decode(nan, 100)).toThrow(PayloadError);
  });
});

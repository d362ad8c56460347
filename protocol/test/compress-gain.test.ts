// Compressor.maxGain (issue 14's bounds): sup ‖decode(C(x))‖ / ‖x‖ over every draw. Checked on
// many draws of vectors built to push each compressor to its worst case: all mass in one
// coordinate, flat vectors, values just above a power of two (natural compression rounds them up
// to nearly 2×), and mixed magnitudes whose small entries dithering rounds up to its lowest level.
import { describe, expect, it } from 'vitest';
import { parseCompressor, Rng } from './internals.js';
import { recvCtx, sendCtx, testVector } from './compress-util.js';

const SPECS = [
  'identity',
  'randk:0.1',
  'randk:k=1',
  'topk:0.3',
  'permk',
  'natural',
  'dither:p=2,s=8',
  'dither:p=2,s=1',
  'dither:p=1,s=2',
  'dither:p=inf,s=3',
  'int8:block=16',
  'int8:block=16,stochastic',
  'int8:block=1,stochastic',
  'randk:0.25+natural',
  'randk:0.25+dither:p=2,s=2',
  'topk:0.5+int8:block=8,stochastic',
];

function vectors(d: number): Float64Array[] {
  const r = new Rng(9, 8, 7, 6);
  const oneHot = new Float64Array(d);
  oneHot[3] = -5;
  const flat = new Float64Array(d).fill(0.75);
  const pow2 = Float64Array.from({ length: d }, (_, i) => (i % 2 ? -1 : 1) * 2 ** (i % 5) * (1 + 1e-9));
  // One large entry and many tiny ones: dithering sends the tiny ones at its lowest level.
  const spiky = Float64Array.from({ length: d }, (_, i) => (i === 0 ? 100 : 1e-3 * (r.nextU32() / 2 ** 32 - 0.5)));
  return [oneHot, flat, pow2, spiky, Float64Array.from(testVector(d, 4))];
}

describe('Compressor.maxGain bounds every draw', () => {
  for (const spec of SPECS) {
    it(spec, () => {
      const c = parseCompressor(spec);
      const d = 40;
      const devices = 8;
      const gain = c.maxGain?.(d, devices);
      expect(gain).toBeDefined();
      const out = new Float64Array(d);
      let worst = 0;
      for (const x of vectors(d)) {
        let nx = 0;
        for (const v of x) nx += v * v;
        nx = Math.sqrt(nx);
        for (let draw = 0; draw < 200; draw++) {
          for (let device = 0; device < (spec === 'permk' ? devices : 1); device++) {
            const ctx = sendCtx(11, draw, device, 'up:diff', devices);
            const p = c.compress(x, ctx);
            c.decompress(p, recvCtx(ctx), out);
            let n = 0;
            for (const v of out) n += v * v;
            worst = Math.max(worst, Math.sqrt(n) / nx);
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(gain as number);
      // Not vacuous: the worst draw comes within a factor of 5 of the stated gain.
      expect(worst).toBeGreaterThan((gain as number) / 5);
    });
  }

  it('PowerSGD states none (it is never bounded that way)', () => {
    expect('maxGain' in parseCompressor('powersgd:rank=2')).toBe(false);
  });
});

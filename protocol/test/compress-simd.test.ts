import { describe, expect, it } from 'vitest';
import { DitherCompressor } from '../src/compress/dither.js';
import { Int8Compressor } from '../src/compress/int8.js';
import { NaturalCompressor } from '../src/compress/natural.js';
import { simdKernels } from '../src/compress/wasm/simd.js';
import type { Compressor, Payload } from '../src/compress/types.js';
import { Rng } from '../src/index.js';
import { sendCtx } from './compress-util.js';

/**
 * The WebAssembly SIMD kernels against the compressors' plain-JS paths: the same codes, scales,
 * norms and errors for every input, so that the kernels can be trusted wherever the JS path's
 * statistics and draw-scheme tests hold (compress-stats.test.ts runs those on both paths).
 * (That kernels-bytes.ts is the compiled kernels.wat is checked by `npm run typecheck`.)
 */

type Make = (simd: boolean) => Compressor<Payload>;
const compressors: [string, Make][] = [
  ['natural', (simd) => new NaturalCompressor({ simd }) as unknown as Compressor<Payload>],
  ...([
    [2, 8],
    [2, 3],
    [2, 1],
    [2, 32],
    [Infinity, 4],
    [1, 6],
  ] as const).map(([p, s]): [string, Make] => [`dither:p=${p},s=${s}`, (simd) => new DitherCompressor({ p, s, simd }) as unknown as Compressor<Payload>]),
  ...([8, 256, 32768] as const).flatMap((block) =>
    [false, true].map((stochastic): [string, Make] => [
      `int8:block=${block}${stochastic ? ',stochastic' : ''}`,
      (simd) => new Int8Compressor({ block, stochastic, simd }) as unknown as Compressor<Payload>,
    ]),
  ),
];

/** Gaussians at mixed scales with zeros, −0, float32 subnormals, a zero stretch and a few spikes. */
function input(d: number, seed: number, f64: boolean): Float32Array | Float64Array {
  const g = new Rng(seed, 7, 8, 9);
  const x = f64 ? new Float64Array(d) : new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const k = g.nextU32() % 50;
    x[i] = k === 0 ? 0 : k === 1 ? -0 : k === 2 ? (g.nextU32() % 2 ? 1e-40 : -3e-42) : g.nextGaussian() * 2 ** ((g.nextU32() % 12) - 6);
  }
  if (d > 40000) x.fill(0, 33000, 33000 + 9000);
  if (d > 100) for (let k = 0; k < 4; k++) x[(k * 7919) % d] = (k % 2 ? -1 : 1) * 1e3 * 4 ** k;
  return x;
}

const fields = (p: Payload): Record<string, unknown> => {
  const o = p as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v]));
};

describe('WebAssembly SIMD kernels', () => {
  it('load here (so the suite exercises them)', () => {
    expect(simdKernels()).not.toBeNull();
  });

  // Sizes around the 8-element groups and the 32768-element chunks.
  const sizes = [0, 1, 7, 8, 9, 31, 1000, 32767, 32768, 32769, 70001];
  for (const [spec, make] of compressors) {
    for (const f64 of [false, true]) {
      if (spec === 'natural' && f64) continue; // float64 natural compression has one (exact 52-bit) path
      it(`${spec}, ${f64 ? 'float64' : 'float32'}: the same payload as the JS path`, () => {
        const fast = make(true);
        const slow = make(false);
        for (const d of sizes) {
          const x = input(d, d + (f64 ? 1 : 0), f64);
          const a = fields(fast.compress(x, sendCtx(3, d)));
          const b = fields(slow.compress(x, sendCtx(3, d)));
          expect(a, `d = ${d}`).toEqual(b);
        }
      });
    }
  }

  it.each([Number.NaN, Infinity, -Infinity, 3.5e38])('reject %s with the same error on both paths', (bad) => {
    for (const [spec, make] of compressors) {
      for (const f64 of [false, true]) {
        if (spec === 'natural' && f64) continue;
        if (!f64 && Math.abs(bad) === 3.5e38) continue; // beyond float32: not a float32 value
        const x = input(40000, 5, f64);
        x[34567] = bad;
        const errs = [true, false].map((simd) => {
          try {
            make(simd).compress(x, sendCtx(4, 1));
            return 'no error';
          } catch (e) {
            return `${(e as Error).name}: ${(e as Error).message}`;
          }
        });
        expect(errs[0], `${spec} ${f64 ? 'f64' : 'f32'}`).toMatch(/x\[34567\]|float32 range/);
        expect(errs[0]).toBe(errs[1]);
      }
    }
  });
});

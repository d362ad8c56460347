import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DitherCompressor } from '../src/compress/dither.js';
import { Int8Compressor } from '../src/compress/int8.js';
import { NaturalCompressor } from '../src/compress/natural.js';
import { simdKernels } from '../src/compress/wasm/simd.js';
import { packCodes, unpackCodes } from '../src/compress/bitio.js';
import type { Compressor, Payload } from '../src/compress/types.js';
import { PayloadError, Rng } from './internals.js';
import { sendCtx } from './compress-util.js';

/**
 * The WebAssembly SIMD kernels against the compressors' plain-JS paths: the same codes, scales,
 * norms and errors for every input, so that the kernels can be trusted wherever the JS path's
 * statistics and draw-scheme tests hold (compress-stats.test.ts runs those on both paths).
 * (That kernels-bytes.ts is the compiled kernels.wat is checked by `npm run typecheck`.)
 */

type Make = (simd: boolean) => Compressor<Payload>;
const compressors: [string, Make][] = [
  ['natural', (simd) => new NaturalCompressor({ simd })],
  ...(
    [
      [2, 8],
      [2, 3],
      [2, 1],
      [2, 32],
      [Infinity, 4],
      [1, 6],
    ] as const
  ).map(([p, s]): [string, Make] => [`dither:p=${p},s=${s}`, (simd) => new DitherCompressor({ p, s, simd })]),
  ...([8, 256, 32768] as const).flatMap((block) =>
    [false, true].map((stochastic): [string, Make] => [
      `int8:block=${block}${stochastic ? ',stochastic' : ''}`,
      (simd) => new Int8Compressor({ block, stochastic, simd }),
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
      // (every compressor here has a kernel for both input types)
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

  it('pack and unpack codes of every width exactly as bitio.ts does (and flag out-of-range codes)', () => {
    const k = simdKernels();
    if (k === null) throw new Error('no SIMD kernels');
    const g = new Rng(77, 1, 2, 3);
    for (let width = 1; width <= 16; width++) {
      for (const n of [0, 1, 9, 32767, 32768, 32769, 70001]) {
        for (const startByte of [0, 4]) {
          const codes = width <= 8 ? new Uint8Array(n) : new Uint16Array(n);
          for (let i = 0; i < n; i++) codes[i] = g.nextU32() & ((1 << width) - 1);
          const len = startByte + Math.ceil((n * width) / 8);
          const want = new Uint8Array(len).fill(0);
          packCodes(codes, n, width, want, 8 * startByte);
          const got = new Uint8Array(len);
          k.pack(codes, n, width, got, startByte);
          expect(
            got.every((v, i) => v === want[i]),
            `pack width ${width} n ${n} start ${startByte}`,
          ).toBe(true);
          const back = width <= 8 ? new Uint8Array(n) : new Uint16Array(n);
          const vmax = (1 << width) - 1;
          expect(k.unpack(want, startByte, n, width, back, vmax, vmax)).toBe(false);
          expect(Array.from(back)).toEqual(Array.from(unpackCodes(want, 8 * startByte, n, width, codes.slice().fill(0))));
          if (n > 0 && width > 1) {
            // one code above vmax, in the last chunk
            const bad = codes.slice();
            bad[n - 1] = vmax;
            const bytes = new Uint8Array(len);
            packCodes(bad, n, width, bytes, 8 * startByte);
            expect(k.unpack(bytes, startByte, n, width, back, vmax, vmax - 1)).toBe(true);
          }
        }
      }
    }
  });

  it('decoding names the same offending code on both paths', () => {
    const d = 70001;
    const errorOf = (f: () => unknown): string => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    };
    const x = input(d, 9, false);
    for (const [spec, make] of compressors) {
      const c = make(true);
      const bytes = c.encode(c.compress(x, sendCtx(1, 1)));
      for (const [where, damage] of [
        ['natural', (b: Uint8Array) => (b[Math.floor((40001 * 9) / 8)] |= 0xff) && (b[Math.floor((40001 * 9) / 8) + 1] |= 0x01)],
        ['dither', (b: Uint8Array) => (b[4 + Math.floor((50001 * 5) / 8)] = 0xff)],
        ['int8', (b: Uint8Array) => (b[b.length - 3] = 0x80)],
      ] as const) {
        if (!spec.startsWith(where) || (where === 'dither' && spec !== 'dither:p=2,s=8')) continue;
        const bad = bytes.slice();
        damage(bad);
        const errs = [true, false].map((simd) => errorOf(() => make(simd).decode(bad, d)));
        expect(errs[0], spec).toMatch(/PayloadError: .*codes\[\d+\]/);
        expect(errs[0]).toBe(errs[1]);
        expect(errorOf(() => make(true).decode(bytes, d))).toBe('no error');
      }
    }
  });

  it('fuzz: damaged payloads spanning several chunks decode the same way on both paths, or fail with a PayloadError', () => {
    const d = 70001;
    const x = input(d, 12, false);
    const specs = compressors.filter(([spec]) => /^(natural|dither:p=2,s=(8|3)|int8:block=256)/.test(spec));
    const encoded = specs.map(([, make]) => {
      const c = make(true);
      return c.encode(c.compress(x, sendCtx(9, 9)));
    });
    const outcome = (make: (simd: boolean) => Compressor<Payload>, simd: boolean, bytes: Uint8Array): string => {
      try {
        return JSON.stringify(fields(make(simd).decode(bytes, d)));
      } catch (e) {
        if (!(e instanceof PayloadError)) throw e;
        return `${e.code}: ${e.message}`;
      }
    };
    fc.assert(
      fc.property(fc.nat(specs.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }), (k, edits) => {
        const bytes = encoded[k].slice();
        for (const [at, v] of edits) bytes[at % bytes.length] = v;
        const [, make] = specs[k];
        expect(outcome(make, true, bytes)).toBe(outcome(make, false, bytes));
      }),
      { numRuns: 60, seed: 7 },
    );
  });
});

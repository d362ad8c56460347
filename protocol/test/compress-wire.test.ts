import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCompressor, PayloadError, TopKSparsifier, TOPK_BITMAP, TOPK_LIST } from './internals.js';
import type { Compressor, Payload } from './internals.js';
import { recvCtx, sendCtx, testVector } from './compress-util.js';

const ALL_SPECS = [
  'identity',
  'randk:0.1',
  'randk:k=7',
  'topk:0.3',
  'topk:k=3',
  'natural',
  'dither:p=2,s=8',
  'dither:p=inf,s=3',
  'dither:p=1.5,s=16',
  'int8:block=16',
  'int8:block=16,stochastic',
  'powersgd:rank=2',
  'randk:0.1+natural',
  'topk:0.3+natural',
  'topk:0.2+dither:p=2,s=8',
  'topk:0.3+int8:block=4',
  'randk:0.5+int8:block=8,stochastic',
];

function roundTrip(c: Compressor, x: Float64Array | Float32Array, draw: number): { p: Payload; bytes: Uint8Array } {
  const ctx = sendCtx(21, draw, 2);
  const p = c.compress(x, ctx);
  const bytes = c.encode(p);
  expect(bytes.length, `${c.spec}: ⌈${p.bits}/8⌉ bytes`).toBe(Math.ceil(p.bits / 8));
  const q = c.decode(bytes, x.length);
  expect(q.bits).toBe(p.bits);
  expect(q.d).toBe(x.length);
  const a = c.decompress(p, recvCtx(ctx), new Float64Array(x.length));
  const b = c.decompress(q, recvCtx(ctx), new Float64Array(x.length));
  // Bit-identical: compare the float64 bit patterns, not just values.
  expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
  // Re-encoding the decoded payload reproduces the bytes: the wire form is canonical.
  expect(c.encode(q)).toEqual(bytes);
  // accumulate(a) = out + a·decompress
  const acc = Float64Array.from({ length: x.length }, (_, i) => i * 0.5);
  c.accumulate(q, recvCtx(ctx), -2, acc);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(acc[i] - (i * 0.5 - 2 * a[i])) / (1 + Math.abs(a[i])));
  expect(worst, `${c.spec}: accumulate`).toBeLessThan(1e-12);
  return { p, bytes };
}

describe('exact bit counts', () => {
  it('RandK 1% of d = 1000 carries 320 bits (10 float32 values, no indices)', () => {
    const c = parseCompressor('randk:0.01');
    const { p, bytes } = roundTrip(c, testVector(1000, 1), 0);
    expect(p.bits).toBe(320);
    expect(bytes.length).toBe(40);
    expect(c.constants(1000, 5).beta).toBe(0.01);
  });

  it('TopK: 32K + 1 + min(K⌈log2 d⌉, d), the list up to the tie and the bitmap past it', () => {
    const d = 1000; // ⌈log2 1000⌉ = 10: list 10K bits, bitmap 1000 bits
    expect(TopKSparsifier.coding(100, d)).toBe(TOPK_LIST);
    expect(TopKSparsifier.coding(101, d)).toBe(TOPK_BITMAP);
    const x = testVector(d, 2);
    for (const [k, bits] of [
      [1, 32 + 1 + 10],
      [99, 99 * 32 + 1 + 990],
      [100, 100 * 32 + 1 + 1000],
      [101, 101 * 32 + 1 + 1000],
      [300, 300 * 32 + 1 + 1000],
      [1000, 1000 * 32 + 1 + 1000],
    ] as const) {
      const c = parseCompressor(`topk:k=${k}`);
      const { p, bytes } = roundTrip(c, x, 0);
      expect(p.bits, `k=${k}`).toBe(bits);
      expect(bytes.length).toBe(Math.ceil(bits / 8));
      expect(c.constants(d, 4).beta).toBeCloseTo(bits / (32 * d), 15);
      // The selector bit sits right after the 32K value bits.
      const sel = (bytes[(32 * k) >>> 3] >>> ((32 * k) & 7)) & 1;
      expect(sel).toBe(k > 100 ? TOPK_BITMAP : TOPK_LIST);
    }
  });

  it('natural: 9 bits per element; dithering s = 8: 5 bits per element + 32; int8: 8d + 32 per block', () => {
    const x = testVector(1001, 3);
    expect(roundTrip(parseCompressor('natural'), x, 0).p.bits).toBe(9 * 1001);
    expect(roundTrip(parseCompressor('dither:p=2,s=8'), x, 0).p.bits).toBe(5 * 1001 + 32);
    expect(roundTrip(parseCompressor('dither:p=2,s=7'), x, 0).p.bits).toBe(4 * 1001 + 32); // 8 levels: 3 bits
    expect(roundTrip(parseCompressor('dither:p=2,s=1'), x, 0).p.bits).toBe(2 * 1001 + 32);
    expect(roundTrip(parseCompressor('int8:block=256'), x, 0).p.bits).toBe(8 * 1001 + 32 * 4);
    expect(roundTrip(parseCompressor('identity'), x, 0).p.bits).toBe(32 * 1001);
  });

  it('PowerSGD: 32(n+m)r bits for the near-square n×m layout', () => {
    expect(roundTrip(parseCompressor('powersgd:rank=8'), testVector(1000, 4), 0).p.bits).toBe(32 * (32 + 32) * 8);
    expect(roundTrip(parseCompressor('powersgd:rank=4'), testVector(1001, 4), 0).p.bits).toBe(32 * (32 + 32) * 4);
    expect(roundTrip(parseCompressor('powersgd:rank=8'), testVector(10, 4), 0).p.bits).toBe(32 * (4 + 3) * 3);
  });

  it('compositions add the sparsifier support to the quantizer bits on the kept values', () => {
    const x = testVector(1000, 5);
    expect(roundTrip(parseCompressor('randk:0.1+natural'), x, 0).p.bits).toBe(100 * 9);
    expect(roundTrip(parseCompressor('topk:0.3+natural'), x, 0).p.bits).toBe(300 * 9 + 1 + 1000);
    expect(roundTrip(parseCompressor('topk:k=20+dither:p=2,s=8'), x, 0).p.bits).toBe(20 * 5 + 32 + 1 + 200);
    expect(parseCompressor('randk:0.1+natural').constants(1000, 4).beta).toBeCloseTo(900 / 32000, 15);
  });
});

describe('round trips: decode(encode(p)) decompresses bit-identically', () => {
  for (const spec of ALL_SPECS) {
    it(spec, () => {
      const c = parseCompressor(spec);
      for (const d of [1, 2, 9, 64, 333]) {
        roundTrip(c, testVector(d, d), d);
        roundTrip(c, testVector(d, d + 1, true), d + 1);
      }
      roundTrip(c, new Float64Array(17), 0); // all zeros
    });
  }
});

describe('decode rejects malformed bytes with PayloadError', () => {
  function expectPayloadError(f: () => unknown, code?: string): void {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(PayloadError);
      if (code) expect((e as PayloadError).code).toBe(code);
      return;
    }
    throw new Error('expected a PayloadError');
  }

  it('truncated and oversized payloads', () => {
    for (const spec of ALL_SPECS) {
      const c = parseCompressor(spec);
      const bytes = c.encode(c.compress(testVector(50, 6), sendCtx(1, 0)));
      expectPayloadError(() => c.decode(bytes.subarray(0, bytes.length - 1), 50));
      const big = new Uint8Array(bytes.length + 1);
      big.set(bytes);
      expectPayloadError(() => c.decode(big, 50));
      expectPayloadError(() => c.decode(new Uint8Array(0), 50));
      expectPayloadError(() => c.decode(bytes, -1), 'dimension');
      expectPayloadError(() => c.decode(bytes, 1.5), 'dimension');
    }
  });

  it('non-finite float32 values', () => {
    for (const spec of ['identity', 'randk:0.1', 'topk:0.1', 'dither:p=2,s=8', 'int8:block=16', 'powersgd:rank=2']) {
      const c = parseCompressor(spec);
      for (const bad of [NaN, Infinity, -Infinity]) {
        const bytes = c.encode(c.compress(testVector(50, 7), sendCtx(1, 0)));
        new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setFloat32(0, bad, true);
        expectPayloadError(() => c.decode(bytes, 50), 'non-finite');
      }
    }
  });

  it('out-of-range codes, indices and signs', () => {
    // natural: exponent 255
    const nat = parseCompressor('natural');
    const nb = nat.encode(nat.compress(testVector(8, 1), sendCtx(1, 0)));
    nb[0] = 0xff;
    nb[1] |= 1;
    expectPayloadError(() => nat.decode(nb, 8), 'range');
    // dither: level index 9..15 > s = 8, and a negative norm
    const dit = parseCompressor('dither:p=2,s=8');
    const db = dit.encode(dit.compress(testVector(8, 1), sendCtx(1, 0)));
    const db1 = db.slice();
    db1[4] = (db1[4] & 0xf0) | 0x0c;
    expectPayloadError(() => dit.decode(db1, 8), 'range');
    const db2 = db.slice();
    db2[3] |= 0x80;
    expectPayloadError(() => dit.decode(db2, 8), 'range');
    // int8: code −128, negative scale, non-zero code under a zero scale
    const i8 = parseCompressor('int8:block=4');
    const ib = i8.encode(i8.compress(new Float64Array([1, 2, 3, 4, 0, 0, 0, 0]), sendCtx(1, 0)));
    const ib1 = ib.slice();
    ib1[8] = 0x80;
    expectPayloadError(() => i8.decode(ib1, 8), 'range');
    const ib2 = ib.slice();
    ib2[3] |= 0x80;
    expectPayloadError(() => i8.decode(ib2, 8), 'range');
    const ib3 = ib.slice();
    ib3[13] = 1;
    expectPayloadError(() => i8.decode(ib3, 8), 'range');
    // topk list: index ≥ d, repeated, decreasing; bitmap: wrong count; non-canonical coding
    const tk = parseCompressor('topk:k=2');
    const d = 100; // ⌈log2 100⌉ = 7 bits per index
    const x = new Float64Array(d);
    x[10] = 5;
    x[20] = -6;
    const tb = tk.encode(tk.compress(x, sendCtx(1, 0)));
    expect(tb.length).toBe(Math.ceil((64 + 1 + 14) / 8));
    const setIndices = (a: number, b: number): Uint8Array => {
      const t = tb.slice();
      t[8] = 0; // selector (bit 64) + index bits 65..79
      t[9] = 0;
      const v = (a << 1) | (b << 8);
      t[8] = v & 0xff;
      t[9] = (v >>> 8) & 0x7f;
      return t;
    };
    expect(tk.decode(setIndices(10, 20), d).bits).toBe(79);
    expectPayloadError(() => tk.decode(setIndices(10, 100), d), 'range');
    expectPayloadError(() => tk.decode(setIndices(10, 10), d), 'duplicate');
    expectPayloadError(() => tk.decode(setIndices(20, 10), d), 'duplicate');
    const tkb = parseCompressor('topk:k=20'); // 20·7 = 140 > 100: bitmap
    const bb = tkb.encode(tkb.compress(testVector(d, 3), sendCtx(1, 0)));
    const flip = (bit: number): Uint8Array => {
      const t = bb.slice();
      t[bit >>> 3] ^= 1 << (bit & 7);
      return t;
    };
    const bitmapStart = 20 * 32 + 1;
    const x3 = testVector(d, 3);
    const kept = new Set(
      Array.from(x3.keys())
        .sort((a, b) => Math.abs(x3[b]) - Math.abs(x3[a]))
        .slice(0, 20),
    );
    const unkept = Array.from(x3.keys()).find((i) => !kept.has(i)) as number;
    expectPayloadError(() => tkb.decode(flip(bitmapStart + unkept), d), 'range');
    expectPayloadError(() => tkb.decode(flip(bitmapStart - 1), d), 'range'); // selector says list
  });

  it('non-zero padding bits', () => {
    const c = parseCompressor('natural');
    const bytes = c.encode(c.compress(testVector(7, 1), sendCtx(1, 0))); // 63 bits
    bytes[7] |= 0x80;
    expectPayloadError(() => c.decode(bytes, 7), 'padding');
  });

  it('random bytes: decode either throws PayloadError or yields a canonical payload (fast-check)', () => {
    const specs = ALL_SPECS.filter((s) => !s.startsWith('powersgd')).concat(['powersgd:rank=1']);
    const codecs = specs.map((s) => parseCompressor(s));
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: codecs.length - 1 }),
        fc.integer({ min: 0, max: 40 }),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.boolean(),
        (ci, d, raw, fitLength) => {
          const c = codecs[ci];
          let bytes = raw;
          if (fitLength) {
            // Make the length right half of the time so that the content checks are reached.
            const want = c.encode(c.compress(testVector(d, 1), sendCtx(1, 0))).length;
            bytes = new Uint8Array(want);
            bytes.set(raw.subarray(0, want));
          }
          let p: Payload;
          try {
            p = c.decode(bytes, d);
          } catch (e) {
            if (!(e instanceof PayloadError)) throw e;
            rejected++;
            return;
          }
          accepted++;
          expect(c.encode(p)).toEqual(bytes);
          const out = c.decompress(p, recvCtx(sendCtx(1, 0)), new Float64Array(d));
          for (let i = 0; i < d; i++) expect(Number.isFinite(out[i])).toBe(true);
        },
      ),
      { numRuns: 1500, seed: 12345 },
    );
    // Both branches must be exercised for the property to mean anything.
    expect(accepted).toBeGreaterThan(150);
    expect(rejected).toBeGreaterThan(150);
  });
});

describe('release: recycled payload buffers', () => {
  it('a released payload buffers serve the next compression, never two live payloads at once', () => {
    for (const spec of ['identity', 'natural', 'dither:p=2,s=8', 'int8:block=64', 'int8:block=64,stochastic', 'randk:0.5+natural']) {
      const c = parseCompressor(spec);
      const x = testVector(8192, 1);
      const y = new Float64Array(8192); // all zeros: blocks and codes the compressor must clear
      const ref = c.decompress(c.compress(y, sendCtx(1, 1)), recvCtx(sendCtx(1, 1)), new Float64Array(8192));
      const p1 = c.compress(x, sendCtx(1, 0));
      c.release?.(p1);
      c.release?.(p1); // a second release must not hand the same buffer out twice
      const p2 = c.compress(y, sendCtx(1, 1));
      const p3 = c.compress(x, sendCtx(1, 2));
      const a2 = c.decompress(p2, recvCtx(sendCtx(1, 1)), new Float64Array(8192));
      expect(Array.from(a2), spec).toEqual(Array.from(ref)); // p3 did not overwrite p2
      expect(c.encode(p3)).not.toEqual(c.encode(p2));
    }
  });

  it('decoded payloads are recycled too: a released one serves the next decode, with no stale codes', () => {
    for (const spec of ['identity', 'natural', 'dither:p=2,s=8', 'int8:block=64', 'int8:block=64,stochastic']) {
      const c = parseCompressor(spec);
      const x = testVector(8192, 2);
      const y = new Float64Array(8192).fill(0.25); // different codes everywhere
      const bx = c.encode(c.compress(x, sendCtx(2, 0)));
      const by = c.encode(c.compress(y, sendCtx(2, 1)));
      const fresh = (bytes: Uint8Array): number[] =>
        Array.from(parseCompressor(spec).decompress(parseCompressor(spec).decode(bytes, 8192), recvCtx(sendCtx(2, 0)), new Float64Array(8192)));
      const px = c.decode(bx, 8192);
      c.release?.(px);
      const py = c.decode(by, 8192); // reuses px's arrays
      const pz = c.decode(bx, 8192); // a second live payload gets its own
      expect(Array.from(c.decompress(py, recvCtx(sendCtx(2, 1)), new Float64Array(8192))), spec).toEqual(fresh(by));
      expect(Array.from(c.decompress(pz, recvCtx(sendCtx(2, 0)), new Float64Array(8192))), spec).toEqual(fresh(bx));
    }
  });
});

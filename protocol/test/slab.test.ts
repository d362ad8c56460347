import { describe, expect, it } from 'vitest';
import { ByteSlab } from '../src/engine/slab.js';
import { ByteWriter } from '../src/engine/bytes.js';

describe('ByteSlab', () => {
  it('hands out zero-filled, disjoint, 8-byte aligned buffers, sharing blocks', () => {
    const slab = new ByteSlab(1024);
    const bufs = [3, 8, 100, 1, 200, 256, 7].map((n) => slab.take(n));
    for (const b of bufs) {
      expect(b.every((x) => x === 0)).toBe(true);
      expect(b.byteOffset % 8).toBe(0);
      b.fill(0xab);
    }
    // Writing each buffer full never touched another one.
    for (const b of bufs) expect(b.every((x) => x === 0xab)).toBe(true);
    expect(bufs[0].buffer).toBe(bufs[1].buffer);
    const ranges = bufs.filter((b) => b.buffer === bufs[0].buffer).map((b) => [b.byteOffset, b.byteOffset + b.length]);
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
  });

  it('gives large requests their own buffer and starts a new block when one is full', () => {
    const slab = new ByteSlab(1024);
    const big = slab.take(257);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(257);
    const a = slab.take(256);
    const b = slab.take(256);
    const c = slab.take(256);
    const d = slab.take(256);
    const e = slab.take(8);
    expect(new Set([a, b, c, d].map((x) => x.buffer)).size).toBe(1);
    expect(e.buffer).not.toBe(a.buffer);
  });

  it('takes back the unused tail of the last buffer only', () => {
    const slab = new ByteSlab(1024);
    const a = slab.take(100);
    a.fill(1, 0, 10);
    const cut = slab.shrinkLast(a, 10);
    expect(Array.from(cut)).toEqual(new Array(10).fill(1));
    const b = slab.take(16);
    expect(b.byteOffset).toBe(16); // 10 rounded up to 8
    expect(b.every((x) => x === 0)).toBe(true);
    // Not the last buffer: nothing is taken back.
    const c = slab.take(32);
    slab.shrinkLast(b, 0);
    expect(slab.take(8).byteOffset).toBe(c.byteOffset + 32);
    expect(() => slab.shrinkLast(c, 33)).toThrow(RangeError);
  });

  it('backs ByteWriter bodies: consecutive bodies never overlap', () => {
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < 500; i++) {
      const w = new ByteWriter(8);
      for (let k = 0; k <= i % 40; k++) w.u8(i & 0xff);
      bodies.push(w.finish());
    }
    bodies.forEach((b, i) => expect(b.every((x) => x === (i & 0xff))).toBe(true));
  });
});

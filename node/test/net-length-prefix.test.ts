import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NetError } from '../src/net/errors.js';
import { encodeLengthPrefixed, LENGTH_PREFIX_BYTES, LengthPrefixedReader } from '../src/net/length-prefix.js';

const MAX = 4096;

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Splits `bytes` at the given cut points (sorted, deduplicated, within range). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pts = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...pts, bytes.byteLength]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('length-prefixed framing', () => {
  it('writes a 4-byte big-endian length then the body', () => {
    const wire = encodeLengthPrefixed(new Uint8Array([7, 8, 9]), MAX);
    expect([...wire]).toEqual([0, 0, 0, 3, 7, 8, 9]);
    const big = encodeLengthPrefixed(new Uint8Array(0x1234), 0x2000);
    expect(big.byteLength).toBe(LENGTH_PREFIX_BYTES + 0x1234);
    expect([...big.subarray(0, 4)]).toEqual([0, 0, 0x12, 0x34]);
  });

  it('refuses to encode empty or oversized frames', () => {
    expect(() => encodeLengthPrefixed(new Uint8Array(0), MAX)).toThrow(NetError);
    try {
      encodeLengthPrefixed(new Uint8Array(MAX + 1), MAX);
      expect.unreachable();
    } catch (err) {
      expect((err as NetError).code).toBe('frame-too-large');
    }
    expect(encodeLengthPrefixed(new Uint8Array(MAX), MAX).byteLength).toBe(MAX + 4);
  });

  it('recovers every frame, byte for byte, however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const wire = concat(frames.map((f) => encodeLengthPrefixed(f, MAX)));
          const reader = new LengthPrefixedReader(MAX);
          const got: Uint8Array[] = [];
          for (const chunk of split(wire, cuts)) got.push(...reader.push(chunk).map((f) => f.slice()));
          expect(got.length).toBe(frames.length);
          got.forEach((g, i) => expect(g).toEqual(frames[i]));
          expect(reader.bufferedBytes).toBe(0);
        },
      ),
      { seed: 20260, numRuns: 300 },
    );
  });

  it('delivers nothing until a frame is complete and keeps the remainder', () => {
    const reader = new LengthPrefixedReader(MAX);
    const wire = concat([encodeLengthPrefixed(new Uint8Array([1, 2, 3, 4, 5]), MAX), encodeLengthPrefixed(new Uint8Array([6]), MAX)]);
    expect(reader.push(wire.subarray(0, 2))).toEqual([]);
    expect(reader.push(wire.subarray(2, 8))).toEqual([]);
    expect(reader.bufferedBytes).toBe(2 + 6 - 4);
    const frames = reader.push(wire.subarray(8));
    expect(frames.map((f) => [...f])).toEqual([[1, 2, 3, 4, 5], [6]]);
  });

  it('rejects an oversized length as soon as the header is complete, and stays failed', () => {
    const reader = new LengthPrefixedReader(MAX);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX + 1, false);
    expect(reader.push(header.subarray(0, 3))).toEqual([]);
    let code = '';
    try {
      reader.push(header.subarray(3));
    } catch (err) {
      code = (err as NetError).code;
    }
    expect(code).toBe('frame-too-large');
    // Nothing after a bad header can be trusted: further input is refused too.
    expect(() => reader.push(encodeLengthPrefixed(new Uint8Array([1]), MAX))).toThrow(/frame/);
  });

  it('rejects a 2^32-1 length without buffering the announced body', () => {
    const reader = new LengthPrefixedReader(MAX);
    expect(() => reader.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))).toThrow(NetError);
    expect(reader.bufferedBytes).toBe(3);
  });

  it('rejects a zero length (empty frame)', () => {
    const reader = new LengthPrefixedReader(MAX);
    let code = '';
    try {
      reader.push(new Uint8Array([0, 0, 0, 0]));
    } catch (err) {
      code = (err as NetError).code;
    }
    expect(code).toBe('empty-frame');
  });

  it('accepts a frame of exactly the limit', () => {
    const reader = new LengthPrefixedReader(MAX);
    const f = new Uint8Array(MAX).map((_, i) => i & 0xff);
    const [got] = reader.push(encodeLengthPrefixed(f, MAX));
    expect(got).toEqual(f);
  });
});

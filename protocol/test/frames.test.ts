import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunkCount,
  crc32c,
  crc32cUpdate,
  decodeFrame,
  DEFAULT_FRAME_BYTES,
  encodedBytes,
  encodeFrames,
  FrameError,
  frameHeaderBytes,
  HEADER_OVERHEAD_BYTES,
  MAX_FRAME_BYTES,
  MIN_FRAME_BYTES,
  Reassembler,
  wireOverhead,
} from './internals.js';
import { OFF, putU32 } from '../src/frames/format.js';
import { arbMessage, bytesOf, message, PEER_A, RUN_ID, sameMessage } from './frames-helpers.js';

/** Bit-at-a-time CRC-32C: the reference the sliced implementation is checked against. */
function crcReference(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Rewrites the header CRC after a header edit, so that the edit reaches the deeper checks. */
function reseal(f: Uint8Array): Uint8Array {
  const at = OFF.sender + f[OFF.senderLength];
  putU32(f, at, crc32c(f, 0, at));
  return f;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FrameError) return e.code;
    throw e;
  }
  return 'none';
}

describe('crc32c', () => {
  it('matches the standard check value and the RFC 3720 vectors', () => {
    expect(crc32c(Uint8Array.from('123456789', (c) => c.charCodeAt(0)))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('equals the bitwise reference on random ranges and composes over concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, x, y) => {
        const s = b.length === 0 ? 0 : x % b.length;
        const e = s + (b.length === s ? 0 : y % (b.length - s + 1));
        expect(crc32c(b, s, e)).toBe(crcReference(b.subarray(s, e)));
        expect(crc32cUpdate(crc32c(b, 0, s), b, s)).toBe(crc32c(b));
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it('equals the reference on views at every byte offset (word and byte paths)', () => {
    const buf = Uint8Array.from({ length: 3000 }, (_, i) => (i * 2654435761) >>> 24);
    for (let off = 0; off < 8; off++) {
      // The word path starts at 192 bytes.
      for (const len of [0, 1, 7, 15, 63, 64, 65, 100, 191, 192, 201, 1000, 2991]) {
        const view = buf.subarray(off, off + len);
        expect(crc32c(view)).toBe(crcReference(view));
        expect(crc32c(buf, off, off + len)).toBe(crcReference(view));
      }
    }
  });
});

describe('encodeFrames: layout and exact sizes', () => {
  const header = frameHeaderBytes(PEER_A.length);

  it('has a header of 88 + sender bytes', () => {
    expect(header).toBe(88 + 52);
    const [f] = encodeFrames(message(new Uint8Array(10)));
    expect(f.length).toBe(header + 10);
  });

  it('cuts at stride = frame size − header, sizes exactly chunks·header + payload', () => {
    const frameSize = 1024;
    const stride = frameSize - header;
    for (const L of [0, 1, stride - 1, stride, stride + 1, 2 * stride, 7 * stride + 3, 100_000]) {
      const body = bytesOf(L, L + 1);
      const frames = encodeFrames(message(body), { frameSize });
      const n = chunkCount(L, stride);
      expect(frames.length).toBe(n);
      expect(n).toBe(L === 0 ? 1 : Math.ceil(L / stride));
      const total = frames.reduce((s, f) => s + f.length, 0);
      expect(total).toBe(n * header + L);
      expect(encodedBytes(L, PEER_A.length, frameSize)).toBe(total);
      frames.forEach((f, i) => {
        if (i < n - 1) expect(f.length).toBe(frameSize);
        else expect(f.length).toBe(header + (L - (n - 1) * stride));
        const d = decodeFrame(f);
        expect(d.index).toBe(i);
        expect(d.count).toBe(n);
        expect(d.stride).toBe(stride);
        expect(d.payload).toEqual(body.subarray(i * stride, i * stride + d.payload.length));
      });
    }
  });

  it('decodes every header field as encoded', () => {
    const m = message(bytesOf(5000, 9), { kind: 255, epoch: 0xffffffff, round: 123456789, phase: 0xffff, codec: 0xfffe });
    const frames = encodeFrames(m, { frameSize: 2048, messageId: 0xdeadbeef });
    const d = decodeFrame(frames[1]);
    expect(d).toMatchObject({
      version: 1,
      runId: RUN_ID,
      epoch: 0xffffffff,
      round: 123456789,
      phase: 0xffff,
      kind: 255,
      sender: PEER_A,
      messageId: 0xdeadbeef,
      index: 1,
      count: 3,
      codec: 0xfffe,
      totalLength: 5000,
      stride: 2048 - header,
      frameBytes: 2048,
    });
    expect(d.payloadCrc).toBe(crc32c(d.payload));
  });

  it('carries each frame its own run id when runs alternate (encoder and decoder keep the last one)', () => {
    const runs = [RUN_ID, '0f'.repeat(32), RUN_ID, 'e1'.repeat(31) + 'e2', '0f'.repeat(32)];
    const encoded = runs.map((runId, i) => encodeFrames(message(bytesOf(40 + i, i), { runId }))[0]);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < runs.length; i++) {
        expect(decodeFrame(encoded[i]).runId).toBe(runs[i]);
        // The bytes are the hex digits read two at a time.
        expect(Array.from(encoded[i].subarray(OFF.runId, OFF.runId + 32), (b) => b.toString(16).padStart(2, '0')).join('')).toBe(runs[i]);
      }
    }
    expect(codeOf(() => encodeFrames(message(bytesOf(4, 1), { runId: 'A3'.repeat(32) })))).toBe('bad-message');
  });

  it('writes frames into buffers from `alloc` when given (same bytes), and checks their size', () => {
    const m = message(bytesOf(3000, 5));
    const plainFrames = encodeFrames(m, { frameSize: 1024 });
    const block = new Uint8Array(8192).fill(0xee);
    let at = 0;
    const viaAlloc = encodeFrames(m, {
      frameSize: 1024,
      alloc: (n) => {
        const v = block.subarray(at, at + n);
        at += n + 3;
        return v;
      },
    });
    expect(viaAlloc.map((f) => Array.from(f))).toEqual(plainFrames.map((f) => Array.from(f)));
    for (const f of viaAlloc) expect(f.buffer).toBe(block.buffer);
    expect(codeOf(() => encodeFrames(m, { alloc: (n) => new Uint8Array(n + 1) }))).toBe('bad-options');
  });

  it('derives the message id deterministically from the content', () => {
    const body = bytesOf(3000, 4);
    const a = encodeFrames(message(body), { frameSize: 1024 });
    const b = encodeFrames(message(body.slice()), { frameSize: 1024 });
    expect(a).toEqual(b);
    const other = body.slice();
    other[2999] ^= 1;
    const c = encodeFrames(message(other), { frameSize: 1024 });
    expect(decodeFrame(c[0]).messageId).not.toBe(decodeFrame(a[0]).messageId);
    const r = encodeFrames(message(body, { round: 18 }), { frameSize: 1024 });
    expect(decodeFrame(r[0]).messageId).not.toBe(decodeFrame(a[0]).messageId);
  });

  it('accepts frame sizes from MIN_FRAME_BYTES to MAX_FRAME_BYTES and refuses others', () => {
    const body = bytesOf(3 * MAX_FRAME_BYTES, 1);
    for (const frameSize of [MIN_FRAME_BYTES, DEFAULT_FRAME_BYTES, MAX_FRAME_BYTES]) {
      const frames = encodeFrames(message(body), { frameSize });
      expect(Math.max(...frames.map((f) => f.length))).toBe(frameSize);
      expect(decodeFrame(frames[frames.length - 1]).count).toBe(frames.length);
    }
    for (const frameSize of [MIN_FRAME_BYTES - 1, MAX_FRAME_BYTES + 1, 1000.5, Number.NaN]) {
      expect(codeOf(() => encodeFrames(message(body), { frameSize }))).toBe('bad-options');
    }
    expect(codeOf(() => encodeFrames(message(body), { messageId: -1 }))).toBe('bad-options');
  });

  it('refuses invalid messages with bad-message', () => {
    const body = new Uint8Array(4);
    const bad: Array<Partial<Parameters<typeof message>[1]>> = [
      { kind: 256 },
      { kind: -1 },
      { phase: 65536 },
      { codec: 1.5 },
      { epoch: 2 ** 32 },
      { round: Number.NaN },
      { runId: 'A3'.repeat(32) },
      { runId: 'a3'.repeat(31) },
      { sender: '' },
      { sender: 'x'.repeat(129) },
      { sender: 'has space' },
      { sender: 'é' },
    ];
    for (const over of bad) expect(codeOf(() => encodeFrames(message(body, over)))).toBe('bad-message');
    expect(codeOf(() => encodeFrames({ ...message(body), body: [1, 2] as unknown as Uint8Array }))).toBe('bad-message');
  });
});

describe('wire overhead', () => {
  it('stays ≤ 1.10 for frames of 16 KiB and larger with a 1 MB message', () => {
    const L = 1_000_000;
    const ratios = [1024, 16384, 65536, 262144, 1048576].map((f) => wireOverhead(L, PEER_A.length, f));
    // Exact: ⌈L / (f − 140)⌉ · 140 / L + 1.
    expect(ratios[0]).toBeCloseTo(1 + (Math.ceil(L / (1024 - 140)) * 140) / L, 12);
    for (const r of ratios.slice(1)) expect(r).toBeLessThanOrEqual(1.1);
    expect(ratios[1]).toBeLessThan(1.01);
    // Worst case for a 16 KiB frame: the largest sender id.
    expect(wireOverhead(L, 128, 16384)).toBeLessThan(1.02);
    // Matches what encodeFrames really produces.
    const frames = encodeFrames(message(bytesOf(L, 3)), { frameSize: 16384 });
    expect(frames.reduce((s, f) => s + f.length, 0) / L).toBe(ratios[1]);
  });
});

describe('decodeFrame: typed refusals', () => {
  const frames = encodeFrames(message(bytesOf(2000, 5)), { frameSize: 1024 });
  const f0 = frames[0];
  const last = frames[frames.length - 1];
  const copy = (f: Uint8Array): Uint8Array => f.slice();

  it('names what is wrong', () => {
    expect(codeOf(() => decodeFrame(new Uint8Array(0)))).toBe('too-short');
    expect(codeOf(() => decodeFrame(f0.subarray(0, HEADER_OVERHEAD_BYTES)))).toBe('too-short');
    expect(codeOf(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).toBe('too-large');
    expect(codeOf(() => decodeFrame('frame' as unknown as Uint8Array))).toBe('bad-header');

    const magic = copy(f0);
    magic[0] ^= 0xff;
    expect(codeOf(() => decodeFrame(magic))).toBe('bad-magic');
    const version = copy(f0);
    version[OFF.version] = 2;
    expect(codeOf(() => decodeFrame(version))).toBe('bad-version');
    const epoch = copy(f0);
    epoch[OFF.epoch] ^= 1;
    expect(codeOf(() => decodeFrame(epoch))).toBe('bad-checksum');
    const payload = copy(f0);
    payload[payload.length - 1] ^= 0x80;
    expect(codeOf(() => decodeFrame(payload))).toBe('bad-checksum');
    expect(codeOf(() => decodeFrame(f0.subarray(0, f0.length - 1)))).toBe('bad-length');
    const longer = new Uint8Array(last.length + 1);
    longer.set(last);
    expect(codeOf(() => decodeFrame(longer))).toBe('bad-length');

    const senderLen = copy(f0);
    senderLen[OFF.senderLength] = 0;
    expect(codeOf(() => decodeFrame(senderLen))).toBe('bad-header');
    const senderByte = copy(f0);
    senderByte[OFF.sender] = 0x20;
    expect(codeOf(() => decodeFrame(reseal(senderByte)))).toBe('bad-header');
    const flags = copy(f0);
    flags[OFF.flags] = 1;
    expect(codeOf(() => decodeFrame(reseal(flags)))).toBe('bad-header');
    const index = copy(f0);
    putU32(index, OFF.index, frames.length);
    expect(codeOf(() => decodeFrame(reseal(index)))).toBe('bad-header');
    const count = copy(f0);
    putU32(count, OFF.count, frames.length + 1);
    expect(codeOf(() => decodeFrame(reseal(count)))).toBe('bad-header');
    const stride = copy(f0);
    putU32(stride, OFF.stride, 0);
    expect(codeOf(() => decodeFrame(reseal(stride)))).toBe('bad-header');
    const chunkLen = copy(f0);
    putU32(chunkLen, OFF.chunkLength, 10);
    expect(codeOf(() => decodeFrame(reseal(chunkLen)))).toBe('bad-header');
  });

  it('decodes a header declaring a 4 GiB message without allocating it', () => {
    // Last chunk of a (2^32 − 1)-byte message cut at stride 1000: a well-formed 435-byte frame.
    const total = 0xffffffff;
    const stride = 1000;
    const n = Math.ceil(total / stride);
    const tail = total - (n - 1) * stride;
    const f = encodeFrames(message(bytesOf(tail, 2)), { frameSize: 140 + stride })[0];
    putU32(f, OFF.index, n - 1);
    putU32(f, OFF.count, n);
    putU32(f, OFF.totalLength, total);
    const d = decodeFrame(reseal(f));
    expect(d).toMatchObject({ totalLength: total, count: n, index: n - 1 });
    expect(d.payload.buffer).toBe(f.buffer);
    expect(f.length).toBe(140 + tail);
  });
});

describe('decodeFrame under random input (fast-check)', () => {
  const valid = encodeFrames(message(bytesOf(3000, 8)), { frameSize: 1024 });
  const onlyFrameErrors = (bytes: Uint8Array): boolean => {
    try {
      const f = decodeFrame(bytes);
      // Anything that decodes is self-consistent.
      expect(f.frameBytes).toBe(bytes.length);
      expect(crc32c(f.payload)).toBe(f.payloadCrc);
      return true;
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      return false;
    }
  };

  it('random bytes raise only FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => void onlyFrameErrors(b)),
      { seed: 1, numRuns: 2000 },
    );
  });

  it('random bytes behind a valid magic and version raise only FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (b) => {
        const x = new Uint8Array(b.length + 5);
        x.set(valid[0].subarray(0, 5));
        x.set(b, 5);
        onlyFrameErrors(x);
      }),
      { seed: 2, numRuns: 2000 },
    );
  });

  it('bit flips, truncations and extensions of valid frames raise only FrameError and never pass', () => {
    const mutation = fc.oneof(
      fc.record({ t: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
      fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ t: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    );
    fc.assert(
      fc.property(fc.nat({ max: valid.length - 1 }), mutation, (which, m) => {
        const src = valid[which];
        let x: Uint8Array;
        if (m.t === 'flip') {
          x = src.slice();
          const seen = new Set<number>();
          for (const b of m.bits) seen.add(b % (8 * x.length));
          for (const b of seen) x[b >> 3] ^= 1 << (b & 7);
        } else if (m.t === 'truncate') {
          x = src.subarray(0, m.at % src.length);
        } else {
          x = new Uint8Array(src.length + m.extra.length);
          x.set(src);
          x.set(m.extra, src.length);
        }
        // CRC-32C has Hamming distance ≥ 4 at these lengths: every error of ≤ 3 bits is caught; lengths are checked exactly.
        expect(onlyFrameErrors(x)).toBe(false);
      }),
      { seed: 3, numRuns: 3000 },
    );
  });

  it('header field changes (resealed so they pass the header CRC) raise only FrameError or decode consistently', () => {
    const fields = [
      OFF.kind,
      OFF.phase,
      OFF.codec,
      OFF.senderLength,
      OFF.flags,
      OFF.epoch,
      OFF.round,
      OFF.messageId,
      OFF.index,
      OFF.count,
      OFF.totalLength,
      OFF.stride,
      OFF.chunkLength,
      OFF.payloadCrc,
      OFF.digest,
      OFF.runId,
    ];
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.constantFrom(...fields),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 3 }),
        (which, off, value, width) => {
          const x = valid[which].slice();
          for (let k = 0; k <= width; k++) x[off + k] = (value >>> (8 * k)) & 0xff;
          if (off === OFF.senderLength) x[off] = value & 0xff;
          const senderLength = x[OFF.senderLength];
          if (OFF.sender + senderLength + 4 <= x.length) reseal(x);
          onlyFrameErrors(x);
        },
      ),
      { seed: 4, numRuns: 3000 },
    );
  });
});

describe('chunking round-trips', () => {
  it('random messages at random frame sizes reassemble exactly, in any order, with duplicates', () => {
    fc.assert(
      fc.property(arbMessage(6000), fc.integer({ min: MIN_FRAME_BYTES, max: 4096 }), fc.nat(), (m, frameSize, seed) => {
        const frames = encodeFrames(m, { frameSize });
        expect(frames.reduce((s, f) => s + f.length, 0)).toBe(encodedBytes(m.body.length, m.sender.length, frameSize));
        // Shuffle with duplicates, deterministically from `seed`.
        const order = [...frames.keys(), ...frames.keys()].map((i, k) => ({ i, key: Math.imul(seed ^ (k + 1), 2654435761) >>> 0 }));
        order.sort((a, b) => a.key - b.key);
        const r = new Reassembler({ maxMessageBytes: 1 << 20, rememberCompleted: 16 });
        const out = [];
        for (const { i } of order) {
          const got = r.accept(decodeFrame(frames[i]), 0);
          if (got) out.push(got);
        }
        expect(out).toHaveLength(1);
        expect(sameMessage(out[0], m)).toBe(true);
        expect(r.counters.duplicates).toBe(frames.length);
        expect(r.counters.partials).toBe(0);
        expect(r.counters.bufferedBytes).toBe(0);
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('round-trips every payload codec id (0..65535), single- and multi-frame', () => {
    const r = new Reassembler({ maxMessageBytes: 4096 });
    const small = bytesOf(40, 6);
    const big = bytesOf(1000, 7);
    const same = (x: Uint8Array | undefined, y: Uint8Array): boolean => x !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
    const wrong: number[] = [];
    for (let codec = 0; codec <= 0xffff; codec++) {
      const one = r.accept(decodeFrame(encodeFrames(message(small, { codec }))[0]), 0);
      if (one?.codec !== codec || !same(one.body, small)) wrong.push(codec);
      if (codec % 64 === 0 || codec === 0xffff) {
        const frames = encodeFrames(message(big, { codec }), { frameSize: MIN_FRAME_BYTES });
        if (frames.length !== 3) wrong.push(codec);
        let got = null;
        for (const f of frames.reverse()) got = r.accept(decodeFrame(f), 0);
        if (got?.codec !== codec || !same(got.body, big)) wrong.push(codec);
      }
    }
    expect(wrong).toEqual([]);
    expect(r.counters.messagesCompleted).toBe(65536 + 1025);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHUNK_OVERHEAD_BYTES, crc32c, decodeFrame, encodeFrames, FrameError, Reassembler, type EngineMessage, type Frame } from './internals.js';
import { OFF, putU32 } from '../src/frames/format.js';
import { bytesOf, message, PEER_A, PEER_B, RUN_ID, sameMessage } from './frames-helpers.js';

function reseal(f: Uint8Array): Uint8Array {
  const at = OFF.sender + f[OFF.senderLength];
  putU32(f, at, crc32c(f, 0, at));
  return f;
}

/** Runs fn; returns the FrameError code it threw, 'none' if it returned; rethrows anything else. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FrameError) return e.code;
    throw e;
  }
  return 'none';
}

const frame = (bytes: Uint8Array): Frame => decodeFrame(bytes);

describe('Reassembler: limits', () => {
  it('refuses a message over maxMessageBytes before allocating, and passes the header to a limit function', () => {
    const frames = encodeFrames(message(bytesOf(5000, 1), { codec: 9 }), { frameSize: 1024 });
    const r = new Reassembler({ maxMessageBytes: 4999 });
    expect(codeOf(() => r.accept(frame(frames[0]), 0))).toBe('message-too-large');
    expect(r.counters).toMatchObject({ partials: 0, bufferedBytes: 0, rejected: { 'message-too-large': 1 } });

    const seen: number[] = [];
    const byCodec = new Reassembler({ maxMessageBytes: (h) => (seen.push(h.codec), h.codec === 9 ? 5000 : 10) });
    let got: EngineMessage | null = null;
    for (const f of frames) got = byCodec.accept(frame(f), 0);
    expect(got?.body).toEqual(bytesOf(5000, 1));
    expect(seen.every((c) => c === 9)).toBe(true);
    const other = encodeFrames(message(bytesOf(11, 2), { codec: 1 }))[0];
    expect(codeOf(() => byCodec.accept(frame(other), 0))).toBe('message-too-large');
  });

  it('refuses a header declaring 4 GiB at every limit, with nothing allocated', () => {
    const total = 0xffffffff;
    const stride = 1000;
    const n = Math.ceil(total / stride);
    const f = encodeFrames(message(bytesOf(total - (n - 1) * stride, 2)), { frameSize: 140 + stride })[0];
    putU32(f, OFF.index, n - 1);
    putU32(f, OFF.count, n);
    putU32(f, OFF.totalLength, total);
    const big = frame(reseal(f));
    const cases: Array<[ConstructorParameters<typeof Reassembler>[0], string]> = [
      [{ maxMessageBytes: 1 << 20 }, 'message-too-large'],
      [{ maxMessageBytes: Infinity }, 'too-many-chunks'],
    ];
    for (const [limits, code] of cases) {
      const r = new Reassembler(limits);
      expect(codeOf(() => r.accept(big, 0))).toBe(code);
      expect(r.counters).toMatchObject({ partials: 0, bufferedBytes: 0 });
    }
    // With no size limit at all the frame is kept, but it holds only its own bytes.
    const r = new Reassembler({ maxMessageBytes: Infinity, maxChunks: Infinity });
    expect(r.accept(big, 0)).toBeNull();
    expect(r.counters).toMatchObject({ partials: 1, bufferedBytes: big.payload.length + CHUNK_OVERHEAD_BYTES });
  });

  it('refuses a message of more chunks than maxChunks', () => {
    const frames = encodeFrames(message(bytesOf(4 * 884, 3)), { frameSize: 1024 });
    expect(frames).toHaveLength(4);
    const r = new Reassembler({ maxMessageBytes: 1 << 20, maxChunks: 3 });
    expect(codeOf(() => r.accept(frame(frames[2]), 0))).toBe('too-many-chunks');
    const ok = encodeFrames(message(bytesOf(3 * 884, 3)), { frameSize: 1024 });
    let got: EngineMessage | null = null;
    for (const x of ok) got = r.accept(frame(x), 0);
    expect(got?.body).toEqual(bytesOf(3 * 884, 3));
  });

  it('limits partial messages per sender, without touching other senders; age frees the slots', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20, maxPartialsPerSender: 2, maxAgeMs: 1000 });
    const msgs = [1, 2, 3].map((round) => encodeFrames(message(bytesOf(2000, round), { round }), { frameSize: 1024 }));
    expect(r.accept(frame(msgs[0][0]), 0)).toBeNull();
    expect(r.accept(frame(msgs[1][0]), 10)).toBeNull();
    expect(codeOf(() => r.accept(frame(msgs[2][0]), 20))).toBe('too-many-partials');
    // Another sender is unaffected.
    const fromB = encodeFrames(message(bytesOf(2000, 9), { sender: PEER_B }), { frameSize: 1024 });
    expect(r.accept(frame(fromB[0]), 20)).toBeNull();
    expect(r.counters.partials).toBe(3);
    // Completing one of A's frees a slot.
    let done: EngineMessage | null = null;
    for (const f of msgs[0].slice(1)) done = r.accept(frame(f), 30);
    expect(done?.round).toBe(1);
    expect(r.accept(frame(msgs[2][0]), 40)).toBeNull();
    // Both of A's slots are full again; once the older one is past maxAge it is expired to make room.
    const m4 = encodeFrames(message(bytesOf(2000, 4), { round: 4 }), { frameSize: 1024 });
    expect(codeOf(() => r.accept(frame(m4[0]), 1010))).toBe('too-many-partials');
    expect(r.accept(frame(m4[0]), 1011)).toBeNull();
    expect(r.counters.expired).toBe(1);
    expect(r.counters.rejected['too-many-partials']).toBe(2);
  });

  it('limits partial messages in all', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20, maxPartials: 2 });
    const first = (sender: string): Frame => frame(encodeFrames(message(bytesOf(2000, 5), { sender }), { frameSize: 1024 })[0]);
    r.accept(first('peer-1'), 0);
    r.accept(first('peer-2'), 0);
    expect(codeOf(() => r.accept(first('peer-3'), 0))).toBe('buffer-full');
    expect(r.counters.partials).toBe(2);
  });

  it('counts buffered bytes as the chunks received (the body once half of it is in) + bookkeeping per chunk', () => {
    const m1 = encodeFrames(message(bytesOf(3000, 1), { round: 1 }), { frameSize: 1024 });
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    const first = frame(m1[0]).payload.length;
    r.accept(frame(m1[0]), 0);
    expect(r.counters.bufferedBytes).toBe(first + CHUNK_OVERHEAD_BYTES);
    r.accept(frame(m1[1]), 0); // past half: the 3000-byte body is allocated
    expect(r.counters.bufferedBytes).toBe(3000 + 2 * CHUNK_OVERHEAD_BYTES);
    for (const f of m1.slice(2)) r.accept(frame(f), 0);
    expect(r.counters).toMatchObject({ bufferedBytes: 0, partials: 0, messagesCompleted: 1 });
  });

  it('a 480-byte frame declaring a 256 MiB message holds 480 bytes, not 256 MiB', () => {
    const total = 256 * 1024 * 1024;
    const stride = 480 - 88 - PEER_A.length;
    const n = Math.ceil(total / stride);
    const f = encodeFrames(message(bytesOf(stride, 2)))[0];
    putU32(f, OFF.count, n);
    putU32(f, OFF.totalLength, total);
    putU32(f, OFF.stride, stride);
    const big = frame(reseal(f));
    expect(big.frameBytes).toBe(480);
    const r = new Reassembler({ maxMessageBytes: total, maxChunks: Infinity });
    const before = process.memoryUsage().arrayBuffers;
    expect(r.accept(big, 0)).toBeNull();
    expect(r.counters.bufferedBytes).toBe(stride + CHUNK_OVERHEAD_BYTES);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('keeps each sender within its byte budget, without touching other senders', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20, maxBytesPerSender: 5000, maxPartialsPerSender: 64 });
    // PEER_B trickles first chunks of many 3000-byte messages: each holds ~900 bytes; the budget
    // lets about 5 of them live, older ones are dropped to make room for the newest.
    for (let round = 1; round <= 20; round++) {
      const f = encodeFrames(message(bytesOf(3000, round), { round, sender: PEER_B }), { frameSize: 1024 })[0];
      expect(r.accept(frame(f), round)).toBeNull();
    }
    expect(r.counters.bufferedBytes).toBeLessThanOrEqual(5000);
    expect(r.counters.evicted).toBeGreaterThan(10);
    // A message of PEER_B larger than its budget can never complete: refused as it grows.
    const huge = encodeFrames(message(bytesOf(20_000, 9), { round: 99, sender: PEER_B }), { frameSize: 1024 });
    expect(() => huge.forEach((f) => r.accept(frame(f), 50))).toThrow(FrameError);
    expect(r.counters.rejected['sender-budget']).toBeGreaterThan(0);
    // PEER_A's message is unaffected.
    let got: EngineMessage | null = null;
    for (const f of encodeFrames(message(bytesOf(4000, 7)), { frameSize: 1024 })) got = r.accept(frame(f), 60);
    expect(got?.body).toEqual(bytesOf(4000, 7));
  });

  it('an honest large message completes while other senders flood partials they never finish', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 22, maxBufferedBytes: 64 * 1024, maxBytesPerSender: 16 * 1024, maxPartialsPerSender: 64 });
    let t = 0;
    // 3 attackers each start a new 8000-byte message for every chunk of the honest one (and
    // declare messages of up to 4 MiB): each is held to its own budget.
    const attackers = ['attacker-1', 'attacker-2', 'attacker-3'];
    const honest = encodeFrames(message(bytesOf(15 * 1024, 3), { round: 5 }), { frameSize: 1024 });
    let got: EngineMessage | null = null;
    for (let i = 0; i < honest.length; i++) {
      for (const a of attackers) {
        const f = encodeFrames(message(bytesOf(8000, (i + a.length) & 0xff), { round: 1000 + i, sender: a }), { frameSize: 1024 })[0];
        try {
          r.accept(frame(f), t++);
        } catch (e) {
          if (!(e instanceof FrameError)) throw e;
        }
      }
      got = r.accept(frame(honest[i]), t++);
    }
    expect(got?.body).toEqual(bytesOf(15 * 1024, 3));
    expect(r.counters.bufferedBytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('expires partial messages older than maxAgeMs (measured from the first chunk)', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20, maxAgeMs: 500 });
    const frames = encodeFrames(message(bytesOf(3000, 6)), { frameSize: 1024 });
    r.accept(frame(frames[0]), 100);
    r.accept(frame(frames[1]), 550);
    expect(r.expire(600)).toBe(0); // age exactly 500: kept
    expect(r.expire(601)).toBe(1);
    expect(r.counters).toMatchObject({ expired: 1, partials: 0, bufferedBytes: 0 });
    // The remaining chunks alone do not complete it: the message starts over.
    expect(r.accept(frame(frames[2]), 602)).toBeNull();
    expect(r.accept(frame(frames[3]), 603)).toBeNull();
    expect(r.counters.partials).toBe(1);
    // A chunk arriving for a partial already past its age restarts it instead of completing stale state.
    r.accept(frame(frames[0]), 1200);
    expect(r.counters.expired).toBe(2);
    for (const f of frames) r.accept(frame(f), 1300);
    expect(r.counters.messagesCompleted).toBe(1);
  });

  it('drops the partial messages of one sender on request', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    const a = [1, 2].map((round) => encodeFrames(message(bytesOf(2000, round), { round }), { frameSize: 1024 }));
    const b = encodeFrames(message(bytesOf(2000, 3), { sender: PEER_B }), { frameSize: 1024 });
    r.accept(frame(a[0][0]), 0);
    r.accept(frame(a[1][0]), 0);
    r.accept(frame(b[0]), 0);
    expect(r.dropSender(PEER_A)).toBe(2);
    expect(r.dropSender(PEER_A)).toBe(0);
    expect(r.counters).toMatchObject({ partials: 1, bufferedBytes: frame(b[0]).payload.length + CHUNK_OVERHEAD_BYTES });
    let got: EngineMessage | null = null;
    for (const f of b.slice(1)) got = r.accept(frame(f), 0);
    expect(got?.sender).toBe(PEER_B);
  });

  it('checks run and transport sender when asked', () => {
    const f = encodeFrames(message(bytesOf(10, 1)))[0];
    const r = new Reassembler({ maxMessageBytes: 100, runId: 'b4'.repeat(32) });
    expect(codeOf(() => r.accept(frame(f), 0))).toBe('wrong-run');
    const s = new Reassembler({ maxMessageBytes: 100, runId: RUN_ID });
    expect(codeOf(() => s.accept(frame(f), 0, PEER_B))).toBe('sender-mismatch');
    expect(s.accept(frame(f), 0, PEER_A)?.sender).toBe(PEER_A);
  });

  it('refuses bad options with bad-options', () => {
    expect(codeOf(() => new Reassembler({ maxMessageBytes: -1 }))).toBe('bad-options');
    expect(codeOf(() => new Reassembler({ maxMessageBytes: 10, maxChunks: 0 }))).toBe('bad-options');
    expect(codeOf(() => new Reassembler({ maxMessageBytes: 10, maxAgeMs: Number.NaN }))).toBe('bad-options');
    expect(codeOf(() => new Reassembler({ maxMessageBytes: 10, runId: 'xyz' }))).toBe('bad-options');
  });
});

describe('Reassembler: duplicates and conflicts', () => {
  const body = bytesOf(4000, 7);
  const frames = encodeFrames(message(body), { frameSize: 1024 });

  it('counts duplicates and delivers once', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    const out = [];
    for (const i of [3, 0, 3, 1, 0, 2, 4]) {
      const m = r.accept(frame(frames[i]), 0);
      if (m) out.push(m);
    }
    expect(out).toHaveLength(1);
    expect(out[0].body).toEqual(body);
    expect(r.counters).toMatchObject({ duplicates: 2, framesAccepted: 5, messagesCompleted: 1 });
  });

  it('redelivers a repeated single-frame message unless rememberCompleted is set', () => {
    const one = encodeFrames(message(bytesOf(50, 8)))[0];
    const plain = new Reassembler({ maxMessageBytes: 100 });
    expect(plain.accept(frame(one), 0)).not.toBeNull();
    expect(plain.accept(frame(one), 0)).not.toBeNull();
    const remembering = new Reassembler({ maxMessageBytes: 1 << 20, rememberCompleted: 1 });
    expect(remembering.accept(frame(one), 0)).not.toBeNull();
    expect(remembering.accept(frame(one), 0)).toBeNull();
    // A late chunk of a completed multi-frame message is a duplicate, not a new partial.
    for (const f of frames) remembering.accept(frame(f), 0);
    expect(remembering.accept(frame(frames[2]), 0)).toBeNull();
    expect(remembering.counters).toMatchObject({ duplicates: 2, partials: 0, messagesCompleted: 2 });
  });

  it('a one-frame message under the key of a partial in progress is a conflict, not a delivery', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    const multi = encodeFrames(message(body), { frameSize: 1024, messageId: 5 });
    const single = encodeFrames(message(bytesOf(60, 3)), { messageId: 5 })[0];
    r.accept(frame(multi[0]), 0);
    expect(codeOf(() => r.accept(frame(single), 0))).toBe('conflict');
    expect(r.counters.partials).toBe(0);
    // With nothing in progress it is delivered.
    expect(r.accept(frame(single), 0)?.body).toEqual(bytesOf(60, 3));
  });

  it('copies one-frame bodies unless the caller declares its frames immutable', () => {
    const bytes = encodeFrames(message(bytesOf(80, 4)))[0];
    const copying = new Reassembler({ maxMessageBytes: 100 });
    const sharing = new Reassembler({ maxMessageBytes: 1 << 20, immutableFrames: true });
    const a = copying.accept(frame(bytes), 0)!;
    const b = sharing.accept(frame(bytes), 0)!;
    expect(a.body).toEqual(bytesOf(80, 4));
    expect(b.body).toEqual(bytesOf(80, 4));
    expect(a.body.buffer).not.toBe(bytes.buffer);
    expect(b.body.buffer).toBe(bytes.buffer);
    // Multi-frame bodies are assembled into their own buffer either way.
    const parts = encodeFrames(message(body), { frameSize: 1024 });
    let m: EngineMessage | null = null;
    for (const f of parts) m = sharing.accept(frame(f), 0);
    expect(m?.body).toEqual(body);
    for (const f of parts) expect(m?.body.buffer).not.toBe(f.buffer);
  });

  it('drops a partial whose chunk arrives again with different bytes, without touching other messages', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    const fromB = encodeFrames(message(bytesOf(3000, 9), { sender: PEER_B }), { frameSize: 1024 });
    r.accept(frame(fromB[0]), 0);
    r.accept(frame(frames[0]), 0);
    r.accept(frame(frames[1]), 0);
    // Same key and digest, chunk 1 with other bytes (payload and header CRCs made valid).
    const forged = frames[1].slice();
    forged[forged.length - 1] ^= 0xff;
    putU32(forged, OFF.payloadCrc, crc32c(forged, forged.length - (1024 - 140)));
    expect(codeOf(() => r.accept(frame(reseal(forged)), 0))).toBe('conflict');
    expect(r.counters.partials).toBe(1);
    let b: EngineMessage | null = null;
    for (const f of fromB.slice(1)) b = r.accept(frame(f), 0);
    expect(b?.body).toEqual(bytesOf(3000, 9));
    // A's message can be sent again from scratch.
    let a: EngineMessage | null = null;
    for (const f of frames) a = r.accept(frame(f), 0);
    expect(a?.body).toEqual(body);
  });

  it('refuses a chunk declaring a different length, codec or digest under the same message id', () => {
    const id = { messageId: 77 };
    const base = encodeFrames(message(body), { frameSize: 1024, ...id });
    const variants = [
      encodeFrames(message(bytesOf(4100, 7)), { frameSize: 1024, ...id }),
      encodeFrames(message(body, { codec: 6 }), { frameSize: 1024, ...id }),
      encodeFrames(message(bytesOf(4000, 1)), { frameSize: 1024, ...id }),
    ];
    for (const v of variants) {
      const r = new Reassembler({ maxMessageBytes: 1 << 20 });
      r.accept(frame(base[0]), 0);
      expect(codeOf(() => r.accept(frame(v[1]), 0))).toBe('conflict');
      expect(r.counters).toMatchObject({ partials: 0, bufferedBytes: 0, rejected: { conflict: 1 } });
    }
  });

  it('never returns a message whose chunks are misplaced: the digest refuses it', () => {
    const r = new Reassembler({ maxMessageBytes: 1 << 20 });
    // Chunk 0's frame relabelled as chunk 1 (a full-size chunk too), header resealed: decodes fine.
    const moved = frames[0].slice();
    putU32(moved, OFF.index, 1);
    r.accept(frame(reseal(moved)), 0);
    for (const i of [0, 2, 3]) r.accept(frame(frames[i]), 0);
    expect(codeOf(() => r.accept(frame(frames[4]), 0))).toBe('bad-digest');
    expect(r.counters).toMatchObject({ messagesCompleted: 0, partials: 0, bufferedBytes: 0 });
    // Single-frame message under a changed round (digest covers it).
    const one = encodeFrames(message(bytesOf(30, 1)))[0].slice();
    putU32(one, OFF.round, 999);
    expect(codeOf(() => r.accept(frame(reseal(one)), 0))).toBe('bad-digest');
  });
});

describe('Reassembler under garbage (fast-check)', () => {
  const target = message(bytesOf(20 * 884 - 17, 21), { round: 5 });
  const targetFrames = encodeFrames(target, { frameSize: 1024 });
  const others = [
    encodeFrames(message(bytesOf(3000, 22), { sender: PEER_B }), { frameSize: 1024 }),
    encodeFrames(message(bytesOf(2500, 23), { round: 6 }), { frameSize: 1024 }),
  ];
  const limits = { maxMessageBytes: 64 * 1024, maxPartialsPerSender: 4, maxPartials: 16, maxBufferedBytes: 200_000 };

  /** A mutation that can never decode: random bytes, ≤ 3 bit flips, truncation or extension of a valid frame. */
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 1200 }).map((b) => ({ bytes: b })),
    fc.tuple(fc.nat({ max: targetFrames.length - 1 }), fc.array(fc.nat(), { minLength: 1, maxLength: 3 })).map(([w, bits]) => {
      const x = targetFrames[w].slice();
      for (const b of new Set(bits.map((b) => b % (8 * x.length)))) x[b >> 3] ^= 1 << (b & 7);
      return { bytes: x };
    }),
    fc.tuple(fc.nat({ max: targetFrames.length - 1 }), fc.nat()).map(([w, at]) => ({ bytes: targetFrames[w].subarray(0, at % targetFrames[w].length) })),
    fc.tuple(fc.nat({ max: targetFrames.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([w, extra]) => {
      const src = targetFrames[w];
      const x = new Uint8Array(src.length + extra.length);
      x.set(src);
      x.set(extra, src.length);
      return { bytes: x };
    }),
  );

  it('interleaved garbage and other messages never damage a reassembly in progress', () => {
    fc.assert(
      fc.property(fc.array(garbage, { maxLength: 60 }), fc.nat(), (junk, seed) => {
        const r = new Reassembler(limits);
        const valid = [...targetFrames, ...others[0], ...others[1]];
        // Deterministic shuffle of the valid frames, then junk spliced in at pseudo-random places.
        const stream: Array<{ bytes: Uint8Array; junk: boolean }> = valid
          .map((bytes, k) => ({ bytes, junk: false, key: Math.imul(seed ^ (k + 1), 2654435761) >>> 0 }))
          .sort((a, b) => a.key - b.key);
        junk.forEach((j, k) => stream.splice((Math.imul(seed + k, 40503) >>> 0) % (stream.length + 1), 0, { bytes: j.bytes, junk: true }));
        const delivered: EngineMessage[] = [];
        let refused = 0;
        for (const { bytes, junk: isJunk } of stream) {
          try {
            const m = r.acceptBytes(bytes, 0);
            if (isJunk) throw new Error('garbage was accepted');
            if (m) delivered.push(m);
          } catch (e) {
            if (!(e instanceof FrameError)) throw e;
            if (!isJunk) throw new Error(`a valid frame was refused: ${e.code}`);
            refused++;
          }
          if (r.counters.bufferedBytes > limits.maxBufferedBytes) throw new Error('buffer limit exceeded');
        }
        expect(refused).toBe(junk.length);
        expect(delivered).toHaveLength(3);
        const t = delivered.find((m) => m.round === 5 && m.sender === PEER_A);
        expect(sameMessage(t, target)).toBe(true);
        expect(r.counters).toMatchObject({ partials: 0, bufferedBytes: 0, messagesCompleted: 3 });
        const rejected = Object.values(r.counters.rejected).reduce((s, x) => s + x, 0);
        expect(rejected).toBe(junk.length);
      }),
      { seed: 31, numRuns: 500 },
    );
  });

  it('resealed header forgeries of the same sender can cost a message, never corrupt one', () => {
    const fields = [
      OFF.kind,
      OFF.phase,
      OFF.codec,
      OFF.epoch,
      OFF.round,
      OFF.messageId,
      OFF.index,
      OFF.count,
      OFF.totalLength,
      OFF.stride,
      OFF.chunkLength,
      OFF.digest,
    ];
    const forgery = fc.record({
      w: fc.nat({ max: targetFrames.length - 1 }),
      off: fc.constantFrom(...fields),
      value: fc.nat({ max: 0xffffffff }),
      width: fc.nat({ max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(forgery, { maxLength: 20 }), fc.nat(), (forged, seed) => {
        const r = new Reassembler(limits);
        const stream = targetFrames
          .map((bytes, k) => ({ bytes, key: Math.imul(seed ^ (k + 1), 2654435761) >>> 0 }))
          .sort((a, b) => a.key - b.key)
          .map((x) => x.bytes);
        forged.forEach((f, k) => {
          const x = targetFrames[f.w].slice();
          for (let b = 0; b <= f.width; b++) x[f.off + b] = (f.value >>> (8 * b)) & 0xff;
          stream.splice((Math.imul(seed + k, 40503) >>> 0) % (stream.length + 1), 0, reseal(x));
        });
        const delivered: EngineMessage[] = [];
        for (const bytes of stream) {
          try {
            const m = r.acceptBytes(bytes, 0);
            if (m) delivered.push(m);
          } catch (e) {
            if (!(e instanceof FrameError)) throw e;
          }
          if (r.counters.bufferedBytes > limits.maxBufferedBytes) throw new Error('buffer limit exceeded');
        }
        expect(delivered.every((m) => sameMessage(m, target))).toBe(true);
        if (delivered.length === 0) {
          // Lost, and for a stated reason: a refused conflict/digest, or forged partials filling the sender's slots.
          const c = r.counters.rejected;
          expect((c.conflict ?? 0) + (c['bad-digest'] ?? 0) + (c['too-many-partials'] ?? 0) + (c['buffer-full'] ?? 0)).toBeGreaterThan(0);
        }
      }),
      { seed: 32, numRuns: 500 },
    );
  });
});

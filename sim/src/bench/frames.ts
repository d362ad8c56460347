import { decodeFrame, encodeFrames, Reassembler, type EngineMessage, type Frame } from '@masha/protocol';
import { keep, measure, progress, resultRow, type BenchResult, type Suite } from './harness.js';

/**
 * Frame layer (issue 4 "Frames"): throughput of encodeFrames + decodeFrame + Reassembler on a
 * 4 MB message at 64 KiB frames, in MB/s of message body, against copying the same bytes with
 * `Uint8Array.prototype.set` in the same run; and the wire overhead (frame bytes / payload bytes)
 * of a 1 MB message at 1 KiB … 1 MiB frames, counted from the frames encodeFrames really emits.
 */

export const FRAMES_BENCH_BYTES = 4_000_000;
export const FRAMES_BENCH_FRAME = 64 * 1024;
const OVERHEAD_BYTES = 1_000_000;
const OVERHEAD_FRAMES: readonly [string, number][] = [
  ['1KiB', 1024],
  ['16KiB', 16 * 1024],
  ['64KiB', 64 * 1024],
  ['256KiB', 256 * 1024],
  ['1MiB', 1024 * 1024],
];
/** A libp2p Ed25519 peer id: 52 base58 characters. */
const SENDER = '12D3KooWA1b2C3d4E5f6G7h8J9k1L2m3N4p5Q6r7S8t9U1v2W3x4';

function benchMessage(bytes: number): EngineMessage {
  const body = new Uint8Array(bytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[i] = x & 0xff;
  }
  return { kind: 2, runId: '5a'.repeat(32), epoch: 1, round: 42, phase: 1, sender: SENDER, codec: 3, body };
}

export const framesSuite: Suite = {
  name: 'frames',
  async run(include) {
    const results: BenchResult[] = [];
    const L = FRAMES_BENCH_BYTES;
    const size = FRAMES_BENCH_FRAME;
    const tag = `${L / 1e6}MB@${size / 1024}KiB`;
    const names = {
      all: `frames/encode+decode+reassemble ${tag}`,
      encode: `frames/encode ${tag}`,
      decode: `frames/decode ${tag}`,
      reassemble: `frames/reassemble ${tag}`,
    };
    if (Object.values(names).some(include)) {
      const m = benchMessage(L);
      const dst = new Uint8Array(L);
      const copy = measure(() => {
        dst.set(m.body);
        return dst;
      });
      const mbps = (s: number): number => L / s / 1e6;
      const base = { name: `copy (Uint8Array.prototype.set, ${L / 1e6} MB)`, value: mbps(copy.median) };
      progress(`frames: copy ${base.value.toFixed(0)} MB/s`);
      const r = new Reassembler({ maxMessageBytes: L });
      const check = (out: EngineMessage | null): EngineMessage => {
        if (out === null || out.body.length !== L) throw new Error('frames bench: message did not reassemble');
        return out;
      };
      if (include(names.all)) {
        const t = measure(() => {
          let out: EngineMessage | null = null;
          for (const f of encodeFrames(m, { frameSize: size })) out = r.accept(decodeFrame(f), 0);
          return check(out);
        });
        results.push(resultRow(names.all, mbps(t.median), 'MB/s', base));
        progress(`frames: encode+decode+reassemble ${mbps(t.median).toFixed(0)} MB/s`);
      }
      const frames = encodeFrames(m, { frameSize: size });
      if (include(names.encode)) {
        const t = measure(() => encodeFrames(m, { frameSize: size }));
        results.push(resultRow(names.encode, mbps(t.median), 'MB/s', base));
      }
      if (include(names.decode)) {
        const t = measure(() => {
          let last: Frame | null = null;
          for (const f of frames) last = decodeFrame(f);
          return last;
        });
        results.push(resultRow(names.decode, mbps(t.median), 'MB/s', base));
      }
      if (include(names.reassemble)) {
        const decoded = frames.map((f) => decodeFrame(f));
        const t = measure(() => {
          let out: EngineMessage | null = null;
          for (const f of decoded) out = r.accept(f, 0);
          return check(out);
        });
        results.push(resultRow(names.reassemble, mbps(t.median), 'MB/s', base));
      }
      keep(frames);
    }
    const one = OVERHEAD_FRAMES.some(([label]) => include(`frames/overhead 1MB@${label}`)) ? benchMessage(OVERHEAD_BYTES) : null;
    for (const [label, frameSize] of OVERHEAD_FRAMES) {
      const name = `frames/overhead 1MB@${label}`;
      if (one === null || !include(name)) continue;
      const wire = encodeFrames(one, { frameSize }).reduce((s, f) => s + f.length, 0);
      results.push(resultRow(name, wire / OVERHEAD_BYTES, 'ratio'));
    }
    return results;
  },
};

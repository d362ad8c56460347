import { compressorNames, parseCompressor, Streams } from '@masha/protocol';
import { Rng } from '@masha/protocol/rng';
import type { CompressContext, Compressor, Payload, SharedContext } from '@masha/protocol';
import { keep, measurePair, progress, throughputRow, type BenchResult, type Suite } from './harness.js';

/**
 * Compressor throughput at d = 10^7 float32 (issue 2 §5): compress, decompress (dense output),
 * for sparse payloads accumulate (out += a·Q(x), touching only the kept coordinates), and the
 * wire: encode (payload → bytes) and decode (bytes → validated payload), in
 * million elements of the dense vector per second, against a plain copy of the same array
 * (`dst.set(src)`) measured in the same run.
 */

export const COMPRESSOR_BENCH_DIM = 10_000_000;

/** Specs benchmarked; PermK joins when it is registered. `devices` sets M (PermK keeps d/M). */
export function compressorBenchSpecs(): { spec: string; devices: number; sparse: boolean }[] {
  const list = [
    { spec: 'identity', devices: 100, sparse: false },
    { spec: 'randk:0.01', devices: 100, sparse: true },
    { spec: 'topk:0.01', devices: 100, sparse: true },
    { spec: 'natural', devices: 100, sparse: false },
    { spec: 'dither:p=2,s=8', devices: 100, sparse: false },
    { spec: 'int8:block=256', devices: 100, sparse: false },
    { spec: 'int8:block=256,stochastic', devices: 100, sparse: false },
    { spec: 'powersgd:rank=8', devices: 100, sparse: false },
    { spec: 'randk:0.01+natural', devices: 100, sparse: true },
    { spec: 'topk:0.01+natural', devices: 100, sparse: true },
  ];
  if (compressorNames().includes('permk')) list.splice(2, 0, { spec: 'permk', devices: 100, sparse: true });
  return list;
}

function benchVector(d: number): Float32Array {
  const r = new Rng(0x1234, 5, 6, 7);
  const x = new Float32Array(d);
  for (let i = 0; i < d; i++) x[i] = r.nextGaussian() * 2 ** (r.nextInt(16) - 8);
  return x;
}

export const compressorSuite: Suite = {
  name: 'compress',
  async run(include) {
    const d = COMPRESSOR_BENCH_DIM;
    const results: BenchResult[] = [];
    const specs = compressorBenchSpecs().filter((s) => ['compress', 'decompress', 'accumulate', 'encode', 'decode'].some((op) => include(`${op}/${s.spec}`)));
    if (specs.length === 0) return results;
    progress(`compress: building a ${d}-element float32 vector`);
    const src = benchVector(d);
    const dst = new Float32Array(d);
    const copy = (): Float32Array => {
      dst.set(src);
      return dst;
    };
    const baseName = `copy (dst.set(src), d=${d} float32)`;
    /** Times fn against the copy, interleaved, and makes the row. */
    const row = (name: string, fn: () => unknown): void => {
      const m = measurePair(copy, fn, { minSamples: 3 });
      results.push(throughputRow(name, d, m.subject.median, { name: baseName, secondsPerCall: m.baseline.median }));
      const ratio = m.baseline.median / m.subject.median;
      progress(`${name}: ${(m.subject.median * 1e3).toFixed(2)} ms, copy ${(m.baseline.median * 1e3).toFixed(2)} ms: ${ratio.toFixed(3)}× copy`);
    };
    const streams = new Streams(2024);
    let round = 0;
    for (const { spec, devices, sparse } of specs) {
      const c: Compressor = parseCompressor(spec);
      const ctx = (): CompressContext => ({
        streams,
        round: round++,
        purpose: 'bench',
        device: 7,
        devices,
        local: streams.rng(round, 'bench/local', 7),
      });
      if (include(`compress/${spec}`)) {
        // A steady-state peer releases each payload once it is encoded: buffers are recycled.
        row(`compress/${spec}`, () => {
          const p = c.compress(src, ctx());
          c.release?.(p);
          return p;
        });
      }
      const sendCtx = ctx();
      const p: Payload = c.compress(src, sendCtx);
      const shared: SharedContext = sendCtx;
      const out = new Float32Array(d);
      if (include(`decompress/${spec}`)) row(`decompress/${spec}`, () => c.decompress(p, shared, out));
      // The wire: payload → bytes on the sender, bytes → validated payload on every receiver.
      if (include(`encode/${spec}`)) row(`encode/${spec}`, () => c.encode(p));
      const bytes = c.encode(p);
      // A steady-state receiver releases each decoded payload once applied, as the engine does.
      if (include(`decode/${spec}`)) {
        row(`decode/${spec}`, () => {
          const q = c.decode(bytes, d);
          c.release?.(q);
          return q;
        });
      }
      if (sparse && include(`accumulate/${spec}`)) row(`accumulate/${spec}`, () => c.accumulate(p, shared, 0.5, out));
      keep(out);
    }
    return results;
  },
};

import { describe, expect, it } from 'vitest';
import { compressorNames, parseCompressor, SparseCompressor, SpecError } from './internals.js';

describe('parseCompressor', () => {
  it('parses every spec of SPEC §2 to its canonical form and kind', () => {
    const cases: [string, string, string][] = [
      ['identity', 'identity', 'unbiased'],
      ['randk:0.1', 'randk:0.1', 'unbiased'],
      ['randk:0.10', 'randk:0.1', 'unbiased'],
      ['randk:k=100', 'randk:k=100', 'unbiased'],
      ['topk:0.3', 'topk:0.3', 'contractive'],
      ['topk:k=10', 'topk:k=10', 'contractive'],
      ['natural', 'natural', 'unbiased'],
      ['dither:p=2,s=8', 'dither:p=2,s=8', 'unbiased'],
      ['dither', 'dither:p=2,s=8', 'unbiased'],
      ['dither:s=4,p=inf', 'dither:p=inf,s=4', 'unbiased'],
      ['int8:block=256', 'int8:block=256', 'contractive'],
      ['int8:block=256,stochastic', 'int8:block=256,stochastic', 'unbiased'],
      ['int8:stochastic,block=64', 'int8:block=64,stochastic', 'unbiased'],
      ['powersgd:rank=8', 'powersgd:rank=8', 'biased'],
      ['randk:0.1+natural', 'randk:0.1+natural', 'unbiased'],
      ['topk:0.3+natural', 'topk:0.3+natural', 'contractive'],
      ['topk:0.3+int8:block=256', 'topk:0.3+int8:block=256', 'contractive'],
      ['randk:0.1+int8:block=256', 'randk:0.1+int8:block=256', 'biased'],
      [' RandK:0.5 ', 'randk:0.5', 'unbiased'],
    ];
    for (const [spec, canonical, kind] of cases) {
      const c = parseCompressor(spec);
      expect(c.spec, spec).toBe(canonical);
      expect(c.kind, spec).toBe(kind);
      expect(parseCompressor(c.spec).spec).toBe(canonical);
    }
  });

  it('rejects malformed specs with SpecError and a message naming the problem', () => {
    const bad: [string, RegExp][] = [
      ['', /empty/],
      ['zip', /unknown compressor 'zip'/],
      ['randk', /needs a fraction/],
      ['randk:0', /fraction must be in \(0, 1\]/],
      ['randk:1.5', /fraction/],
      ['randk:-0.1', /fraction/],
      ['randk:k=0', /k must be ≥ 1/],
      ['randk:k=2.5', /integer/],
      ['randk:0.1,k=3', /not both/],
      ['randk:0.1,0.2', /unexpected argument '0.2'/],
      ['randk:abc', /must be a number/],
      ['topk:k=', /has no value/],
      ['natural:3', /unexpected argument/],
      ['dither:p=0.5', /p must be ≥ 1/],
      ['dither:s=0', /s must be ≥ 1/],
      ['dither:s=40', /s must be ≤ 32/],
      ['dither:p=2,p=3', /given twice/],
      ['int8:block=0', /block must be ≥ 1/],
      ['int8:block=256,rounding', /unexpected argument 'rounding'/],
      ['powersgd', /missing argument 'rank'/],
      ['powersgd:rank=0', /rank/],
      ['natural+randk:0.1', /before '\+' must be a sparsifier/],
      ['topk:0.1+topk:0.2', /after '\+' must be a value quantizer/],
      ['randk:0.1+natural+natural', /at most one '\+'/],
      ['randk:0.1+', /empty compressor name/],
      ['randk:0.1,,', /empty argument/],
      ['randk:0.1+natural+', /at most one/],
    ];
    for (const [spec, msg] of bad) {
      let err: unknown;
      try {
        parseCompressor(spec);
      } catch (e) {
        err = e;
      }
      expect(err, spec).toBeInstanceOf(SpecError);
      expect((err as Error).message, spec).toMatch(msg);
    }
  });

  it('knows exactly the compressors of its table, and names them when refusing another', () => {
    expect(compressorNames()).toEqual(['dither', 'identity', 'int8', 'natural', 'permk', 'powersgd', 'randk', 'topk']);
    for (const name of compressorNames()) expect(() => parseCompressor(name)).not.toThrow(/unknown compressor/);
    expect(() => parseCompressor('test-ident')).toThrow(
      /unknown compressor 'test-ident'.*known: dither, identity, int8, natural, permk, powersgd, randk, topk/,
    );
  });

  it('composes constants: q = q1·q2 (unbiased), δ = δ1/(2 − q2) (contractive then unbiased), δ1·δ2', () => {
    const d = 1000;
    const M = 10;
    const rn = parseCompressor('randk:0.1+natural').constants(d, M);
    expect(rn.q).toBeCloseTo((10 * 9) / 8, 12);
    expect(rn.ab?.A).toBeCloseTo(((10 * 9) / 8 - 1) / M, 12);
    expect(rn.ab?.B).toBe(0);
    const tn = parseCompressor('topk:0.3+natural').constants(d, M);
    expect(tn.delta).toBeCloseTo(d / 300 / (2 - 9 / 8), 12);
    const ti = parseCompressor('topk:0.3+int8:block=256').constants(d, M);
    expect(ti.delta).toBeCloseTo((d / 300) * (parseCompressor('int8:block=256').constants(300, M).delta as number), 12);
    expect(parseCompressor('topk:0.3+natural')).toBeInstanceOf(SparseCompressor);
    // dithering's q = 1 + 1/8 + d^(1/r)2^(1−s)·min(1, d^(1/r)2^(1−s)), r = min(p, 2)
    const t = Math.sqrt(d) * 2 ** -7;
    expect(parseCompressor('dither:p=2,s=8').constants(d, M).q).toBeCloseTo(1.125 + t * Math.min(1, t), 12);
    const t1 = d * 2 ** -3;
    expect(parseCompressor('dither:p=1,s=4').constants(d, M).q).toBeCloseTo(1.125 + t1, 12);
  });
});

// Estimating a problem's build before building it, and refusing beyond limits (estimate.ts).
import { describe, expect, it } from 'vitest';
import { checkBuildLimits, DEFAULT_BUILD_LIMITS, estimateBuild, parseManifest, runFromManifest, ValidationError } from './internals.js';

const bilinear = (d: number, M: number) => parseManifest({ problem: { kind: 'bilinear', d, M }, method: { name: 'masha1' } });

describe('problem build estimates', () => {
  it('refuses the largest bilinear game the schema allows before building it, naming the field and the limits', () => {
    // (Building it would need 137 TB: returning at all shows nothing was built.)
    let err: unknown = null;
    try {
      runFromManifest(bilinear(4096, 100_000), { limits: DEFAULT_BUILD_LIMITS, limitsHint: '--max-problem-memory MiB' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const msg = (err as Error).message;
    expect(msg).toMatch(
      /^problem: building this bilinear game, d = 4096, M = 100000 needs an estimated 12 TiB and 1988 days; this peer allows 2\.0 GiB and 60 s \(--max-problem-memory MiB\)$/,
    );
  });

  it('refuses d = 1024 (minutes of O(d³) work) by default and builds the default run', () => {
    expect(() => checkBuildLimits(bilinear(1024, 10), DEFAULT_BUILD_LIMITS)).toThrow(/problem: building this bilinear game, d = 1024, M = 10/);
    const e = estimateBuild(bilinear(100, 10));
    expect(e?.seconds).toBeLessThan(1);
    expect(() => runFromManifest(bilinear(100, 10), { limits: DEFAULT_BUILD_LIMITS })).not.toThrow();
  });

  it('dense work scales as (M + 2)·d³ and memory as M·d², from the manifest alone', () => {
    const a = estimateBuild(bilinear(192, 4))!;
    const b = estimateBuild(bilinear(384, 4))!;
    const c = estimateBuild(bilinear(192, 10))!;
    expect(b.seconds / a.seconds).toBeCloseTo(8, 10);
    expect(c.seconds / a.seconds).toBeCloseTo(12 / 6, 10);
    expect(a.seconds).toBeCloseTo((6 * 192 ** 3 * 25) / 1e9, 12);
    expect(a.bytes).toBe(8 * 192 * 192 * (4 + 8));
  });

  it('a model run: 256 bytes per parameter; the default model passes, the largest the schema allows is refused before building', () => {
    const model = (m: Record<string, number>) =>
      parseManifest({
        problem: { kind: 'model', task: { model: m, objective: 'classify' } },
        method: { name: 'masha1', optimizer: { name: 'lamb', lr: 1e-3 } },
      });
    const small = estimateBuild(model({}))!;
    expect(small.field).toBe('problem.task.model');
    expect(small.bytes % 256).toBe(0);
    expect(small.bytes / 256).toBeGreaterThan(1e6); // the default tiny ALBERT: 1.46 M parameters
    expect(() => checkBuildLimits(model({}), DEFAULT_BUILD_LIMITS)).not.toThrow();
    expect(() => checkBuildLimits(model({ hidden: 8192, ffn: 32768, embed: 4096, vocabSize: 65536 }), DEFAULT_BUILD_LIMITS)).toThrow(
      /problem\.task\.model: building this model \(tiny ALBERT, \d+ parameters\) needs an estimated/,
    );
    const soft = parseManifest({ problem: { kind: 'softmax' }, method: { name: 'masha1', gamma: 0.1 } });
    expect(estimateBuild(soft)!.bytes).toBeLessThan(1e6);
  });

  it('reads the sizes a problem file declares without building it', () => {
    const big = { kind: 'bilinear', d: 4096, M: 4, lambda: 0.1, A: [], a: [], b: [] };
    const m = parseManifest({ problem: { kind: 'file', path: 'p.json' }, method: { name: 'masha1', gamma: 0.1 } });
    expect(() => runFromManifest(m, { readFile: () => JSON.stringify(big), limits: { maxBytes: 1e9, maxSeconds: 60 } })).toThrow(
      /problem\.path: building this bilinear game, d = 4096, M = 4/,
    );
    const q = parseManifest({ problem: { kind: 'quadratic', d: 1 << 24, n: 100_000 }, method: { name: 'marina' } });
    expect(() => checkBuildLimits(q, DEFAULT_BUILD_LIMITS)).toThrow(/quadratic, d = 16777216, n = 100000/);
  });
});

// Estimating a problem's build before building it, and refusing beyond limits (estimate.ts).
import { describe, expect, it } from 'vitest';
import { checkBuildLimits, DEFAULT_BUILD_LIMITS, estimateBuild, parseManifest, runFromManifest, ValidationError } from './internals.js';

const bilinear = (d: number, M: number) => parseManifest({ problem: { kind: 'bilinear', d, M }, method: { name: 'masha1' } });

describe('problem build estimates', () => {
  it('refuses the largest bilinear game the schema allows at once, naming the field and the limits', () => {
    const t = performance.now();
    let err: unknown = null;
    try {
      runFromManifest(bilinear(4096, 100_000), { limits: DEFAULT_BUILD_LIMITS, limitsHint: '--max-problem-memory MiB' });
    } catch (e) {
      err = e;
    }
    expect(performance.now() - t).toBeLessThan(200);
    expect(err).toBeInstanceOf(ValidationError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^problem: building this bilinear game, d = 4096, M = 100000 needs an estimated 12 TiB and 1988 days; this peer allows 2\.0 GiB and 60 s \(--max-problem-memory MiB\)$/);
  });

  it('refuses d = 1024 (minutes of O(d³) work) by default and builds the default run', () => {
    expect(() => checkBuildLimits(bilinear(1024, 10), DEFAULT_BUILD_LIMITS)).toThrow(/problem: building this bilinear game, d = 1024, M = 10/);
    const e = estimateBuild(bilinear(100, 10));
    expect(e?.seconds).toBeLessThan(1);
    expect(() => runFromManifest(bilinear(100, 10), { limits: DEFAULT_BUILD_LIMITS })).not.toThrow();
  });

  it('the estimate is an upper bound of the real build time within a factor that keeps the limit meaningful', () => {
    const e = estimateBuild(bilinear(192, 4))!;
    const t = performance.now();
    runFromManifest(bilinear(192, 4));
    const seconds = (performance.now() - t) / 1000;
    expect(e.seconds).toBeGreaterThan(seconds / 3);
    expect(e.seconds).toBeLessThan(seconds * 30);
  });

  it('reads the sizes a problem file declares without building it', () => {
    const big = { kind: 'bilinear', d: 4096, M: 4, lambda: 0.1, A: [], a: [], b: [] };
    const m = parseManifest({ problem: { kind: 'file', path: 'p.json' }, method: { name: 'masha1', gamma: 0.1 } });
    expect(() => runFromManifest(m, { readFile: () => JSON.stringify(big), limits: { maxBytes: 1e9, maxSeconds: 60 } })).toThrow(/problem\.path: building this bilinear game, d = 4096, M = 4/);
    const q = parseManifest({ problem: { kind: 'quadratic', d: 1 << 24, n: 100_000 }, method: { name: 'marina' } });
    expect(() => checkBuildLimits(q, DEFAULT_BUILD_LIMITS)).toThrow(/quadratic, d = 16777216, n = 100000/);
  });
});

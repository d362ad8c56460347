import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatePermkQuadratic, keyedRng, parseCompressor, runReference, Streams, type Compressor } from '@masha/protocol';
import { permk, topKIndices } from '@masha/protocol/compress';
import { Marina, marinaAb, marinaStepsize } from '@masha/protocol/methods';
import { MarinaQuadraticRun, runMarinaQuadratic } from '../src/repro/marina-quadratic.js';
import { FULL_GRID, PERMK_FILES, raceStepsizes, reproPermk, writePermkRepro } from '../src/repro/permk.js';
import { scanTopk } from '../src/repro/scan-topk.js';
import { runCli } from '../src/cli/program.js';

describe('scanning TopK', () => {
  it('selects exactly what the protocol selector selects (ties to the lowest indices), same payload bits', () => {
    const r = keyedRng(4, 0, 'x', 0);
    for (let trial = 0; trial < 300; trial++) {
      const d = 1 + r.nextInt(300);
      const k = 1 + r.nextInt(Math.min(d, 16));
      // Small integer values: many ties.
      const x = Float64Array.from({ length: d }, () => r.nextInt(7) - 3);
      const ours = scanTopk(k);
      const ctx = { streams: new Streams(1), round: 0, purpose: 'up:diff', device: 0, devices: 1, local: r };
      const p = ours.compress(x, ctx);
      const reference = parseCompressor(`topk:k=${k}`).compress(x, ctx);
      expect(Array.from(p.support.indices ?? [])).toEqual(Array.from(topKIndices(x, k)));
      expect(p.bits).toBe(reference.bits);
      expect(Array.from(ours.encode(p))).toEqual(Array.from(parseCompressor(`topk:k=${k}`).encode(reference)));
    }
  });
});

describe('fast MARINA loop for quadratics', () => {
  const { problem, constants, structure } = generatePermkQuadratic({ d: 40, n: 8, s: 0.3, seed: 3 });
  const cases: Array<[string, () => Compressor]> = [
    ['permk', () => permk()],
    ['randk', () => parseCompressor('randk:k=5')],
    ['topk', () => scanTopk(5)],
  ];
  for (const [name, make] of cases) {
    it(`${name}: same iterates and bits as the generic Marina method driven by the reference runner`, () => {
      const p = 5 / 40;
      const gamma = 2 * marinaStepsize(constants, p, marinaAb(parseCompressor('randk:k=5'), 40, 8));
      const iterations = 150;
      const generic = runReference({
        problem,
        method: new Marina({ problem, seed: 11, gamma, device: make(), p }),
        iterations,
      });
      const fast = new MarinaQuadraticRun({
        problem,
        compressor: make(),
        gamma,
        p,
        seed: 11,
        targetGradNormSq: 0,
        maxBitsPerNode: Infinity,
        divergeGradNormSq: Infinity,
        maxIterations: iterations,
      });
      while (!fast.done) fast.step();
      // The same with the generator's structure (A_m = α_m T + shift·I) instead of the bands.
      const structured = new MarinaQuadraticRun({ ...fast.options, compressor: make(), structure });
      while (!structured.done) structured.step();
      for (const run of [fast, structured]) {
        expect(run.iterations).toBe(iterations);
        expect(run.bitsPerNode * 8 + run.initBitsPerNode * 8).toBe(generic.uplinkBits);
        const x = run.iterate();
        let err = 0;
        let nrm = 0;
        for (let i = 0; i < 40; i++) {
          err += (x[i] - generic.z[i]) ** 2;
          nrm += generic.z[i] ** 2;
        }
        expect(Math.sqrt(err / nrm)).toBeLessThan(1e-6);
        // It did move: far from x⁰.
        expect(Math.abs(x[0] - Math.sqrt(40))).toBeGreaterThan(0.1);
      }
    });
  }

  it('identical devices (s = 0) with TopK: the shared-payload shortcut changes nothing', () => {
    const hom = generatePermkQuadratic({ d: 30, n: 6, s: 0, seed: 1 });
    const generic = runReference({
      problem: hom.problem,
      method: new Marina({ problem: hom.problem, seed: 2, gamma: 0.5, device: scanTopk(3), p: 0.1 }),
      iterations: 100,
    });
    const fast = runMarinaQuadratic({
      problem: hom.problem,
      compressor: scanTopk(3),
      gamma: 0.5,
      p: 0.1,
      seed: 2,
      targetGradNormSq: 0,
      maxBitsPerNode: Infinity,
      divergeGradNormSq: Infinity,
      maxIterations: 100,
    });
    expect((fast.bitsPerNode + fast.initBitsPerNode) * 6).toBe(generic.uplinkBits);
    const g = hom.problem.gradient(generic.z);
    const gn = g.reduce((a, v) => a + v * v, 0);
    expect(fast.finalGradNormSq / gn).toBeCloseTo(1, 6);
  });

  it('the stepsize race finds the same best stepsize as running every stepsize to the end', async () => {
    const { problem: q, constants: c } = generatePermkQuadratic({ d: 60, n: 6, s: 0.1, seed: 5 });
    const p = 10 / 60;
    const device = () => parseCompressor('randk:k=10');
    const gth = marinaStepsize(c, p, marinaAb(device(), 60, 6));
    const g0 = q.gradient(q.initialPoint()).reduce((a, v) => a + v * v, 0);
    const options = (gamma: number) => ({
      problem: q,
      compressor: device(),
      gamma,
      p,
      seed: 9,
      targetGradNormSq: 1e-6 * g0,
      maxBitsPerNode: 1e9,
      divergeGradNormSq: 1e4 * g0,
      maxIterations: 100_000,
    });
    const race = await raceStepsizes((gamma) => new MarinaQuadraticRun(options(gamma)), gth, 8);
    let bestBits = Infinity;
    let bestGamma = 0;
    for (let i = 0; i <= 8; i++) {
      const r = runMarinaQuadratic(options(gth * 2 ** i));
      if (r.reached && (r.bitsPerNodeToTarget as number) < bestBits) {
        bestBits = r.bitsPerNodeToTarget as number;
        bestGamma = gth * 2 ** i;
      }
    }
    expect(race.best?.gamma).toBe(bestGamma);
    expect(race.best?.result.bitsPerNodeToTarget).toBe(bestBits);
  });
});

describe('repro permk', () => {
  it('runs a small grid, reports the issue fields and writes CSVs, SVGs and summary.json', async () => {
    const grid = { ...FULL_GRID, d: 120, ns: [12], ss: [0, 0.8], target: 1e-5, maxDoublings: 8 };
    const result = await reproPermk(grid);
    const { summary } = result;
    expect(summary.target).toBe(1e-5);
    expect(summary.runs.map((r) => `${r.s}/${r.compressor}`)).toEqual(['0/permk', '0/randk', '0/topk', '0.8/permk', '0.8/randk', '0.8/topk']);
    for (const r of summary.runs) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['n', 's', 'compressor', 'gamma', 'bitsPerNodeToTarget', 'finalGradNormSq']));
      expect(r.gamma / r.gammaTheory).toBe(2 ** Math.round(Math.log2(r.gamma / r.gammaTheory)));
    }
    // PermK and RandK reach the target; PermK at s = 0 is plain gradient descent at γ = 1/L₋.
    const perm0 = summary.runs[0];
    const rand0 = summary.runs[1];
    expect(perm0.bitsPerNodeToTarget).not.toBeNull();
    expect(rand0.bitsPerNodeToTarget).not.toBeNull();
    const r0 = summary.ratios[0];
    expect(r0.randkOverPermk).toBeCloseTo((rand0.bitsPerNodeToTarget as number) / (perm0.bitsPerNodeToTarget as number), 12);
    // Theory ratio = γ_th(PermK)/γ_th(RandK) (equal expected bits per iteration here).
    expect(r0.theory).toBeCloseTo(perm0.gammaTheory / rand0.gammaTheory, 10);
    const dir = await mkdtemp(join(tmpdir(), 'permk-'));
    try {
      const files = await writePermkRepro(dir, result);
      expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(
        [PERMK_FILES.summary, PERMK_FILES.best, PERMK_FILES.ratios, PERMK_FILES.sweep, PERMK_FILES.curves, PERMK_FILES.plot(12)].sort(),
      );
      const json = JSON.parse(await readFile(join(dir, PERMK_FILES.summary), 'utf8'));
      expect(json.target).toBe(1e-5);
      expect(json.ratios[0]).toEqual(expect.objectContaining({ n: 12, s: 0, randkOverPermk: r0.randkOverPermk, theory: r0.theory }));
      const curves = await readFile(join(dir, PERMK_FILES.curves), 'utf8');
      expect(curves.split('\n')[0]).toBe('n,s,compressor,gamma,iteration,bitsPerNode,gradNormSq');
      const svg = await readFile(join(dir, PERMK_FILES.plot(12)), 'utf8');
      expect(svg).toMatch(/^(<\?xml[^>]*>\s*)?<svg/);
      expect(svg).toContain('n = 12, s = 0.8');
      expect(svg).toContain('PermK');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is a `masha-sim repro` subcommand', async () => {
    const out = {
      text: '',
      write(s: string) {
        this.text += s;
        return true;
      },
    };
    const code = await runCli(['repro', 'permk', '--help'], { stdout: out, stderr: out, cwd: process.cwd() });
    expect(code).toBe(0);
    expect(out.text).toContain('--quick');
    expect(out.text).toContain('permk');
  });
});

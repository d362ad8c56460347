import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { XMLValidator } from 'fast-xml-parser';
import { runCli } from '../src/cli/program.js';
import { betterRun, checkFigure1Story } from '../src/repro/bilinear.js';
import type { TuningRun } from '../src/repro/bilinear.js';

class Capture {
  text = '';
  readonly isTTY = false;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

interface MethodSummary {
  method: string;
  compressor: string;
  gamma: number;
  iterations: number;
  megabytes: number;
  finalRelDist: number | null;
  reached: boolean;
  megabytesToTarget: number | null;
  gammaTheory: number;
}

const FIELDS = ['method', 'compressor', 'gamma', 'iterations', 'megabytes', 'finalRelDist', 'reached', 'megabytesToTarget'];

function parseCsv(text: string): { header: string[]; rows: string[][] } {
  const [head, ...rest] = text.trim().split('\n');
  // Values here never contain commas except quoted compressor specs.
  const split = (line: string): string[] =>
    line
      .match(/("([^"]|"")*"|[^,]*)(,|$)/g)!
      .slice(0, -1)
      .map((c) => c.replace(/,$/, '').replace(/^"|"$/g, ''));
  return { header: split(head), rows: rest.map(split) };
}

describe('masha-sim repro bilinear (reduced size: d = 30, M = 4, 600 iterations)', () => {
  const root = mkdtempSync(join(tmpdir(), 'masha-repro-'));
  const dir = join(root, 'bilinear');
  let code = -1;
  const stdout = new Capture();
  const stderr = new Capture();
  const done = runCli(['repro', 'bilinear', '--out', root, '--quick', '--d', '30', '--M', '4', '--iterations', '600', '--progress', 'lines'], {
    stdout,
    stderr,
    cwd: root,
  }).then((c) => {
    code = c;
  });

  it('shows the seed’s Figure 1 story in summary.json', { timeout: 120_000 }, async () => {
    await done;
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { methods: MethodSummary[]; checks: { ok: boolean }[] };
    expect(summary.methods.map((m) => m.method)).toEqual(['masha1', 'masha2', 'qgda', 'ef-gda', 'qeg', 'eg']);
    expect(summary.methods.map((m) => m.compressor)).toEqual(['dither:p=2,s=8', 'topk:0.3', 'dither:p=2,s=8', 'topk:0.3', 'natural', 'identity']);
    for (const m of summary.methods) {
      expect(Object.keys(m).slice(0, FIELDS.length)).toEqual(FIELDS);
      expect(m.gamma).toBeGreaterThan(0);
      // γ comes from the grid γ_theory·2^e with e a multiple of 1/4.
      const e = Math.log2(m.gamma / m.gammaTheory) * 4;
      expect(Math.abs(e - Math.round(e))).toBeLessThan(1e-9);
      if (m.reached) {
        expect(m.finalRelDist).toBeLessThanOrEqual(1e-6);
        expect(m.megabytesToTarget).toBe(m.megabytes); // runs stop at the target
      } else {
        expect(m.megabytesToTarget).toBeNull();
      }
    }
    const by = Object.fromEntries(summary.methods.map((m) => [m.method, m]));
    // The done-criteria of issue 2, checked directly.
    expect(by.masha1.reached).toBe(true);
    expect(by.masha2.reached).toBe(true);
    expect(by.eg.reached).toBe(true);
    expect(by.masha1.megabytesToTarget as number).toBeLessThanOrEqual((by.eg.megabytesToTarget as number) / 2);
    expect(by.qgda.reached).toBe(false);
    expect(by['ef-gda'].reached).toBe(false);
    expect(by.qeg.megabytesToTarget === null || by.qeg.megabytesToTarget > (by.masha1.megabytesToTarget as number)).toBe(true);
    expect(summary.checks.every((c) => c.ok)).toBe(true);
    // The table and the verdicts are printed; progress went to stderr only.
    expect(stdout.text).toContain('[ok] masha1 needs at most half the megabytes eg needs');
    expect(stdout.text).not.toContain('[NO]');
    expect(stderr.text).toMatch(/^repro bilinear: started/);
    expect(stderr.text).toContain('repro bilinear: done');
  });

  it('writes one CSV per curve consistent with the summary, the tuning table and two SVG plots', { timeout: 120_000 }, async () => {
    await done;
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { methods: MethodSummary[] };
    for (const m of summary.methods) {
      const { header, rows } = parseCsv(readFileSync(join(dir, `curve-${m.method}.csv`), 'utf8'));
      expect(header).toEqual(['iteration', 'relDist', 'uplinkMB', 'downlinkMB']);
      expect(Number(rows[0][0])).toBe(0);
      expect(Number(rows[0][1])).toBe(1);
      const last = rows.at(-1)!;
      expect(Number(last[0])).toBe(m.iterations);
      expect(Number(last[1])).toBe(m.finalRelDist);
      expect(Number(last[2])).toBeCloseTo(m.megabytes, 12);
      for (let i = 1; i < rows.length; i++) {
        expect(Number(rows[i][0])).toBeGreaterThan(Number(rows[i - 1][0]));
        expect(Number(rows[i][2])).toBeGreaterThanOrEqual(Number(rows[i - 1][2])); // cumulative
      }
    }
    const tuning = parseCsv(readFileSync(join(dir, 'tuning.csv'), 'utf8'));
    expect(tuning.header).toEqual([
      'method',
      'compressor',
      'gamma',
      'exponent',
      'status',
      'iterations',
      'megabytes',
      'lastRelDist',
      'megabytesToTarget',
      'chosen',
    ]);
    for (const m of summary.methods) {
      const mine = tuning.rows.filter((r) => r[0] === m.method);
      expect(mine.length).toBeGreaterThanOrEqual(3);
      const chosen = mine.filter((r) => r[9] === 'true');
      expect(chosen).toHaveLength(1);
      expect(Number(chosen[0][2])).toBe(m.gamma);
      // No complete run of another stepsize needed fewer megabytes to reach the target.
      for (const r of mine) if (r[4] === 'reached') expect(Number(r[8])).toBeGreaterThanOrEqual(m.megabytesToTarget as number);
    }
    for (const name of ['relDist-vs-iterations.svg', 'relDist-vs-megabytes.svg']) {
      const svg = readFileSync(join(dir, name), 'utf8');
      expect(XMLValidator.validate(svg)).toBe(true);
      for (const m of summary.methods) expect(svg).toContain(`data-series="${m.method} (`);
    }
  });
});

describe('repro bilinear pieces', () => {
  const run = (over: Partial<TuningRun>): TuningRun => ({
    method: 'masha1',
    compressor: 'x',
    gamma: 1,
    exponent: 0,
    status: 'budget',
    iterations: 10,
    megabytes: 1,
    lastRelDist: 0.5,
    megabytesToTarget: null,
    ...over,
  });

  it('ranks reached runs by megabytes, then the rest by final distance, diverged last', () => {
    const reachedCheap = run({ status: 'reached', megabytesToTarget: 0.5 });
    const reachedDear = run({ status: 'reached', megabytesToTarget: 0.9 });
    const close = run({ lastRelDist: 1e-3 });
    const far = run({ lastRelDist: 0.5 });
    const diverged = run({ status: 'diverged', lastRelDist: 1e6 });
    expect(betterRun(reachedCheap, reachedDear)).toBe(true);
    expect(betterRun(reachedDear, reachedCheap)).toBe(false);
    expect(betterRun(reachedDear, close)).toBe(true);
    expect(betterRun(close, reachedDear)).toBe(false);
    expect(betterRun(close, far)).toBe(true);
    expect(betterRun(far, diverged)).toBe(true);
    expect(betterRun(diverged, far)).toBe(false);
    expect(betterRun(far, null)).toBe(true);
  });

  it('flags each broken done-criterion', () => {
    const good = [
      { method: 'masha1', reached: true, megabytesToTarget: 0.4 },
      { method: 'masha2', reached: true, megabytesToTarget: 1.2 },
      { method: 'qgda', reached: false, megabytesToTarget: null },
      { method: 'ef-gda', reached: false, megabytesToTarget: null },
      { method: 'qeg', reached: false, megabytesToTarget: null },
      { method: 'eg', reached: true, megabytesToTarget: 1.0 },
    ];
    expect(checkFigure1Story(good).every((c) => c.ok)).toBe(true);
    const broken = (i: number, patch: object): boolean[] => checkFigure1Story(good.map((m, j) => (j === i ? { ...m, ...patch } : m))).map((c) => c.ok);
    expect(broken(0, { megabytesToTarget: 0.51 })).toEqual([true, true, false, true, true, true]); // > EG/2
    expect(broken(1, { reached: false, megabytesToTarget: null })).toEqual([true, false, true, true, true, true]);
    expect(broken(2, { reached: true, megabytesToTarget: 3 })).toEqual([true, true, true, false, true, true]);
    expect(broken(3, { reached: true, megabytesToTarget: 3 })).toEqual([true, true, true, true, false, true]);
    expect(broken(4, { reached: true, megabytesToTarget: 0.3 })).toEqual([true, true, true, true, true, false]);
    expect(broken(4, { reached: true, megabytesToTarget: 0.45 })).toEqual([true, true, true, true, true, true]);
  });

  it('rejects an unknown method in --methods with exit 2 naming the flag', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await runCli(['repro', 'bilinear', '--out', tmpdir(), '--methods', 'masha1,sgd'], { stdout, stderr, cwd: tmpdir() });
    expect(code).toBe(2);
    expect(stderr.text.trim().split('\n')).toHaveLength(1);
    expect(stderr.text).toContain('--methods');
    expect(stderr.text).toContain('sgd');
  });
});

import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bilinearToJson, generateBilinear } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { problemFromJson } from '../src/solve.js';

class Capture {
  text = '';
  readonly isTTY = false;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function cli(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(['--progress', 'off', ...argv], { stdout, stderr, cwd });
  return { code, out: stdout.text, err: stderr.text };
}

const dir = mkdtempSync(join(tmpdir(), 'masha-solve-'));
const json = bilinearToJson(generateBilinear({ d: 6, M: 3, lambda: 0.3, seed: 7 }));
const problemFile = join(dir, 'problem.json');
writeFileSync(problemFile, JSON.stringify(json));

/** Residual of the optimality conditions λx + Āy + ā = 0, −Āᵀx + λy − b̄ = 0, from the file's data. */
function residual(z: readonly number[]): number {
  const { d, M, lambda, A, a, b } = json;
  let s = 0;
  for (let i = 0; i < d; i++) {
    let rx = lambda * z[i];
    let ry = lambda * z[d + i];
    for (let m = 0; m < M; m++) {
      rx += a[m][i] / M;
      ry -= b[m][i] / M;
      for (let j = 0; j < d; j++) {
        rx += (A[m][i][j] * z[d + j]) / M; // (Ā y)_i
        ry -= (A[m][j][i] * z[j]) / M; // (Āᵀ x)_i
      }
    }
    s += rx * rx + ry * ry;
  }
  return Math.sqrt(s);
}

describe('masha-sim solve', () => {
  it('runs MASHA1 with natural dithering on a problem file and writes summary.json, z.json and curve.csv', async () => {
    const out = join(dir, 'masha1');
    const r = await cli(
      [
        'solve',
        '--problem',
        problemFile,
        '--method',
        'masha1',
        '--compressor',
        'dither:p=2,s=8',
        '--iterations',
        '3000',
        '--gamma',
        '0.3',
        '--seed',
        '3',
        '--target',
        '1e-12',
        '--stop-at-target',
        '--out',
        out,
      ],
      dir,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('masha1');
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(Object.keys(summary).slice(0, 8)).toEqual([
      'method',
      'compressor',
      'gamma',
      'iterations',
      'megabytes',
      'finalRelDist',
      'reached',
      'megabytesToTarget',
    ]);
    expect(summary.method).toBe('masha1');
    expect(summary.compressor).toBe('dither:p=2,s=8');
    expect(summary.gamma).toBe(0.3);
    expect(summary.reached).toBe(true);
    expect(summary.finalRelDist).toBeLessThanOrEqual(1e-12);
    expect(summary.iterations).toBeLessThan(3000);
    expect(summary.megabytesToTarget).toBe(summary.megabytes); // stopped at the target
    // Uplink: at least the initial full exchange (M · 2d float32) plus the compressed differences.
    expect(summary.megabytes).toBeGreaterThan((3 * 12 * 32) / 8e6);
    const z = JSON.parse(readFileSync(join(out, 'z.json'), 'utf8')) as number[];
    expect(z).toHaveLength(12);
    // z solves the game: the optimality residual is tiny relative to the data's scale.
    const scale = residual(new Array<number>(12).fill(0));
    expect(residual(z)).toBeLessThan(1e-5 * scale);
    const csv = readFileSync(join(out, 'curve.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('iteration,relDist,uplinkMB,downlinkMB');
    expect(csv).toHaveLength(summary.iterations + 2); // header + iterations 0..K
    expect(Number(csv[1].split(',')[1])).toBe(1);
  });

  it('uses the theory stepsize by default and prints JSON with --json', async () => {
    const out = join(dir, 'eg');
    const r = await cli(['solve', '--problem', 'problem.json', '--method', 'eg', '--iterations', '50', '--out', 'eg', '--json'], dir);
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.out);
    const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(printed).toEqual(written);
    expect(written.compressor).toBe('identity');
    expect(written.iterations).toBe(50);
    // EG's theory stepsize is 1/L with L the mean of the L_m = ‖A_m‖₂ + λ.
    const p = problemFromJson(json);
    let L = 0;
    for (let m = 0; m < p.shards; m++) L += p.lipschitz(m) / p.shards;
    expect(written.gamma).toBeCloseTo(1 / L, 12);
    expect(written.finalRelDist).toBeLessThan(1);
    // Two full exchanges per iteration plus none initially: 50·2·M·2d·32 bits.
    expect(written.megabytes).toBeCloseTo((50 * 2 * 3 * 12 * 32) / 8e6, 12);
  });

  it.each([
    ['a missing field', { ...json, lambda: undefined }, 'lambda'],
    ['a wrong shape', { ...json, A: json.A.slice(0, 2) }, 'A'],
    ['a non-numeric entry', { ...json, a: [json.a[0], [...json.a[1].slice(0, 5), 'x'], json.a[2]] }, 'a[1][5]'],
    ['an unknown kind', { ...json, kind: 'tetris' }, 'kind'],
  ])('rejects a problem file with %s: exit 2, one line naming the field', async (_what, value, field) => {
    const f = join(dir, `bad-${field.replace(/\W/g, '')}.json`);
    writeFileSync(f, JSON.stringify(value));
    const out = join(dir, `bad-out-${field.replace(/\W/g, '')}`);
    const r = await cli(['solve', '--problem', f, '--method', 'masha1', '--iterations', '5', '--out', out], dir);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--problem');
    expect(lines[0]).toContain(`${field}:`);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects unreadable or non-JSON files and bad flags with exit 2 naming the flag', async () => {
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{"kind": "bilinear", ');
    const cases: [string[], string][] = [
      [['--problem', notJson, '--method', 'eg', '--iterations', '5'], 'not valid JSON'],
      [['--problem', join(dir, 'missing.json'), '--method', 'eg', '--iterations', '5'], 'ENOENT'],
      [['--problem', problemFile, '--method', 'sgd', '--iterations', '5'], '--method'],
      [['--problem', problemFile, '--method', 'masha1', '--compressor', 'zip:9', '--iterations', '5'], '--compressor'],
      [['--problem', problemFile, '--method', 'masha1', '--iterations', '-5'], '--iterations'],
      [['--problem', problemFile, '--method', 'masha1', '--iterations', '5', '--gamma', 'fast'], '--gamma'],
      [['--method', 'masha1', '--iterations', '5'], '--problem'],
    ];
    for (const [args, needle] of cases) {
      const r = await cli(['solve', ...args, '--out', join(dir, 'never')], dir);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.err, args.join(' ')).toContain(needle);
    }
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('has --help', async () => {
    const r = await cli(['solve', '--help'], dir);
    expect(r.code).toBe(0);
    for (const flag of ['--problem', '--method', '--compressor', '--iterations', '--out', '--gamma', '--seed', '--target']) expect(r.out).toContain(flag);
  });
});

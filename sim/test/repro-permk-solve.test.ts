import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePermkQuadratic, quadraticToJson } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';

function capture() {
  return {
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

describe('masha-sim solve --method marina on quadratic files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marina-solve-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converges to the closed-form minimiser with the default PermK compressor and theory stepsize', async () => {
    const { problem } = generatePermkQuadratic({ d: 20, n: 4, s: 0.2, seed: 6, lambda: 0.05 });
    const file = join(dir, 'q.json');
    await writeFile(file, JSON.stringify(quadraticToJson(problem)));
    const out = capture();
    const err = capture();
    const code = await runCli(
      [
        '--progress',
        'off',
        'solve',
        '--problem',
        file,
        '--method',
        'marina',
        '--iterations',
        '4000',
        '--target',
        '1e-10',
        '--stop-at-target',
        '--out',
        join(dir, 'run'),
        '--json',
      ],
      { stdout: out, stderr: err, cwd: dir },
    );
    expect(err.text).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(out.text);
    expect(summary).toEqual(expect.objectContaining({ method: 'marina', compressor: 'permk', reached: true, problem: 'quadratic' }));
    const z = JSON.parse(await readFile(join(dir, 'run', 'z.json'), 'utf8')) as number[];
    const xs = problem.solution() as Float64Array;
    const x0 = problem.initialPoint();
    let num = 0;
    let den = 0;
    for (let i = 0; i < 20; i++) {
      num += (z[i] - xs[i]) ** 2;
      den += (x0[i] - xs[i]) ** 2;
    }
    expect(num / den).toBeLessThan(1e-10);
  });

  it('rejects a malformed quadratic file, naming the field', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ kind: 'quadratic', d: 2, n: 1, bands: { diag: [[1, 1]], off: [[0, 0]] }, b: [[0, 0]] }));
    const out = capture();
    const err = capture();
    const code = await runCli(['--progress', 'off', 'solve', '--problem', file, '--method', 'marina', '--iterations', '10', '--out', join(dir, 'bad')], {
      stdout: out,
      stderr: err,
      cwd: dir,
    });
    expect(code).not.toBe(0);
    expect(err.text).toContain('bands.off[0]');
  });
});

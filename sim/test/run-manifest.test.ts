import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bilinearToJson, defaultManifest, generateBilinear, parseManifest, runIdOf } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { simulate } from '../src/run/simulate.js';

async function cli(argv: string[], cwd: string, stdoutPath: string | null = null) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, cwd, stdoutPath });
  return { code, out, err };
}

describe('masha-sim manifest init', () => {
  it('writes a complete manifest that validates, with the flags applied', async () => {
    const r = await cli(
      ['manifest', 'init', '--problem', 'bilinear', '--method', 'masha1', '--compressor', 'randk:0.1', '--shards', '20', '--seed', '7', '--target', '1e-6'],
      '.',
    );
    expect(r.code).toBe(0);
    const m = parseManifest(JSON.parse(r.out));
    expect(m.problem).toMatchObject({ kind: 'bilinear', M: 20, seed: 7, d: 100 });
    expect(m.method.name).toBe('masha1');
    expect(m.compressors.device).toBe('randk:0.1');
    expect(m.stop.target).toBe(1e-6);
    expect(m.seed).toBe(7);
    // Every default is written out: re-validating changes nothing.
    expect(JSON.parse(r.out)).toEqual(m);
    expect(r.err).toContain(runIdOf(m));
    const q = await cli(['manifest', 'init', '--problem', 'quadratic', '--method', 'marina', '--compressor', 'permk', '--shards', '10'], '.');
    expect(q.code).toBe(0);
    expect(parseManifest(JSON.parse(q.out)).problem).toMatchObject({ kind: 'quadratic', n: 10 });
  });

  it('with no flags writes the default run, which reaches its target in a few hundred rounds', async () => {
    const r = await cli(['manifest', 'init'], '.');
    expect(r.code, r.err).toBe(0);
    const m = parseManifest(JSON.parse(r.out));
    expect(m).toEqual(defaultManifest());
    expect(runIdOf(m)).toBe(runIdOf(defaultManifest()));
    expect(m.method.gamma).toBe(0.4);
    expect(m.stop).toEqual({ iterations: 5_000, target: 1e-6 });
    const { summary } = simulate({ manifest: m });
    expect(summary.reached).toBe(true);
    expect(summary.iterations).toBeLessThan(600);

    // The options named in the issue, and the defaults that follow the method and problem.
    const g = await cli(['manifest', 'init', '--gamma', '0.2', '--iterations', '300', '--target', '1e-4', '--compressor', 'natural'], '.');
    expect(g.code, g.err).toBe(0);
    expect(parseManifest(JSON.parse(g.out))).toMatchObject({
      method: { name: 'masha1', gamma: 0.2 },
      stop: { iterations: 300, target: 1e-4 },
      compressors: { device: 'natural' },
    });
    const t = await cli(['manifest', 'init', '--gamma', 'theory'], '.');
    expect(parseManifest(JSON.parse(t.out)).method.gamma).toBe('theory');
    const q = await cli(['manifest', 'init', '--problem', 'quadratic', '--method', 'marina'], '.');
    expect(q.code, q.err).toBe(0);
    expect(parseManifest(JSON.parse(q.out))).toMatchObject({ method: { name: 'marina', gamma: 'theory' }, compressors: { device: 'permk' } });
    const bad = await cli(['manifest', 'init', '--gamma', '-1'], '.');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--gamma');
    const help = await cli(['manifest', 'init', '--help'], '.');
    expect(help.out).toMatch(/--method <name>[\s\S]*default: "masha1"/);
    expect(help.out).toMatch(/--iterations <n>[\s\S]*default: 5000/);
  });

  it('a problem file path works from where the manifest is written: --out, stdout to a file, absolute', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masha-manifest-'));
    writeFileSync(join(dir, 'prob.json'), JSON.stringify(bilinearToJson(generateBilinear({ d: 4, M: 3, seed: 1 }))));
    mkdirSync(join(dir, 'other', 'dir'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    const pathIn = (text: string): string => {
      const m = parseManifest(JSON.parse(text));
      if (m.problem.kind !== 'file') throw new Error('not a file problem');
      return m.problem.path;
    };
    const base = ['manifest', 'init', '--problem', 'prob.json', '--compressor', 'randk:0.5', '--iterations', '20'];
    // --out: relative to the manifest's directory.
    expect((await cli([...base, '--out', 'other/dir/A.json'], dir)).code).toBe(0);
    expect(pathIn(readFileSync(join(dir, 'other/dir/A.json'), 'utf8'))).toBe('../../prob.json');
    // stdout redirected to a file (`> other/dir/B.json`): relative to that file's directory.
    const b = await cli(base, dir, join(dir, 'other/dir/B.json'));
    expect(pathIn(b.out)).toBe('../../prob.json');
    writeFileSync(join(dir, 'other/dir/B.json'), b.out);
    // stdout to a pipe or a terminal: the absolute path.
    expect(pathIn((await cli(base, dir)).out)).toBe(join(dir, 'prob.json'));
    // An absolute path stays absolute, --out or not.
    const abs = await cli(['manifest', 'init', '--problem', join(dir, 'prob.json'), '--compressor', 'randk:0.5', '--out', 'other/dir/C.json'], dir);
    expect(abs.code, abs.err).toBe(0);
    expect(pathIn(readFileSync(join(dir, 'other/dir/C.json'), 'utf8'))).toBe(join(dir, 'prob.json'));
    // Each of them runs from another directory.
    for (const name of ['A.json', 'B.json', 'C.json']) {
      const r = await cli(
        ['run', '--manifest', join(dir, 'other/dir', name), '--out', `out-${name}`, '--progress', 'off', '--events', 'commits'],
        join(dir, 'elsewhere'),
      );
      expect(r.code, r.err).toBe(0);
    }
  });

  it('references a problem file relative to the manifest, pinned by its SHA-256', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masha-manifest-'));
    const problem = generateBilinear({ d: 4, M: 3, seed: 1 });
    writeFileSync(join(dir, 'prob.json'), JSON.stringify(bilinearToJson(problem)));
    const r = await cli(['manifest', 'init', '--problem', 'prob.json', '--method', 'masha1', '--compressor', 'randk:0.5', '--out', 'runs/RUN.json'], dir);
    expect(r.code).toBe(0);
    const m = parseManifest(JSON.parse(readFileSync(join(dir, 'runs/RUN.json'), 'utf8')));
    expect(m.problem.kind).toBe('file');
    if (m.problem.kind !== 'file') throw new Error('unreachable');
    expect(m.problem.path).toBe('../prob.json');
    expect(m.problem.sha256).toMatch(/^[0-9a-f]{64}$/);
    const bad = await cli(['manifest', 'init', '--problem', 'prob.json', '--method', 'masha1', '--compressor', 'randk:0.5', '--shards', '5'], dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--shards');
  });

  it('bad specs and files exit 2 with one line naming the flag or field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masha-manifest-'));
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ kind: 'bilinear', d: 2, M: 1, lambda: 'x' }));
    for (const [argv, needle] of [
      [['--problem', 'bilinear', '--method', 'masha1', '--compressor', 'squish:3'], '--compressor'],
      [['--problem', 'bilinear', '--method', 'sgd', '--compressor', 'randk:0.1'], '--method'],
      [['--problem', 'broken.json', '--method', 'masha1', '--compressor', 'randk:0.1'], 'lambda'],
      [['--problem', 'missing.json', '--method', 'masha1', '--compressor', 'randk:0.1'], '--problem'],
      [['--problem', 'bilinear', '--method', 'marina', '--compressor', 'permk'], '--method'],
    ] as const) {
      const r = await cli(['manifest', 'init', ...argv], dir);
      expect(r.code, r.err).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toContain(needle);
    }
  });
});

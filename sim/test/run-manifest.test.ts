import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bilinearToJson, generateBilinear, parseManifest, runIdOf } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';

async function cli(argv: string[], cwd: string) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, cwd });
  return { code, out, err };
}

describe('masha-sim manifest init', () => {
  it('writes a complete manifest that validates, with the flags applied', async () => {
    const r = await cli(['manifest', 'init', '--problem', 'bilinear', '--method', 'masha1', '--compressor', 'randk:0.1', '--shards', '20', '--seed', '7', '--target', '1e-6'], '.');
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

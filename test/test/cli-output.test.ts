/**
 * Output that scripts and shells consume, tested the way a user runs it: `npm run bench > out.json`
 * is valid JSON (npm's banner and turbo's build output stay off stdout), and
 * `masha-sim manifest init --problem FILE > other/dir/RUN.json` writes a manifest that runs from
 * wherever it is.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bilinearToJson, generateBilinear, parseManifest } from '@masha/protocol';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const SIM = join(ROOT, 'sim/bin/masha-sim.js');

describe('output for shells and scripts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'masha-out-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('`npm run bench > out.json` is valid JSON', () => {
    const out = join(dir, 'out.json');
    const fd = openSync(out, 'w');
    try {
      const r = spawnSync('npm', ['run', 'bench', '--', '__no_such_row__'], { cwd: ROOT, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 240_000 });
      expect(r.status, r.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ results: [] });
  });

  it('`manifest init --problem FILE > other/dir/RUN.json` names the file relative to the manifest', () => {
    writeFileSync(join(dir, 'prob.json'), JSON.stringify(bilinearToJson(generateBilinear({ d: 4, M: 3, seed: 1 }))));
    mkdirSync(join(dir, 'other', 'dir'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    // A real shell redirection: the process finds its stdout's file itself.
    execFileSync('sh', ['-c', `"${process.execPath}" "${SIM}" manifest init --problem prob.json --compressor randk:0.5 --iterations 20 > other/dir/RUN.json`], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const m = parseManifest(JSON.parse(readFileSync(join(dir, 'other/dir/RUN.json'), 'utf8')));
    expect(m.problem).toMatchObject({ kind: 'file', path: '../../prob.json' });
    const r = spawnSync(process.execPath, [SIM, 'run', '--manifest', '../other/dir/RUN.json', '--out', 'sim', '--progress', 'off'], {
      cwd: join(dir, 'elsewhere'),
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  });
});

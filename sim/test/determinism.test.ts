import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEventLine } from '@masha/protocol/swarm';
import { describe, expect, it } from 'vitest';
import { buildRun, parseManifest } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { runToDirectory } from '../src/run/run-files.js';
import { formatTrace, generateTrace } from '../src/trace/index.js';

async function cli(argv: string[], cwd: string) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, cwd });
  return { code, out, err };
}

/** A small run with Poisson churn: MASHA1 + RandK 50% on a d = 10 bilinear game, 8 shards. */
function setup(): string {
  const dir = mkdtempSync(join(tmpdir(), 'masha-det-'));
  const base = {
    problem: { kind: 'bilinear' as const, d: 10, M: 8, seed: 1 },
    method: { name: 'masha1' as const },
    compressors: { device: 'randk:0.5' },
    stop: { iterations: 120 },
    seed: 3,
  };
  const gamma = 4 * buildRun(parseManifest(base)).gamma;
  writeFileSync(join(dir, 'RUN.json'), JSON.stringify(parseManifest({ ...base, method: { name: 'masha1', gamma } }), null, 2));
  writeFileSync(join(dir, 'TRACE.jsonl'), formatTrace(generateTrace({ kind: 'poisson', peers: 8, duration: 20, seed: 4, meanSession: 40 })));
  return dir;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('determinism', () => {
  it('same manifest, trace and seed → the same event log, in-process and through the CLI', async () => {
    const dir = setup();
    const opts = { manifestPath: join(dir, 'RUN.json'), tracePath: join(dir, 'TRACE.jsonl') };
    const a = await runToDirectory({ ...opts, outDir: join(dir, 'a') });
    const b = await runToDirectory({ ...opts, outDir: join(dir, 'b') });
    expect(a.summary.logSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b.summary.logSha256).toBe(a.summary.logSha256);
    expect(sha256(a.files.events)).toBe(a.summary.logSha256);
    expect(readFileSync(b.files.events, 'utf8')).toBe(readFileSync(a.files.events, 'utf8'));
    // Everything but the wall-clock time is identical.
    const strip = (p: string) => ({ ...JSON.parse(readFileSync(p, 'utf8')), wallSeconds: 0 });
    expect(strip(b.files.summary)).toEqual(strip(a.files.summary));
    expect(readFileSync(b.files.plot, 'utf8')).toBe(readFileSync(a.files.plot, 'utf8'));

    const c = await cli(['run', '--manifest', 'RUN.json', '--trace', 'TRACE.jsonl', '--out', 'c', '--progress', 'off'], dir);
    expect(c.code, c.err).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'c', 'summary.json'), 'utf8')).logSha256).toBe(a.summary.logSha256);

    // Another network seed changes the relay layouts, hence the log.
    const d = await cli(['run', '--manifest', 'RUN.json', '--trace', 'TRACE.jsonl', '--out', 'd', '--seed', '99', '--progress', 'off', '--json'], dir);
    expect(d.code, d.err).toBe(0);
    expect(JSON.parse(d.out).logSha256).not.toBe(a.summary.logSha256);

    // The run saw churn and finished its iterations on one state.
    const s = a.summary;
    expect(s.iterations).toBe(120);
    expect(s.consistent).toBe(true);
    expect(s.runId).toMatch(/^[0-9a-f]{64}$/);
    // The log: one JSON object per line, t and ev first, every line valid under the events.jsonl
    // schema the swarm's logs share, every kind of event present.
    const kinds = new Set<string>();
    for (const line of readFileSync(a.files.events, 'utf8').trimEnd().split('\n')) {
      const o = parseEventLine(line);
      expect(Object.keys(o).slice(0, 2)).toEqual(['t', 'ev']);
      kinds.add(o.ev);
    }
    for (const k of ['join', 'send', 'broadcast', 'receive', 'timer', 'commit', 'election', 'done']) expect(kinds).toContain(k);
    expect(kinds.has('crash') || kinds.has('leave')).toBe(true);
    const svg = readFileSync(a.files.plot, 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('live peers');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  it('bad manifests and traces exit 2 with one line naming the field or line', async () => {
    const dir = setup();
    const m = JSON.parse(readFileSync(join(dir, 'RUN.json'), 'utf8'));
    m.network.leaseMs = -5;
    writeFileSync(join(dir, 'BAD.json'), JSON.stringify(m));
    const r = await cli(['run', '--manifest', 'BAD.json', '--out', 'x', '--progress', 'off'], dir);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('network.leaseMs');
    writeFileSync(join(dir, 'BAD.jsonl'), '{"t":0,"event":"join","peer":"a"}\n{"t":1,"event":"slow","peer":"a"}\n');
    const t = await cli(['run', '--manifest', 'RUN.json', '--trace', 'BAD.jsonl', '--out', 'y', '--progress', 'off'], dir);
    expect(t.code).toBe(2);
    expect(t.err).toContain('line 2');
    expect(t.err).toContain('"factor"');
    writeFileSync(join(dir, 'GHOST.jsonl'), '{"t":3,"event":"crash","peer":"p42"}\n');
    const g = await cli(['run', '--manifest', 'RUN.json', '--trace', 'GHOST.jsonl', '--out', 'z', '--progress', 'off'], dir);
    expect(g.code).toBe(2);
    expect(g.err).toContain('line 1');
    expect(g.err).toContain('p42');
  });
});

import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEventLine } from '@masha/protocol/swarm';
import { describe, expect, it } from 'vitest';
import { buildRun, parseManifest } from '@masha/protocol';
import { runCli } from '../src/cli/program.js';
import { parseRunSummary } from '@masha/protocol/swarm';
import { logSizeWatch, type LogSizeEstimate } from '../src/run/event-level.js';
import { runToDirectory } from '../src/run/run-files.js';
import type { IterationInfo } from '../src/run/simulate.js';
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
    // Everything but the wall-clock times is identical.
    const strip = (p: string) => ({ ...JSON.parse(readFileSync(p, 'utf8')), wallSeconds: 0, startedAt: '' });
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

  it('summary.json follows the shared run summary schema; --events commits writes a light log; a failed rerun keeps the results', async () => {
    const dir = setup();
    const full = await cli(['run', '--manifest', 'RUN.json', '--trace', 'TRACE.jsonl', '--out', 'out', '--progress', 'off'], dir);
    expect(full.code, full.err).toBe(0);
    const summary = parseRunSummary(JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')));
    expect(summary.host).toBe('simulator');
    expect(summary.stop).toBe('done:iterations');
    expect(summary.simulation?.events).toBe('all');
    expect(summary.simSeconds).toBeGreaterThan(0);
    expect(full.err).toContain('s wall (wallSeconds)');
    const before = readFileSync(join(dir, 'out', 'events.jsonl'), 'utf8');

    // A rerun into the same directory that fails mid-way (a trace naming a peer beyond M) leaves
    // the earlier files exactly as they were, and no temporary file behind.
    writeFileSync(
      join(dir, 'LATE.jsonl'),
      '{"t":0,"event":"join","peer":"p0"}\n{"t":1,"event":"slow","peer":"p0","factor":2}\n{"t":1.5,"event":"crash","peer":"p9"}\n',
    );
    const failed = await cli(['run', '--manifest', 'RUN.json', '--trace', 'LATE.jsonl', '--out', 'out', '--progress', 'off'], dir);
    expect(failed.code).toBe(2);
    expect(readFileSync(join(dir, 'out', 'events.jsonl'), 'utf8')).toBe(before);
    expect(parseRunSummary(JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')))).toEqual(summary);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['events.jsonl', 'run.svg', 'summary.json']);

    const light = await cli(
      ['run', '--manifest', 'RUN.json', '--trace', 'TRACE.jsonl', '--out', 'light', '--events', 'commits', '--progress', 'off', '--json'],
      dir,
    );
    expect(light.code, light.err).toBe(0);
    const lines = readFileSync(join(dir, 'light', 'events.jsonl'), 'utf8')
      .trimEnd()
      .split('\n');
    const kinds = new Set(lines.map((l) => (JSON.parse(l) as { ev: string }).ev));
    expect([...kinds].sort()).toEqual([...kinds].filter((k) => ['commit', 'election', 'join', 'leave', 'crash', 'done'].includes(k)).sort());
    expect(kinds).toContain('commit');
    expect(lines.length).toBeLessThan(before.split('\n').length / 3);
    const ls = parseRunSummary(JSON.parse(light.out));
    expect(ls.simulation?.events).toBe('commits');
    // Same run, same final state; only the log differs.
    expect(ls.digest).toBe(summary.digest);
    expect(ls.committedRounds).toBe(summary.committedRounds);
    expect(ls.logSha256).not.toBe(summary.logSha256);
  });

  it('warns early when events.jsonl is on its way to gigabytes', () => {
    const warnings: LogSizeEstimate[] = [];
    const log = { bytes: 0 };
    const watch = logSizeWatch(log, 10_000, (e) => warnings.push(e));
    const info = (iteration: number) => ({ iteration }) as IterationInfo;
    log.bytes = 50_000;
    watch(info(50)); // before the first check (1 % of 10,000 = 100 iterations)
    expect(warnings).toEqual([]);
    log.bytes = 100_000; // 1 kB per iteration → 10 MB: fine
    watch(info(100));
    expect(warnings).toEqual([]);
    log.bytes = 30e6; // 150 kB per iteration → 1.5 GB
    watch(info(200));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].estimatedBytes).toBeCloseTo(1.5e9, -6);
    log.bytes = 60e6;
    watch(info(400));
    expect(warnings).toHaveLength(1); // once
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

/**
 * The Node side's terminal and file helpers: progress that names its unit and never prints
 * cli-progress's "NFs" ETA placeholder, the status table, results replaced atomically, and the
 * package boundary (node/ imports nothing from the simulator).
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatEta, startProgress } from '../src/cli/progress.js';
import { progressUnits } from '../src/cli/commands/launch.js';
import { renderStatus } from '../src/cli/commands/status.js';
import { startReport } from '../src/cli/report.js';
import { writeJsonFile } from '../src/launcher/files.js';

class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

const NODE_ROOT = resolve(fileURLToPath(import.meta.url), '../..');

describe('progress', () => {
  it('plain lines name the unit', () => {
    const stream = new Capture(false);
    let t = 0;
    const p = startProgress('run ab12', 1000, { stream, intervalMs: 1000, now: () => t, units: progressUnits });
    t = 1500;
    p.update(452, 'it 10');
    p.stop('done');
    const lines = stream.text.trim().split('\n');
    expect(lines[0]).toBe('run ab12: started 0.0% done [0.0 s]');
    expect(lines[1]).toBe('run ab12: progress 45.2% done [1.5 s] it 10');
    expect(lines[2]).toBe('run ab12: done 45.2% done [1.5 s] done');
  });

  it('the bar shows "?" while the ETA is unknown, never "NFs"', () => {
    expect(formatEta('INF')).toBe('?');
    expect(formatEta('NULL')).toBe('?');
    expect(formatEta(Infinity)).toBe('?');
    expect(formatEta(75)).toBe('01m15s');
    const stream = Object.assign(new Capture(true), { cursorTo: () => true, clearLine: () => true, moveCursor: () => true, columns: 160 });
    const p = startProgress('run', 10, { stream, mode: 'bar', units: (v, t) => `${v}/${t} iterations` });
    p.update(0, 'waiting');
    p.update(3, 'going');
    p.stop();
    expect(stream.text).toContain('3/10 iterations');
    expect(stream.text).not.toContain('NF');
  });
});

describe('status table', () => {
  it('renders a borderless, aligned table', () => {
    const peer = (id: string, agg: boolean) => ({
      peer: id,
      live: true,
      isAggregator: agg,
      aggregator: 'p1',
      epoch: 1,
      round: 12,
      iteration: 6,
      metric: 0.5,
      held: [0, 1],
      heldCount: 2,
      up: 2048,
      down: 100,
      done: null,
    });
    const text = renderStatus({
      runs: [
        {
          runId: 'r'.repeat(64),
          state: 'open',
          outcome: null,
          lastAnnouncedSecondsAgo: 0,
          method: 'masha1',
          compressor: 'natural',
          launcher: 'L',
          peers: [peer('p1', true), peer('p2', false)],
        },
      ],
    });
    const lines = text.trim().split('\n');
    expect(lines[1]).toMatch(/^\s+peer\s+role\s+state\s+shards\s+aggregator\s+epoch\s+round\s+iter\s+metric\s+up\s+down$/);
    expect(lines[2]).toMatch(/^\s+p1\s+aggregator\s+live\s+0,1\s+p1\s+1\s+12\s+6\s+5\.00e-1\s+2\.0 KiB\s+100 B$/);
    expect(lines).toHaveLength(4);
    // Right-aligned columns end at the same place on every line.
    expect(lines[1].length).toBe(lines[2].length);
  });
});

describe('status of runs whose launcher has gone', () => {
  it('says that a run ended and how, or that it went silent', () => {
    const base = { method: 'masha1', compressor: 'natural', launcher: 'L', peers: [] };
    const text = renderStatus({
      runs: [
        {
          ...base,
          runId: 'a'.repeat(64),
          state: 'finished',
          outcome: { stop: 'done:target', reached: true, iterations: 190, committedRounds: 380 },
          lastAnnouncedSecondsAgo: 12.2,
        },
        {
          ...base,
          runId: 'b'.repeat(64),
          state: 'finished',
          outcome: { stop: 'interrupted', reached: false, iterations: 20, committedRounds: 40 },
          lastAnnouncedSecondsAgo: 3,
        },
        { ...base, runId: 'c'.repeat(64), state: 'silent', outcome: null, lastAnnouncedSecondsAgo: 45 },
      ],
    });
    expect(text).toContain(`run ${'a'.repeat(64)} [finished (done:target): target reached, 190 iterations, 380 rounds; last announced 12 s ago]`);
    expect(text).toContain('[finished (interrupted): target NOT reached, 20 iterations, 40 rounds;');
    expect(text).toContain('[silent: no announcement for 45 s and no end announced');
    expect(text).not.toContain('no peer reports');
    expect(renderStatus({ runs: [] })).toBe('no run announced on this relay yet\n');
  });
});

describe('npm start report', () => {
  it('names what each figure counts and which time is wallSeconds', () => {
    const summary = {
      host: 'swarm',
      runId: 'a'.repeat(64),
      startedAt: '2026-01-01T00:00:00.000Z',
      stop: 'done:target',
      reached: true,
      target: 1e-6,
      iterations: 190,
      rounds: 380,
      committedRounds: 380,
      abortedRounds: 0,
      elections: 1,
      lateFrames: 0,
      rejectedFrames: 0,
      staleMessages: 0,
      framesLost: null,
      finalRelDist: 9e-7,
      finalOpNormSq: 1e-9,
      uplinkBytes: 2_500_000,
      downlinkBytes: 1_000_000,
      wireBytes: 9_000_000,
      logSha256: null,
      simSeconds: null,
      wallSeconds: 14.25,
      consistent: true,
      peersAtEnd: 4,
      peersSeen: 4,
    } as const;
    const text = startReport(summary, '/r/runs/x/2026-01-01T00-00-00.000Z', 19.5);
    expect(text).toContain('2.50 MB up, 1.00 MB down in Masha frames (payload and frame headers, each message once)');
    expect(text).toContain('8.58 MB on the wire (every byte the processes sent');
    expect(text).toContain('the run took 14.3 s (wallSeconds in summary.json); 19.5 s in all, with starting and stopping the processes');
    expect(text).toContain('/r/runs/x/latest');
  });
});

describe('result files', () => {
  it('are replaced by rename (a reader never sees a half-written file) and leave no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'masha-files-'));
    const path = join(dir, 'summary.json');
    writeFileSync(path, '{"old": true}\n');
    const before = statSync(path).ino;
    await writeJsonFile(path, { reached: true, x: Infinity });
    expect(statSync(path).ino).not.toBe(before);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ reached: true, x: null });
    expect(readdirSync(dir)).toEqual(['summary.json']);
  });
});

describe('package boundary', () => {
  it('node/ does not depend on or import the simulator', () => {
    const pkg = JSON.parse(readFileSync(join(NODE_ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const sim = ['@masha', 'sim'].join('/'); // spelled apart so that this file does not match itself
    expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })).not.toContain(sim);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|mts|js|mjs)$/.test(e.name) && new RegExp(`['"]${sim}['"/]`).test(readFileSync(p, 'utf8'))) offenders.push(p);
      }
    };
    walk(join(NODE_ROOT, 'src'));
    walk(join(NODE_ROOT, 'test'));
    expect(offenders).toEqual([]);
  });
});

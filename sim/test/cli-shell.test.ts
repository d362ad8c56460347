import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { formatEta, startProgress } from '../src/io/progress.js';

export class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, cwd: process.cwd() });
  return { code, out: stdout.text, err: stderr.text };
}

describe('masha-sim shell', () => {
  it('--help lists usage and the global options, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: masha-sim/);
    expect(r.out).toContain('--progress <mode>');
    expect(r.err).toBe('');
  });

  it('--version prints the version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown flag exits 2 with one line naming it', async () => {
    const r = await cli(['--frobnicate']);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("'--frobnicate'");
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a bad --progress value exits 2 naming the flag', async () => {
    const r = await cli(['--progress', 'sometimes', '--help']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--progress');
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown command exits 2', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('frobnicate');
  });
});

describe('progress display', () => {
  it('writes plain lines at most once per interval when the stream is not a TTY', () => {
    const stream = new Capture(false);
    let t = 0;
    const p = startProgress('work', 100, { stream, intervalMs: 1000, now: () => t });
    for (let i = 1; i <= 100; i++) {
      t += 100; // 10 s in total
      p.update(i, `step ${i}`);
    }
    p.stop('finished');
    p.stop('again'); // idempotent
    const lines = stream.text.trim().split('\n');
    expect(lines[0]).toBe('work: started 0/100 (0%) [0.0s]');
    expect(lines.at(-1)).toBe('work: done 100/100 (100%) [10.0s] finished');
    // 10 s at one line per second: 10 progress lines.
    expect(lines.filter((l) => l.includes('progress'))).toHaveLength(10);
    expect(lines[1]).toBe('work: progress 10/100 (10%) [1.0s] step 10');
  });

  it('draws a bar on a TTY and clamps values', () => {
    const stream = Object.assign(new Capture(true), { cursorTo: () => true, clearLine: () => true, moveCursor: () => true, columns: 120 });
    const p = startProgress('bar', 10, { stream, mode: 'bar' });
    p.update(25);
    expect(p.value).toBe(10);
    p.stop();
    expect(stream.text).toContain('100%');
  });

  it('names its unit and never shows cli-progress\'s "NFs" for an unknown ETA', () => {
    expect(formatEta('INF')).toBe('?');
    expect(formatEta(75)).toBe('01m15s');
    const lines = new Capture(false);
    const l = startProgress('run', 20, { stream: lines, unit: 'iterations', now: () => 0 });
    l.stop();
    expect(lines.text).toBe('run: started 0/20 iterations (0%) [0.0s]\nrun: done 0/20 iterations (0%) [0.0s]\n');
    const stream = Object.assign(new Capture(true), { cursorTo: () => true, clearLine: () => true, moveCursor: () => true, columns: 160 });
    const p = startProgress('run', 10, { stream, mode: 'bar', unit: 'iterations' });
    p.update(0);
    p.stop();
    expect(stream.text).toContain('0/10 iterations');
    expect(stream.text).toContain('ETA ?');
    expect(stream.text).not.toContain('NFs');
  });

  it('stays silent when off', () => {
    const stream = new Capture(true);
    const p = startProgress('x', 5, { stream, mode: 'off' });
    p.increment(3);
    p.stop();
    expect(stream.text).toBe('');
    expect(p.value).toBe(3);
  });
});

/**
 * `npm start`'s process hygiene (node/dist/start.js): every child — relay, launcher, volunteers —
 * is gone after Ctrl-C (SIGINT to the parent), and also after the parent is killed outright
 * (SIGKILL: the children notice their stdin pipe closing and exit). The full run to the target is
 * exercised by the other swarm tests and by `npm start` itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessGroup, type ManagedChild } from '@masha/node';

const START = resolve(fileURLToPath(import.meta.url), '../../../node/dist/start.js');

function childPids(parent: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(parent)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Running (a zombie waiting to be reaped by init counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start cleans up its children', () => {
  const group = new ProcessGroup();
  const dirs: string[] = [];
  const seen: number[] = [];

  afterEach(async () => {
    await group.stopAll(1_000);
    for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function startRunning(): Promise<{ start: ManagedChild; children: number[]; stderr: () => string }> {
    const out = mkdtempSync(join(tmpdir(), 'masha-start-'));
    dirs.push(out);
    const start = group.spawnNode('npm start', [START, '--peers', '2', '--out', out, '--progress', 'lines', '--timeout', '120'], { stdout: 'pipe', stderr: 'pipe' });
    let err = '';
    start.process.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
    });
    start.onStdoutLine(() => {});
    // Running: the launcher reports progress with the volunteers in.
    await until(() => /2 volunteer\(s\)/.test(err), 240_000, `the run to start; stderr so far:\n${err}`);
    const children = childPids(start.pid);
    seen.push(...children);
    return { start, children, stderr: () => err };
  }

  it('Ctrl-C (SIGINT): exit 130 and no child left', async () => {
    const { start, children, stderr } = await startRunning();
    expect(children.length).toBe(4); // relay, 2 volunteers, launcher
    expect(children.every(alive)).toBe(true);
    // It printed the volunteer page of its run, and the relay serves it there.
    const url = /volunteers: open (http:\/\/127\.0\.0\.1:\d+\/\?run=[0-9a-f]{64}) /.exec(stderr())?.[1];
    expect(url, stderr()).toBeDefined();
    const res = await fetch(url!, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>Masha — volunteer</title>');
    process.kill(start.pid, 'SIGINT');
    const exit = await start.exited;
    expect(exit.code).toBe(130);
    await until(() => children.every((p) => !alive(p)), 30_000, 'the children to exit');
  });

  it('SIGKILL of the parent: the children exit by themselves', async () => {
    const { start, children } = await startRunning();
    expect(children.length).toBe(4);
    process.kill(start.pid, 'SIGKILL');
    await start.exited;
    await until(() => children.every((p) => !alive(p)), 30_000, 'the orphaned children to exit');
  });
});

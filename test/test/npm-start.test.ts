/**
 * `npm start`'s process hygiene (node/dist/start.js): every child — relay, launcher, volunteers —
 * is gone after Ctrl-C (SIGINT to the parent), SIGTERM, and also after the parent is killed
 * outright (SIGKILL: the children notice their stdin pipe closing and exit); a SIGTERM to the npm
 * process of `npm start`, or to the npm wrapper of a backgrounded `npx masha …`, stops the node
 * processes under it too. Every process is tracked and cleaned up by PID. The full run to the
 * target is exercised by the other swarm tests and by `npm start` itself.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessGroup, type ManagedChild } from '@masha/node';

const START = resolve(fileURLToPath(import.meta.url), '../../../node/dist/start.js');
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

/** Every process below `pid`, children first. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Starts `cmd args` (npm, npx) in its own process group; its stderr is collected. */
function spawnTool(cmd: string, args: readonly string[], extra: ChildProcess[]): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(cmd, [...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  extra.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
  });
  return { child, stdout: () => out, stderr: () => err };
}

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
  const tools: ChildProcess[] = [];

  afterEach(async () => {
    await group.stopAll(1_000);
    for (const t of tools.splice(0)) {
      if (t.pid !== undefined && alive(t.pid)) {
        seen.push(...descendants(t.pid));
        try {
          process.kill(-t.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function startRunning(): Promise<{ start: ManagedChild; children: number[]; stderr: () => string }> {
    const out = mkdtempSync(join(tmpdir(), 'masha-start-'));
    dirs.push(out);
    const start = group.spawnNode('npm start', [START, '--peers', '2', '--out', out, '--progress', 'lines', '--timeout', '120'], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
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

  it('a bad manifest: one line naming the field, exit 2, like `masha launch`; nothing started or written', async () => {
    const out = mkdtempSync(join(tmpdir(), 'masha-start-'));
    dirs.push(out);
    const bad = join(out, 'BAD.json');
    writeFileSync(bad, JSON.stringify({ problem: { kind: 'bilinear' }, method: { name: 'masha1' }, network: { heartbeatMs: 500, leaseMs: 600 } }));
    const start = group.spawnNode('npm start', [START, '--manifest', bad, '--out', join(out, 'runs')], { stdout: 'pipe', stderr: 'pipe' });
    let err = '';
    start.process.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
    });
    start.onStdoutLine(() => {});
    const exit = await start.exited;
    expect(exit.code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^npm start: error: manifest .*BAD\.json: network\.leaseMs: must be at least twice heartbeatMs/);
    expect(existsSync(join(out, 'runs'))).toBe(false);
  });

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

  it('SIGTERM: exit 130 and no child left', async () => {
    const { start, children } = await startRunning();
    expect(children.length).toBe(4);
    process.kill(start.pid, 'SIGTERM');
    const exit = await start.exited;
    expect(exit.code).toBe(130);
    await until(() => children.every((p) => !alive(p)), 30_000, 'the children to exit');
  });

  it('SIGTERM to the npm process of `npm start`: start.js and every child it started exit', async () => {
    const out = mkdtempSync(join(tmpdir(), 'masha-start-'));
    dirs.push(out);
    const { child: npm, stderr } = spawnTool('npm', ['start', '--', '--peers', '1', '--out', out, '--progress', 'lines', '--timeout', '120'], tools);
    const npmPid = npm.pid as number;
    await until(() => /1 volunteer\(s\)/.test(stderr()), 240_000, `the run to start; stderr so far:\n${stderr()}`);
    const below = descendants(npmPid);
    seen.push(...below);
    const starts = below.filter((p) => cmdline(p).includes('start.js'));
    expect(starts).toHaveLength(1);
    expect(below.filter((p) => cmdline(p).includes('masha.js')).length).toBe(3); // relay, volunteer, launcher
    process.kill(npmPid, 'SIGTERM');
    await until(() => below.every((p) => !alive(p)), 30_000, `every process under npm to exit; left: ${below.filter(alive).map(cmdline).join('; ')}`);
  });

  it('SIGTERM to the npm wrapper of a backgrounded `npx masha relay`: the relay exits too', async () => {
    const { child: npx, stdout, stderr } = spawnTool('npx', ['masha', 'relay', '--json', '--ephemeral'], tools);
    const npxPid = npx.pid as number;
    let relayPid = 0;
    await until(
      () => {
        relayPid = descendants(npxPid).find((p) => cmdline(p).includes('masha relay')) ?? 0;
        return relayPid > 0 && stdout().includes('multiaddrs');
      },
      60_000,
      `the relay under npx; stderr so far:\n${stderr()}`,
    );
    seen.push(relayPid);
    process.kill(npxPid, 'SIGTERM');
    await until(() => !alive(relayPid), 30_000, 'the relay to exit after its npm wrapper');
  });

  it('SIGHUP stops a masha command like SIGINT (exit code, not killed by the signal)', async () => {
    const relay = group.spawnMasha('relay', ['relay', '--json', '--ephemeral'], { stdout: 'pipe', stderr: 'ignore' });
    await relay.waitForLine((l) => (l.includes('multiaddrs') ? true : undefined), 60_000);
    process.kill(relay.pid, 'SIGHUP');
    const exit = await relay.exited;
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('SIGKILL of the parent: the children exit by themselves', async () => {
    const { start, children } = await startRunning();
    expect(children.length).toBe(4);
    process.kill(start.pid, 'SIGKILL');
    await start.exited;
    await until(() => children.every((p) => !alive(p)), 30_000, 'the orphaned children to exit');
  });
});

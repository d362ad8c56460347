/**
 * A network namespace for browser tests. Chromium offers only non-loopback interface addresses as
 * WebRTC candidates (and none at all in a loopback-only namespace), so tests that use WebRTC run
 * the relay, the Node peers and Chromium inside a namespace made here:
 *
 *   - one veth pair whose two ends both stay inside the namespace, with private test addresses
 *     (10.213.0.1/24 and 10.213.0.2/24) and a default route over the first end: Chromium sees
 *     real interfaces and a route, and every packet stays within the namespace (nothing is
 *     forwarded, nothing is routed out — the namespace has no link to the host);
 *   - processes started with `ip netns exec` (which execs, so the PID is the process's own), each
 *     in its own process group, stopped by PID (SIGTERM, then SIGKILL) by `remove()`;
 *   - `remove()` deletes the namespace; it also runs on process exit, and namespaces left behind
 *     by a dead test process (name `masha-t<pid>-…`) are deleted on the next `createNetns`.
 *
 * Every `ip` command is bounded in time. Needs root (CI runs as root).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ManagedChild, MASHA_BIN } from '@masha/node';

const PREFIX = 'masha-t';
const IP_TIMEOUT_MS = 10_000;
let counter = 0;

function ip(args: readonly string[]): string {
  return execFileSync('ip', [...args], { encoding: 'utf8', timeout: IP_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root';
  try {
    ip(['netns', 'list']);
    return null;
  } catch (e) {
    return `\`ip netns\` does not work: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Deletes namespaces whose test process is gone. */
function sweepStale(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = /^masha-t(\d+)-\d+$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      try {
        ip(['netns', 'del', name]);
      } catch {
        /* gone meanwhile */
      }
    }
  }
}

export interface NsSpawnOptions {
  readonly stdout?: 'pipe' | 'ignore' | { readonly file: string };
  readonly stderr?: 'pipe' | 'ignore' | { readonly file: string };
  readonly env?: Readonly<Record<string, string>>;
  /** Run at this `nice` level (lower priority than Chromium: the rest of a swarm, which would run on other machines). */
  readonly nice?: number;
}

function stdio(spec: NsSpawnOptions['stdout'], fds: number[]): 'pipe' | 'ignore' | number {
  if (spec === undefined) return 'pipe';
  if (typeof spec === 'string') return spec;
  mkdirSync(dirname(spec.file), { recursive: true });
  const fd = openSync(spec.file, 'a');
  fds.push(fd);
  return fd;
}

export class Netns {
  /** The two ends' addresses: services listen on `hostA`. */
  readonly hostA = '10.213.0.1';
  readonly hostB = '10.213.0.2';
  readonly children: ManagedChild[] = [];
  /** A script that runs Chromium inside the namespace (Playwright's `executablePath`). */
  readonly chromium: string;
  private readonly dir: string;
  private removed = false;
  private readonly onExit = (): void => this.removeSync();

  constructor(readonly name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `${name}-`));
    this.chromium = join(this.dir, 'chromium-in-netns');
    writeFileSync(this.chromium, `#!/bin/sh\nexec ip netns exec ${name} /usr/bin/chromium "$@"\n`);
    chmodSync(this.chromium, 0o755);
    process.on('exit', this.onExit);
  }

  /** Runs `cmd args` inside the namespace in its own process group; stopped by `remove()`. */
  spawn(label: string, cmd: string, args: readonly string[], options: NsSpawnOptions = {}): ManagedChild {
    const fds: number[] = [];
    const niced = options.nice !== undefined ? ['nice', '-n', String(options.nice)] : [];
    const child = spawn('ip', ['netns', 'exec', this.name, ...niced, cmd, ...args], {
      env: { ...process.env, ...options.env, MASHA_DIE_WITH_PARENT: '1' },
      stdio: ['pipe', stdio(options.stdout, fds), stdio(options.stderr ?? 'ignore', fds)],
      detached: true,
    });
    for (const fd of fds) closeSync(fd);
    child.stdin?.on('error', () => {});
    const managed = new ManagedChild(label, child);
    this.children.push(managed);
    return managed;
  }

  /** `masha <args>` inside the namespace. */
  masha(label: string, args: readonly string[], options: NsSpawnOptions = {}): ManagedChild {
    return this.spawn(label, process.execPath, [MASHA_BIN, ...args], options);
  }

  /** Stops every process started here (by PID, SIGTERM then SIGKILL), then deletes the namespace. */
  async remove(graceMs = 2_000): Promise<void> {
    if (this.removed) return;
    const live = this.children.filter((c) => c.alive);
    for (const c of live) c.signal('SIGTERM');
    await Promise.race([Promise.all(live.map((c) => c.exited)), new Promise((r) => setTimeout(r, graceMs).unref())]);
    for (const c of this.children) c.signal('SIGKILL');
    await Promise.race([Promise.all(live.map((c) => c.exited)), new Promise((r) => setTimeout(r, 2_000).unref())]);
    this.removeSync();
  }

  private removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    process.off('exit', this.onExit);
    for (const c of this.children) c.signal('SIGKILL');
    try {
      ip(['netns', 'del', this.name]);
    } catch {
      /* already gone */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Creates the namespace with its veth pair, addresses and default route. */
export function createNetns(): Netns {
  sweepStale();
  const name = `${PREFIX}${process.pid}-${counter++}`;
  ip(['netns', 'add', name]);
  const ns = new Netns(name);
  try {
    const inNs = (args: readonly string[]): string => ip(['-n', name, ...args]);
    inNs(['link', 'set', 'lo', 'up']);
    inNs(['link', 'add', 'mveth0', 'type', 'veth', 'peer', 'name', 'mveth1']);
    inNs(['addr', 'add', `${ns.hostA}/24`, 'dev', 'mveth0']);
    inNs(['addr', 'add', `${ns.hostB}/24`, 'dev', 'mveth1']);
    inNs(['link', 'set', 'mveth0', 'up']);
    inNs(['link', 'set', 'mveth1', 'up']);
    inNs(['route', 'add', 'default', 'via', ns.hostB, 'dev', 'mveth0']);
  } catch (e) {
    void ns.remove();
    throw e;
  }
  return ns;
}

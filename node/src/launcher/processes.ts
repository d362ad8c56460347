/**
 * Child `masha` processes that are always cleaned up: used by `npm start` (relay, launcher,
 * volunteers on loopback), the benchmark and the end-to-end tests.
 *
 * - Every child runs `node bin/masha.js …` with the Node binary running us, in its own process
 *   group (`detached`), so a kill reaches anything it started too.
 * - Children get `MASHA_DIE_WITH_PARENT=1` and a stdin pipe: when this process dies — even by
 *   SIGKILL — the pipe closes and the child exits (cli/main.ts). That covers the one case no
 *   handler here can.
 * - `stopAll(graceMs)` sends SIGTERM to every live group, waits up to `graceMs`, then SIGKILLs
 *   what is left; `killAllSync()` SIGKILLs at once (for `process.on('exit')`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** Path of the `masha` launcher script (bin/masha.js, which runs the built CLI). */
export const MASHA_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/masha.js');

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Where stdout goes: piped (readable with `lines`), a log file path, or discarded. Default 'pipe'. */
  readonly stdout?: 'pipe' | 'inherit' | 'ignore' | { readonly file: string };
  readonly stderr?: 'pipe' | 'inherit' | 'ignore' | { readonly file: string };
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export class ManagedChild {
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    this.exited = new Promise((res) => {
      process.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        res(this.exitInfo);
      });
      process.once('error', () => {
        if (this.exitInfo === null) {
          this.exitInfo = { code: null, signal: null };
          res(this.exitInfo);
        }
      });
    });
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  get alive(): boolean {
    return this.exitInfo === null && this.process.pid !== undefined;
  }

  /** Sends a signal to the child's whole process group (falls back to the child alone). */
  signal(sig: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        this.process.kill(sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** Calls `onLine` for every line the child writes on stdout (needs stdout: 'pipe'). */
  onStdoutLine(onLine: (line: string) => void): void {
    const out = this.process.stdout;
    if (out === null) throw new Error(`${this.name}: stdout is not piped`);
    createInterface({ input: out, crlfDelay: Infinity }).on('line', onLine);
  }

  /** Resolves with the first stdout line `pick` accepts; rejects on exit or after `timeoutMs`. */
  waitForLine<T>(pick: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${this.name}: no expected output within ${timeoutMs / 1000} s`)), timeoutMs);
      this.onStdoutLine((line) => {
        const v = pick(line);
        if (v !== undefined) {
          clearTimeout(timer);
          res(v);
        }
      });
      void this.exited.then((e) => {
        clearTimeout(timer);
        rej(new Error(`${this.name} exited (code ${e.code}, signal ${e.signal}) before the expected output`));
      });
    });
  }
}

function stdio(spec: SpawnOptions['stdout'], fds: number[]): 'pipe' | 'inherit' | 'ignore' | number {
  if (spec === undefined) return 'pipe';
  if (typeof spec === 'string') return spec;
  mkdirSync(dirname(spec.file), { recursive: true });
  const fd = openSync(spec.file, 'a');
  fds.push(fd);
  return fd;
}

export class ProcessGroup {
  private readonly children: ManagedChild[] = [];

  /** Starts `masha <args>` as a child in its own process group. */
  spawnMasha(name: string, args: readonly string[], options: SpawnOptions = {}): ManagedChild {
    return this.spawnNode(name, [MASHA_BIN, ...args], options);
  }

  /** Starts `node <args>` (the Node running us) as a child in its own process group. */
  spawnNode(name: string, args: readonly string[], options: SpawnOptions = {}): ManagedChild {
    const fds: number[] = [];
    const child = spawn(process.execPath, [...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env, MASHA_DIE_WITH_PARENT: '1' },
      stdio: ['pipe', stdio(options.stdout, fds), stdio(options.stderr ?? 'inherit', fds)],
      detached: true,
    });
    for (const fd of fds) closeSync(fd);
    // A pipe we never write to: its end closes when this process dies.
    child.stdin?.on('error', () => {});
    const managed = new ManagedChild(name, child);
    this.children.push(managed);
    return managed;
  }

  get all(): readonly ManagedChild[] {
    return this.children;
  }

  live(): ManagedChild[] {
    return this.children.filter((c) => c.alive);
  }

  /** SIGTERM to every live child's group, then SIGKILL after `graceMs` to what is left. */
  async stopAll(graceMs = 3_000): Promise<void> {
    const live = this.live();
    for (const c of live) c.signal('SIGTERM');
    const deadline = new Promise<void>((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.all(live.map((c) => c.exited)), deadline]);
    for (const c of this.live()) c.signal('SIGKILL');
    await Promise.race([Promise.all(live.map((c) => c.exited)), new Promise<void>((r) => setTimeout(r, 2_000).unref())]);
  }

  /** SIGKILL to every live child's group, synchronously (exit handlers). */
  killAllSync(): void {
    for (const c of this.live()) c.signal('SIGKILL');
  }
}

/**
 * A run with volunteer tabs, inside a browser-test session (session.ts: network namespace, relay,
 * Chromium): the launcher and Node volunteers as `masha` processes in the namespace (read back
 * with the swarm tests' Launcher / Volunteer), and tabs opening the page with `?run=ID&debug=1`,
 * whose engine state and event log (`masha.live()`, `masha.records()`) the test reads.
 *
 * A tab's records are events.jsonl lines like a Node peer's (`t` in Unix seconds, `ev`, fields;
 * the schema of `@masha/protocol/swarm` events.ts), so `checkLineage` reads both. `Tab.close()` saves the tab's records first: a closed
 * tab's log is what it had recorded until then, like a killed process's.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { runIdOf, type Manifest } from '@masha/protocol';
import { keyedManifest, loadOrCreateLauncherKey } from '@masha/node';
import type { LiveState, TabRecord } from '../../../browser/src/worker-protocol.js';
import { Launcher, readLog, Volunteer, type LogEvent } from '../swarm-helpers.js';
import type { BrowserSession } from './session.js';
import { debugReady } from './page-helpers.js';

export type { LiveState, TabRecord };

export class Tab {
  /** Records saved at close (the page is gone afterwards). */
  private saved: LogEvent[] | null = null;
  closed = false;

  constructor(
    readonly name: string,
    readonly page: Page,
    readonly id: string,
  ) {}

  live(): Promise<LiveState | null> {
    return this.page.evaluate(() => (globalThis as unknown as { masha: { live(): LiveState | null } }).masha.live());
  }

  async records(): Promise<LogEvent[]> {
    if (this.saved !== null) return this.saved;
    return this.page.evaluate(() => (globalThis as unknown as { masha: { records(): LogEvent[] } }).masha.records());
  }

  /** Closes the tab (as a volunteer closing it would), keeping its records. */
  async close(): Promise<void> {
    this.saved = await this.records();
    this.closed = true;
    await this.page.close();
  }
}

export class TabSwarm {
  readonly runsDir: string;
  readonly volunteers: Volunteer[] = [];
  readonly tabs: Tab[] = [];

  constructor(
    readonly session: BrowserSession,
    readonly dir: string,
  ) {
    this.runsDir = join(dir, 'runs');
    // A previous run of the same manifest (same run id) must not leave its peers' logs here.
    rmSync(this.runsDir, { recursive: true, force: true });
    mkdirSync(this.runsDir, { recursive: true });
  }

  writeManifest(manifest: Manifest, name = 'run.json'): { path: string; runId: string } {
    const path = join(this.dir, name);
    const keyed = keyedManifest(manifest, loadOrCreateLauncherKey(join(this.dir, 'launcher.key')));
    writeFileSync(path, JSON.stringify(keyed, null, 2));
    return { path, runId: runIdOf(keyed) };
  }

  launch(manifestPath: string, timeoutS = 300): Launcher {
    const stderr = join(this.dir, 'launcher.log');
    const child = this.session.ns.masha(
      'launcher',
      [
        '--progress',
        'lines',
        'launch',
        '--manifest',
        manifestPath,
        '--key',
        join(this.dir, 'launcher.key'),
        '--relay',
        this.session.relayTcp,
        '--out',
        this.runsDir,
        '--json',
        '--timeout',
        String(timeoutS),
      ],
      { stdout: 'pipe', stderr: { file: stderr } },
    );
    return new Launcher(child, stderr);
  }

  volunteer(runId: string, name = `v${this.volunteers.length + 1}`, extra: readonly string[] = []): Volunteer {
    const child = this.session.ns.masha(
      name,
      ['join', '--relay', this.session.relayTcp, '--run', runId, '--out', this.runsDir, '--json', '--wait', '240', '--linger', '3', ...extra],
      { stdout: 'pipe', stderr: { file: join(this.dir, `${name}.log`) } },
    );
    const v = new Volunteer(name, child);
    this.volunteers.push(v);
    return v;
  }

  /** Opens a tab on the run's volunteer page (debug API on). */
  async tab(runId: string, name = `tab${this.tabs.length + 1}`, extraQuery = '', readyMs = 60_000): Promise<Tab> {
    const page = await this.session.openPage(`run=${runId}&debug=1${extraQuery}`);
    const id = await debugReady(page, readyMs);
    const t = new Tab(name, page, id);
    this.tabs.push(t);
    return t;
  }

  /** The newest start directory of a run (`runs/<runId>/latest`). */
  runDir(runId: string): string {
    return join(this.runsDir, runId, 'latest');
  }

  /** Event logs of the Node volunteers of a run, by peer id. */
  peerLogs(runId: string): Map<string, LogEvent[]> {
    const dir = join(this.runDir(runId), 'peers');
    const out = new Map<string, LogEvent[]>();
    if (!existsSync(dir)) return out;
    for (const f of readdirSync(dir)) if (f.endsWith('.jsonl')) out.set(f.slice(0, -'.jsonl'.length), readLog(join(dir, f)));
    return out;
  }

  /** One Node volunteer's event log while it is being written (a partial last line is left out). */
  livePeerLog(runId: string, peer: string): LogEvent[] {
    const path = join(this.runDir(runId), 'peers', `${peer}.jsonl`);
    if (!existsSync(path)) return [];
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.pop(); // after the last newline: empty, or a line still being written
    return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogEvent);
  }

  launcherLog(runId: string): LogEvent[] {
    return readLog(join(this.runDir(runId), 'events.jsonl'));
  }

  /** Every tab's records (open or closed), by peer id. */
  async tabLogs(): Promise<Map<string, LogEvent[]>> {
    const out = new Map<string, LogEvent[]>();
    for (const t of this.tabs) out.set(t.id, await t.records());
    return out;
  }

  /** Polls `cond` (which may be async) until true. */
  async waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string | Promise<string>)): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${typeof what === 'string' ? what : await what()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Helpers of the end-to-end swarm tests: a relay, volunteers and a launcher as real `masha`
 * processes on loopback (node/bin/masha.js, so `npx turbo run build` must have built node/dist),
 * always stopped (SIGTERM, then SIGKILL to each process group) by `stop()`, which every test calls
 * from afterEach/afterAll whatever happened; children also die with the test process
 * (MASHA_DIE_WITH_PARENT). Event logs are read back and checked for lineage.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyedManifest, loadOrCreateLauncherKey, ProcessGroup, type LaunchSummary, type ManagedChild } from '@masha/node';
import type { PeerStatus } from '@masha/protocol/swarm';
import { parseManifest, runIdOf, type Manifest, type ManifestInput } from '@masha/protocol';

/**
 * A bilinear run that reaches 1e-6 in ~190 rounds (λ = 0.1, γ = 0.4, natural dithering), with timing
 * suited to a loaded 2-core machine (a 3 s lease: processes starved for a second or two are not
 * declared dead).
 */
export function testManifest(
  overrides: {
    stop?: ManifestInput['stop'];
    network?: ManifestInput['network'];
    problem?: Partial<Extract<ManifestInput['problem'], { kind: 'bilinear' }>>;
    seed?: number;
  } = {},
): Manifest {
  return parseManifest({
    problem: { kind: 'bilinear', d: 100, M: 10, lambda: 0.1, ...overrides.problem },
    method: { name: 'masha1', gamma: 0.4 },
    compressors: { device: 'dither:p=2,s=8' },
    stop: overrides.stop ?? { iterations: 2_000, target: 1e-6 },
    network: { heartbeatMs: 500, leaseMs: 3_000, roundDeadlineMs: 1_500, quorum: 0.5, minPeers: 1, ...overrides.network },
    seed: overrides.seed ?? 7,
  });
}

export interface LogEvent {
  readonly t: number;
  readonly ev: string;
  readonly peer?: string;
  readonly [k: string]: unknown;
}

export function readLog(path: string): LogEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogEvent);
}

export class Volunteer {
  peerId: string | null = null;
  status: PeerStatus | null = null;
  exit: { reason: string; status: PeerStatus } | null = null;
  readonly lines: string[] = [];

  constructor(
    readonly name: string,
    readonly child: ManagedChild,
  ) {
    child.onStdoutLine((line) => {
      this.lines.push(line);
      let msg: { event?: string; peerId?: string; status?: PeerStatus; reason?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.event === 'connected' && typeof msg.peerId === 'string') this.peerId = msg.peerId;
      if (msg.event === 'status' && msg.status) this.status = msg.status;
      if (msg.event === 'exit' && msg.status) this.exit = { reason: msg.reason ?? '', status: msg.status };
    });
  }
}

export class Launcher {
  stdout = '';
  constructor(
    readonly child: ManagedChild,
    readonly stderrPath: string,
  ) {
    child.onStdoutLine((line) => {
      this.stdout += `${line}\n`;
    });
  }

  /** The summary printed with --json once the launcher exits. */
  async summary(): Promise<{ code: number | null; summary: LaunchSummary }> {
    const e = await this.child.exited;
    try {
      return { code: e.code, summary: JSON.parse(this.stdout) as LaunchSummary };
    } catch {
      throw new Error(`launcher exited (${e.code}, ${e.signal}) without a summary; stderr:\n${tail(this.stderrPath)}`);
    }
  }
}

export function tail(path: string, lines = 30): string {
  if (!existsSync(path)) return '(none)';
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
}

export class TestSwarm {
  readonly group = new ProcessGroup();
  readonly dir = mkdtempSync(join(tmpdir(), 'masha-e2e-'));
  readonly runsDir = join(this.dir, 'runs');
  relayAddr = '';
  readonly volunteers: Volunteer[] = [];

  async startRelay(): Promise<string> {
    const relay = this.group.spawnMasha('relay', ['relay', '--json', '--ephemeral'], { stdout: 'pipe', stderr: { file: join(this.dir, 'relay.log') } });
    const addrs = await relay.waitForLine((line) => {
      try {
        const j = JSON.parse(line) as { multiaddrs?: string[] };
        return j.multiaddrs;
      } catch {
        return undefined;
      }
    }, 90_000);
    this.relayAddr = addrs.find((a) => !a.includes('/ws')) ?? addrs[0];
    return this.relayAddr;
  }

  /** The launcher's key (`masha launch --key`): manifests name it, so run ids are known before the launch. */
  get keyPath(): string {
    return join(this.dir, 'launcher.key');
  }

  writeManifest(manifest: Manifest, name = 'run.json'): { path: string; runId: string } {
    const path = join(this.dir, name);
    const keyed = keyedManifest(manifest, loadOrCreateLauncherKey(this.keyPath));
    writeFileSync(path, JSON.stringify(keyed, null, 2));
    return { path, runId: runIdOf(keyed) };
  }

  volunteer(runId: string, name = `v${this.volunteers.length + 1}`, extra: readonly string[] = []): Volunteer {
    const child = this.group.spawnMasha(
      name,
      ['join', '--relay', this.relayAddr, '--run', runId, '--out', this.runsDir, '--json', '--wait', '240', '--linger', '3', ...extra],
      { stdout: 'pipe', stderr: { file: join(this.dir, `${name}.log`) } },
    );
    const v = new Volunteer(name, child);
    this.volunteers.push(v);
    return v;
  }

  launch(manifestPath: string, timeoutS = 300): Launcher {
    const stderr = join(this.dir, 'launcher.log');
    const child = this.group.spawnMasha(
      'launcher',
      [
        '--progress',
        'lines',
        'launch',
        '--manifest',
        manifestPath,
        '--key',
        this.keyPath,
        '--relay',
        this.relayAddr,
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

  /** Highest round any volunteer reported. */
  round(): number {
    return Math.max(0, ...this.volunteers.map((v) => v.status?.round ?? 0));
  }

  async waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; relay log:\n${tail(join(this.dir, 'relay.log'), 5)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The newest start directory of a run (`runs/<runId>/latest`). */
  runDir(runId: string): string {
    return join(this.runsDir, runId, 'latest');
  }

  /** Event logs of the volunteers of a run, by peer id. */
  peerLogs(runId: string): Map<string, LogEvent[]> {
    const dir = join(this.runDir(runId), 'peers');
    const out = new Map<string, LogEvent[]>();
    if (!existsSync(dir)) return out;
    for (const f of readdirSync(dir)) if (f.endsWith('.jsonl')) out.set(f.slice(0, -'.jsonl'.length), readLog(join(dir, f)));
    return out;
  }

  launcherLog(runId: string): LogEvent[] {
    return readLog(join(this.runDir(runId), 'events.jsonl'));
  }

  readJson<T>(runId: string, file: string): T {
    return JSON.parse(readFileSync(join(this.runDir(runId), file), 'utf8')) as T;
  }

  async stop(): Promise<void> {
    await this.group.stopAll(2_000);
    if (!process.env.MASHA_KEEP_E2E) rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LineageReport {
  /** Round → digest agreed by every log that applied it. */
  readonly rounds: Map<number, string>;
  readonly problems: string[];
  /** Commit lines checked. */
  readonly commits: number;
}

/**
 * Checks a set of event logs for "no committed round lost or applied twice":
 * - within each log, committed rounds strictly increase (a round is never applied twice), and
 *   each commit extends the previous round by one unless a state installation (`state` line)
 *   moved the peer forward;
 * - across logs, every round is committed with the same digest everywhere (no peer kept a round
 *   that the others replaced — a lost round — and no two lineages).
 */
export function checkLineage(logs: ReadonlyMap<string, readonly LogEvent[]>): LineageReport {
  const rounds = new Map<number, string>();
  const problems: string[] = [];
  let commits = 0;
  for (const [peer, events] of logs) {
    let last = 0;
    for (const e of events) {
      if (e.ev === 'state') {
        const r = e.round as number;
        if (r <= last) problems.push(`${peer}: state installed at round ${r} after round ${last}`);
        last = r;
        const d = e.digest as string;
        const known = rounds.get(r);
        if (known !== undefined && known !== d) problems.push(`${peer}: state of round ${r} has digest ${d}, elsewhere ${known}`);
        else rounds.set(r, d);
      } else if (e.ev === 'commit') {
        commits++;
        const r = e.round as number;
        const d = e.digest as string;
        if (r !== last + 1) problems.push(`${peer}: committed round ${r} after round ${last}`);
        last = r;
        const known = rounds.get(r);
        if (known !== undefined && known !== d) problems.push(`${peer}: round ${r} committed with digest ${d}, elsewhere ${known}`);
        else rounds.set(r, d);
      }
    }
  }
  return { rounds, problems, commits };
}

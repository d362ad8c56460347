/**
 * Swarm benchmark: real `masha` processes on loopback (a relay, N volunteers, a launcher), MASHA1
 * on a d-dimensional quadratic (the PermK-paper generator, tridiagonal, one shard per volunteer),
 * run for a fixed number of iterations with every shard answering every round (quorum 1,
 * `minPeers = N`, long deadlines and lease: a benchmark of the data path, not of failure handling).
 *
 * Measured, in the steady state (rounds ≥ 2, after the initial full F(w⁰) exchange):
 * - ms per round: the launcher's observer engine's commit timestamps (events.jsonl);
 * - wire bytes per peer per round: each volunteer's transport-level bytes sent (TCP, encryption
 *   and muxing included; uplinks, gossip forwarding, heartbeats, status reports), sampled from its
 *   status reports, differenced over the window, averaged over volunteers;
 * - swarm wire / payload: total transport-level bytes per round over the payload the round needs
 *   (uplink bodies + one COMMIT body per receiving volunteer): gossip's duplicate deliveries and
 *   forwarding show up here (the per-path overhead is measured in isolation in wire.ts);
 * - the aggregator's upload per round (transport-level bytes sent): with gossipsub it pushes each
 *   broadcast to its mesh (≤ D peers), so it should not grow linearly with N.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest, runIdOf } from '@masha/protocol';
import { keyedManifest, loadOrCreateLauncherKey } from '../launcher/launcher-key.js';
import type { BenchResult } from './row.js';
import { connectSwarm } from '../launcher/connect.js';
import { StatusBoard } from '../launcher/directory.js';
import { ProcessGroup } from '../launcher/processes.js';
import type { LaunchSummary } from '../launcher/summary.js';

export interface SwarmBenchConfig {
  readonly peers: number;
  readonly d: number;
  /** Device compressor spec. */
  readonly device: string;
  /** Server compressor spec (default identity: a dense broadcast). */
  readonly server?: string;
  readonly iterations: number;
  /** Frame size (bytes). Default 64 KiB. */
  readonly frameBytes?: number;
}

export interface SwarmMeasurement {
  readonly config: SwarmBenchConfig;
  readonly runId: string;
  readonly rounds: number;
  readonly windowRounds: number;
  readonly msPerRound: number;
  readonly wirePerPeerPerRound: number;
  readonly aggregatorUploadPerRound: number;
  /** Aggregator upload per round over the COMMIT body size: copies of each broadcast it pushed. */
  readonly aggregatorCopies: number;
  /** Whole run, all volunteers. */
  readonly uplinkStreamBytes: number;
  readonly uplinkBodyBytes: number;
  /** Per round (window). */
  readonly swarmWireBytes: number;
  readonly neededPayloadBytes: number;
  readonly elections: number;
  readonly consistent: boolean;
  readonly wallSeconds: number;
}

interface Sample {
  readonly round: number;
  readonly wireSent: number;
  readonly uplinkStream: number;
  readonly uplinkBody: number;
  readonly commitBody: number;
  readonly isAggregator: boolean;
}

function log(text: string): void {
  process.stderr.write(`bench swarm: ${text}\n`);
}

/** First sample at or after `round`, and the last sample: the measurement window of one peer. */
function window(samples: readonly Sample[], round: number): [Sample, Sample] | null {
  const first = samples.find((s) => s.round >= round);
  const last = samples[samples.length - 1];
  if (first === undefined || last === undefined || last.round <= first.round) return null;
  return [first, last];
}

export async function measureSwarm(config: SwarmBenchConfig): Promise<SwarmMeasurement> {
  const dir = mkdtempSync(join(tmpdir(), 'masha-bench-'));
  const group = new ProcessGroup();
  const onExit = (): void => group.killAllSync();
  process.on('exit', onExit);
  const started = performance.now();
  try {
    const manifest = parseManifest({
      problem: { kind: 'quadratic', d: config.d, n: config.peers, seed: 1 },
      method: { name: 'masha1', gamma: 0.05 },
      compressors: { device: config.device, server: config.server ?? 'identity' },
      stop: { iterations: config.iterations },
      network: {
        frameBytes: config.frameBytes ?? 65_536,
        // Long heartbeats and lease: a 4 MB COMMIT takes seconds through gossip on a loaded machine;
        // an idle-aggregator ANNOUNCE arriving before it makes devices ask for a replay.
        heartbeatMs: 4_000,
        leaseMs: 12_000,
        roundDeadlineMs: 60_000,
        quorum: 1,
        minPeers: config.peers,
      },
      seed: 1,
    });
    const keyPath = join(dir, 'launcher.key');
    const keyed = keyedManifest(manifest, loadOrCreateLauncherKey(keyPath));
    const runId = runIdOf(keyed);
    const manifestPath = join(dir, 'run.json');
    writeFileSync(manifestPath, JSON.stringify(keyed));
    const relay = group.spawnMasha('relay', ['relay', '--json', '--ephemeral'], { stdout: 'pipe', stderr: { file: join(dir, 'relay.log') } });
    const addrs = await relay.waitForLine((l) => {
      try {
        return (JSON.parse(l) as { multiaddrs?: string[] }).multiaddrs;
      } catch {
        return undefined;
      }
    }, 60_000);
    const addr = addrs.find((a) => !a.includes('/ws')) ?? addrs[0];
    // A passive node of our own to sample the volunteers' status reports.
    const monitor = await connectSwarm({ relays: [addr], node: { webrtc: false } });
    const board = new StatusBoard(monitor, runId).start();
    const samples = new Map<string, Sample[]>();
    board.onStatus((e) => {
      const c = e.status.counters;
      let list = samples.get(e.peer);
      if (list === undefined) samples.set(e.peer, (list = []));
      list.push({
        round: e.status.round,
        wireSent: e.status.bytes.wireSent,
        uplinkStream: c['net-uplink-stream-bytes'] ?? 0,
        uplinkBody: c['net-uplink-body-bytes'] ?? 0,
        commitBody: c['net-commit-body-bytes'] ?? 0,
        isAggregator: e.status.isAggregator,
      });
    });
    for (let i = 0; i < config.peers; i++) {
      group.spawnMasha(`v${i + 1}`, ['join', '--relay', addr, '--run', runId, '--out', join(dir, 'runs'), '--wait', '300'], {
        stdout: 'ignore',
        stderr: { file: join(dir, `v${i + 1}.log`) },
      });
    }
    const launcher = group.spawnMasha('launcher', ['--progress', 'off', 'launch', '--manifest', manifestPath, '--key', keyPath, '--relay', addr, '--out', join(dir, 'runs'), '--json', '--timeout', '550'], {
      stdout: 'pipe',
      stderr: { file: join(dir, 'launcher.log') },
    });
    let out = '';
    launcher.onStdoutLine((l) => {
      out += `${l}\n`;
    });
    const exit = await launcher.exited;
    board.stop();
    await monitor.close().catch(() => {});
    let summary: LaunchSummary;
    try {
      summary = JSON.parse(out) as LaunchSummary;
    } catch {
      throw new Error(`launcher exited with ${exit.code} and no summary; see ${dir}`);
    }
    const events = readFileSync(join(dir, 'runs', runId, 'latest', 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { t: number; ev: string; round?: number });
    const commits = events.filter((e) => e.ev === 'commit' && (e.round ?? 0) >= 2);
    // events.jsonl times are seconds.
    const msPerRound = commits.length >= 2 ? (1000 * (commits[commits.length - 1].t - commits[0].t)) / (commits.length - 1) : NaN;

    let wireSum = 0;
    let wirePeers = 0;
    let windowRounds = 0;
    let aggUpload = NaN;
    let aggCommitBody = NaN;
    let uplinkStream = 0;
    let uplinkBody = 0;
    let swarmWire = 0;
    let needed = 0;
    for (const list of samples.values()) {
      const w = window(list, 2);
      if (w === null) continue;
      const [a, b] = w;
      const rounds = b.round - a.round;
      windowRounds = Math.max(windowRounds, rounds);
      const perRound = (b.wireSent - a.wireSent) / rounds;
      wireSum += perRound;
      wirePeers++;
      swarmWire += perRound;
      // Whole-run totals for the uplink ratio: a sample can catch a message queued (body counted)
      // but not yet on the wire, which would skew a windowed difference by up to one message.
      uplinkStream += b.uplinkStream;
      uplinkBody += b.uplinkBody;
      needed += (b.uplinkBody - a.uplinkBody) / rounds;
      if (b.commitBody > a.commitBody && a.isAggregator && b.isAggregator) {
        aggUpload = perRound;
        aggCommitBody = (b.commitBody - a.commitBody) / rounds;
      }
    }
    // Every volunteer but the aggregator needs each COMMIT once.
    if (Number.isFinite(aggCommitBody)) needed += aggCommitBody * (config.peers - 1);
    const m: SwarmMeasurement = {
      config,
      runId,
      rounds: summary.committedRounds,
      windowRounds,
      msPerRound,
      wirePerPeerPerRound: wirePeers > 0 ? wireSum / wirePeers : NaN,
      aggregatorUploadPerRound: aggUpload,
      aggregatorCopies: aggUpload / aggCommitBody,
      uplinkStreamBytes: uplinkStream,
      uplinkBodyBytes: uplinkBody,
      swarmWireBytes: swarmWire,
      neededPayloadBytes: needed,
      elections: summary.elections,
      consistent: summary.consistent,
      wallSeconds: (performance.now() - started) / 1000,
    };
    log(
      `${config.peers} peers, d=${config.d}, ${config.device}/${config.server ?? 'identity'}: ${summary.committedRounds} rounds (window ${windowRounds}), ` +
        `${msPerRound.toFixed(0)} ms/round, ${(m.wirePerPeerPerRound / 1e6).toFixed(2)} MB wire/peer/round, aggregator ${(aggUpload / 1e6).toFixed(2)} MB/round ` +
        `(${m.aggregatorCopies.toFixed(2)} copies), uplink wire/payload ${(uplinkStream / uplinkBody).toFixed(4)}, swarm wire/payload ${(swarmWire / needed).toFixed(3)}, ` +
        `elections ${summary.elections}, ${m.wallSeconds.toFixed(0)} s`,
    );
    if (!process.env.MASHA_KEEP_BENCH) rmSync(dir, { recursive: true, force: true });
    else log(`files kept in ${dir}`);
    return m;
  } finally {
    await group.stopAll(2_000);
    process.off('exit', onExit);
  }
}

function row(name: string, value: number, unit: string, baseline: number | null = null, baselineName: string | null = null): BenchResult {
  return { name, value, unit, baseline, baselineName, ratio: baseline !== null && baseline !== 0 ? value / baseline : null };
}

export interface SwarmSuiteOptions {
  readonly d?: number;
  readonly peers?: number;
  readonly scaling?: readonly number[];
  readonly include?: (name: string) => boolean;
}

/**
 * The rows of the swarm benchmark (see the module comment):
 * - identity vs RandK 1%, both ways (device and server compressor), 8 peers: ms per round, wire
 *   bytes per peer per round, swarm wire over the payload a round needs;
 * - the aggregator's upload per round with 4, 8 and 16 peers for RandK 1% uplinks and a dense
 *   (identity) broadcast, and the copies of each broadcast it pushed (a star would push N − 1).
 */
export async function swarmBenchmarks(options: SwarmSuiteOptions = {}): Promise<BenchResult[]> {
  const d = options.d ?? 1_000_000;
  const peers = options.peers ?? 8;
  const scaling = options.scaling ?? [4, 8, 16];
  const include = options.include ?? (() => true);
  const dText = d === 1_000_000 ? '1e6' : String(d);
  const results: BenchResult[] = [];
  const push = (r: BenchResult): void => {
    if (include(r.name)) results.push(r);
  };
  const tag = (n: number, dev: string): string => `swarm/${n} peers/d=${dText}/${dev}`;
  const wants = (prefix: string): boolean => include(`${prefix}: ms per round`) || include(`${prefix}: wire bytes per peer per round`) || include(`${prefix}: swarm wire bytes over needed payload per round`);

  const pair: [string, SwarmMeasurement | null][] = [];
  const wantRandk = wants(tag(peers, 'randk:0.01 both ways'));
  for (const dev of ['identity', 'randk:0.01']) {
    const label = `${dev} both ways`;
    // Identity is the baseline of the RandK rows: measured whenever either is wanted.
    const wanted = dev === 'identity' ? wants(tag(peers, label)) || wantRandk : wantRandk;
    pair.push([label, wanted ? await measureSwarm({ peers, d, device: dev, server: dev, iterations: dev === 'identity' ? 4 : 8 }) : null]);
  }
  const identity = pair[0][1];
  for (const [label, m] of pair) {
    if (m === null) continue;
    const base = label.startsWith('identity') || identity === null ? null : identity;
    push(row(`${tag(peers, label)}: ms per round`, m.msPerRound, 'ms', base?.msPerRound ?? null, base ? 'identity both ways' : null));
    push(row(`${tag(peers, label)}: wire bytes per peer per round`, m.wirePerPeerPerRound, 'bytes', base?.wirePerPeerPerRound ?? null, base ? 'identity both ways' : null));
    push(row(`${tag(peers, label)}: swarm wire bytes over needed payload per round`, m.swarmWireBytes, 'bytes', m.neededPayloadBytes, 'uplink payload + one COMMIT per receiving volunteer'));
  }
  // Aggregator upload against the swarm size: light uplinks (RandK 1%), dense broadcast (identity).
  const label = 'randk:0.01 up, identity down';
  const uploadName = (n: number): string => `${tag(n, label)}: aggregator upload per round`;
  if (!scaling.some((n) => include(uploadName(n)) || include(`${tag(n, label)}: aggregator copies of each broadcast`))) return results;
  const byPeers = new Map<number, SwarmMeasurement>();
  for (const n of scaling) byPeers.set(n, await measureSwarm({ peers: n, d, device: 'randk:0.01', server: 'identity', iterations: 8 }));
  const smallest = byPeers.get(Math.min(...scaling)) as SwarmMeasurement;
  for (const n of scaling) {
    const m = byPeers.get(n) as SwarmMeasurement;
    const first = n === smallest.config.peers;
    push(row(uploadName(n), m.aggregatorUploadPerRound, 'bytes', first ? null : smallest.aggregatorUploadPerRound, first ? null : `${smallest.config.peers} peers`));
    push(row(`${tag(n, label)}: aggregator copies of each broadcast`, m.aggregatorCopies, 'copies', n - 1, 'peers − 1 (a star)'));
  }
  return results;
}

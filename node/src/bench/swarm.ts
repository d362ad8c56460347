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
 * - the aggregator's upload per round (transport-level bytes sent) over the COMMIT body: the copies
 *   of each broadcast it pushed (gossipsub pushes each one to its mesh, ≤ D peers; the relay trees
 *   send about one copy, split into stripes, whatever N).
 *
 * Every configuration runs twice in the same invocation: with the relay trees (the default) and
 * with the manifest's `network.broadcast.tree: false` (large broadcasts over gossip, as before the
 * trees): gossip is each tree row's baseline.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest, runIdOf } from '@masha/protocol';
import { encodeStatus } from '@masha/protocol/swarm';
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
  /** How large broadcasts travel: down the relay trees (default) or over gossip (`tree: false`). */
  readonly broadcast?: BroadcastMode;
}

export type BroadcastMode = 'trees' | 'gossip';

export interface SwarmMeasurement {
  readonly config: SwarmBenchConfig;
  readonly runId: string;
  readonly rounds: number;
  readonly windowRounds: number;
  /** Mean time per round over the window (rounds ≥ 2): first to last commit. */
  readonly msPerRound: number;
  /** Median of the window's commit-to-commit intervals. */
  readonly medianMsPerRound: number;
  /** The commit-to-commit intervals of the window (ms). */
  readonly intervalsMs: readonly number[];
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
  /** COMMITs sent (the aggregator's). */
  readonly commitsSent: number;
  /** Stream bytes sent by path: gossip (every topic), the tree channel. */
  readonly gossipStream: number;
  readonly treeStream: number;
  readonly isAggregator: boolean;
  /** When the monitor received it (ms). */
  readonly at: number;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function log(text: string): void {
  process.stderr.write(`bench swarm: ${text}\n`);
}

/**
 * A volunteer's two reports that bound its part of the window: its first report at or after `start`
 * (the launcher's commit of round 2) and its first report of round `lastRound` or later (the one it
 * sends on finishing, at the last commit). Null when they are less than MIN_SPAN_MS apart.
 *
 * Real reports, not counters interpolated at the window's ends: volunteers report every few
 * seconds once steady (STATUS_STEADY_MS), and interpolating across a report gap that straddles
 * the start mixes in the bytes of the run's first, dense rounds.
 */
function windowSamples(samples: readonly Sample[], start: number, lastRound: number): [Sample, Sample] | null {
  const a = samples.find((s) => s.at >= start);
  const b = samples.find((s) => s.round >= lastRound);
  if (a === undefined || b === undefined || b.at - a.at < MIN_SPAN_MS) return null;
  return [a, b];
}

/** Shortest span of a volunteer's window reports (ms). */
const MIN_SPAN_MS = 1_000;

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
        ...(config.broadcast === 'gossip' ? { broadcast: { tree: false } } : {}),
      },
      seed: 1,
    });
    // MASHA_GOSSIP_TRACE=<dir>: each process tallies its gossipsub RPCs (net/gossip-trace.ts) into
    // a subfolder per configuration and mode.
    const traceRoot = process.env.MASHA_GOSSIP_TRACE;
    const env: Record<string, string> = {};
    if (traceRoot !== undefined && traceRoot !== '') {
      env.MASHA_GOSSIP_TRACE = join(traceRoot, `${config.peers}-${config.device.replace(':', '')}-${config.broadcast ?? 'trees'}`);
      mkdirSync(env.MASHA_GOSSIP_TRACE, { recursive: true });
    }
    const keyPath = join(dir, 'launcher.key');
    const keyed = keyedManifest(manifest, loadOrCreateLauncherKey(keyPath));
    const runId = runIdOf(keyed);
    const manifestPath = join(dir, 'run.json');
    writeFileSync(manifestPath, JSON.stringify(keyed));
    const relay = group.spawnMasha('relay', ['relay', '--json', '--ephemeral'], { env, stdout: 'pipe', stderr: { file: join(dir, 'relay.log') } });
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
    let statusReports = 0;
    let statusBytes = 0;
    board.onStatus((e) => {
      statusReports++;
      statusBytes += encodeStatus(e.status).length;
      const c = e.status.counters;
      let list = samples.get(e.peer);
      if (list === undefined) samples.set(e.peer, (list = []));
      list.push({
        round: e.status.round,
        wireSent: e.status.bytes.wireSent,
        uplinkStream: c['net-uplink-stream-bytes'] ?? 0,
        uplinkBody: c['net-uplink-body-bytes'] ?? 0,
        commitBody: c['net-commit-body-bytes'] ?? 0,
        commitsSent: c['net-commits-sent'] ?? 0,
        gossipStream: c['net-gossip-stream-bytes'] ?? 0,
        treeStream: c['net-tree-stream-bytes'] ?? 0,
        isAggregator: e.status.isAggregator,
        at: Date.now(),
      });
    });
    for (let i = 0; i < config.peers; i++) {
      group.spawnMasha(`v${i + 1}`, ['join', '--relay', addr, '--run', runId, '--out', join(dir, 'runs'), '--wait', '300'], {
        env,
        stdout: 'ignore',
        stderr: { file: join(dir, `v${i + 1}.log`) },
      });
    }
    const launcher = group.spawnMasha(
      'launcher',
      ['--progress', 'off', 'launch', '--manifest', manifestPath, '--key', keyPath, '--relay', addr, '--out', join(dir, 'runs'), '--json', '--timeout', '550'],
      {
        env,
        stdout: 'pipe',
        stderr: { file: join(dir, 'launcher.log') },
      },
    );
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
    const intervalsMs = commits.slice(1).map((c, i) => 1000 * (c.t - commits[i].t));

    let wireSum = 0;
    let wirePeers = 0;
    let windowRounds = 0;
    let aggUpload = NaN;
    let aggCommitBody = NaN;
    let uplinkStream = 0;
    // Per round (window), all volunteers: stream bytes by path.
    let gossipWire = 0;
    let treeWire = 0;
    let uplinkWire = 0;
    let uplinkBody = 0;
    let swarmWire = 0;
    let needed = 0;
    let windowMs = 0;
    // The window: from the launcher's commit of round 2 (or the first after it) to its last commit.
    const first = commits[0];
    const last = commits[commits.length - 1];
    const rounds = last !== undefined && first !== undefined ? (last.round ?? 0) - (first.round ?? 0) : 0;
    for (const list of rounds > 0 ? samples.values() : []) {
      const span = windowSamples(list, 1000 * first.t, last.round ?? 0);
      if (span === null) continue;
      const [a, b] = span;
      // Bytes per round = bytes per ms between the two reports × the window's mean ms per round.
      const perMs = msPerRound / (b.at - a.at);
      windowMs = Math.max(windowMs, b.at - a.at);
      windowRounds = Math.max(windowRounds, rounds);
      const perRound = (b.wireSent - a.wireSent) * perMs;
      wireSum += perRound;
      wirePeers++;
      swarmWire += perRound;
      // Whole-run totals for the uplink ratio: a sample can catch a message queued (body counted)
      // but not yet on the wire, which would skew a windowed difference by up to one message.
      uplinkStream += b.uplinkStream;
      gossipWire += (b.gossipStream - a.gossipStream) * perMs;
      treeWire += (b.treeStream - a.treeStream) * perMs;
      uplinkWire += (b.uplinkStream - a.uplinkStream) * perMs;
      uplinkBody += b.uplinkBody;
      needed += (b.uplinkBody - a.uplinkBody) * perMs;
      if (b.commitBody > a.commitBody && a.isAggregator && b.isAggregator) {
        aggUpload = perRound;
        // One COMMIT per round: the mean body of the COMMITs it sent between its two reports (a
        // rate would count a COMMIT whose body is counted but not yet sent at a report boundary
        // as a whole extra round's worth, up to 1 in 6 of an identity window).
        aggCommitBody = b.commitsSent > a.commitsSent ? (b.commitBody - a.commitBody) / (b.commitsSent - a.commitsSent) : NaN;
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
      medianMsPerRound: median(intervalsMs),
      intervalsMs,
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
      `${config.peers} peers, d=${config.d}, ${config.device}/${config.server ?? 'identity'}, ${config.broadcast ?? 'trees'}: ${summary.committedRounds} rounds (window ${windowRounds} rounds, ${(windowMs / 1000).toFixed(1)} s), ` +
        `${m.medianMsPerRound.toFixed(0)} ms/round median (mean ${msPerRound.toFixed(0)}; ${intervalsMs.map((x) => x.toFixed(0)).join(' ')}), ${(m.wirePerPeerPerRound / 1e6).toFixed(2)} MB wire/peer/round, aggregator ${(aggUpload / 1e6).toFixed(2)} MB/round ` +
        `(${m.aggregatorCopies.toFixed(2)} copies), uplink wire/payload ${(uplinkStream / uplinkBody).toFixed(4)}, swarm wire/payload ${(swarmWire / needed).toFixed(3)} ` +
        `(per round: needed ${(needed / 1e3).toFixed(0)} kB, wire ${(swarmWire / 1e3).toFixed(0)} kB = uplink streams ${(uplinkWire / 1e3).toFixed(0)} + tree ${(treeWire / 1e3).toFixed(0)} ` +
        `+ gossip ${(gossipWire / 1e3).toFixed(0)} + the rest ${((swarmWire - uplinkWire - treeWire - gossipWire) / 1e3).toFixed(0)}; status reports of ${(statusBytes / Math.max(1, statusReports)).toFixed(0)} B, ${statusReports} heard), ` +
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

export interface SwarmSuiteOptions {
  readonly d?: number;
  /** Swarm sizes of the time and traffic rows (default 8 and 16; MASHA_BENCH_PEERS gives one). */
  readonly peers?: number;
  /** Swarm sizes of the aggregator-copies rows (default 4, 8, 16). */
  readonly scaling?: readonly number[];
  readonly include?: (name: string) => boolean;
}

const GOSSIP = 'gossip (network.broadcast.tree: false), same run';

/**
 * RandK runs: rounds of 0.2–0.7 s, and volunteers report every STATUS_STEADY_MS (5 s) once steady;
 * the window (round 2 to the last commit) must span several reports of each volunteer, whose
 * counters are interpolated between reports at its ends.
 */
const RANDK_ITERATIONS = 40;

/**
 * The rows of the swarm benchmark (see the module comment), each the relay trees' figure with
 * gossip's, measured in the same invocation, as its baseline:
 * - identity and RandK 1 % both ways at 8 and 16 peers: median ms per round, wire bytes per peer
 *   per round, and the swarm's wire bytes per round over the minimum a round needs (Σ uplink
 *   payloads + (N − 1) × the COMMIT payload);
 * - identity both ways at 4, 8 and 16 peers: the aggregator's upload per round and the payload
 *   copies of each broadcast it uploaded (a star would upload N − 1).
 * A configuration is run only when one of its rows is wanted, and at most once per mode.
 */
export async function swarmBenchmarks(options: SwarmSuiteOptions = {}): Promise<BenchResult[]> {
  const d = options.d ?? 1_000_000;
  const sizes = options.peers !== undefined ? [options.peers] : [8, 16];
  const scaling = options.scaling ?? [4, 8, 16];
  const include = options.include ?? (() => true);
  const dText = d === 1_000_000 ? '1e6' : String(d);
  const results: BenchResult[] = [];
  const tag = (n: number, dev: string): string => `swarm/${n} peers/d=${dText}/${dev} both ways/trees`;
  const runs = new Map<string, SwarmMeasurement>();
  const measure = async (n: number, dev: string, mode: BroadcastMode): Promise<SwarmMeasurement> => {
    const key = `${n} ${dev} ${mode}`;
    let m = runs.get(key);
    if (m === undefined) {
      m = await measureSwarm({ peers: n, d, device: dev, server: dev, iterations: dev === 'identity' ? 6 : RANDK_ITERATIONS, broadcast: mode });
      runs.set(key, m);
    }
    return m;
  };
  /** Rows of one configuration: the trees' value against gossip's. */
  const rows = async (n: number, dev: string, specs: readonly [string, string, (m: SwarmMeasurement) => number][]): Promise<void> => {
    const wanted = specs.filter(([suffix]) => include(`${tag(n, dev)}: ${suffix}`));
    if (wanted.length === 0) return;
    const trees = await measure(n, dev, 'trees');
    const gossip = await measure(n, dev, 'gossip');
    for (const [suffix, unit, f] of wanted) results.push(row(`${tag(n, dev)}: ${suffix}`, f(trees), unit, f(gossip), GOSSIP));
  };
  for (const n of sizes) {
    for (const dev of ['identity', 'randk:0.01']) {
      await rows(n, dev, [
        ['ms per round', 'ms', (m) => m.medianMsPerRound],
        ['wire bytes per peer per round', 'bytes', (m) => m.wirePerPeerPerRound],
        ['swarm wire bytes over the minimum per round', 'x', (m) => m.swarmWireBytes / m.neededPayloadBytes],
      ]);
    }
  }
  for (const n of scaling) {
    await rows(n, 'identity', [
      ['aggregator upload per round', 'bytes', (m) => m.aggregatorUploadPerRound],
      ['aggregator payload copies per broadcast', 'copies', (m) => m.aggregatorCopies],
    ]);
  }
  return results;
}

function row(name: string, value: number, unit: string, baseline: number, baselineName: string): BenchResult {
  return { name, value, unit, baseline, baselineName, ratio: baseline !== 0 ? value / baseline : null };
}

/**
 * `masha join --relay ADDR [--run ID]`: volunteer for a run (the given one, or the first open run
 * announced), work on the shards the aggregator assigns until the run is over. Human status lines
 * go to stderr; `--json` prints one JSON object per line on stdout instead
 * (`{"event":"connected"|"run"|"status"|"exit", …}`), which scripts and tests read.
 */
import type { Command } from 'commander';
import { joinRun } from '../../launcher/volunteer.js';
import type { PeerStatus } from '@masha/protocol/swarm';
import { DEFAULT_BUILD_LIMITS } from '@masha/protocol';
import { collect, EXIT, oneOf, parseMbps, parseMebibytes, parseRound, parseSeconds, UsageError } from '../errors.js';
import { DEVICE_FLAGS, type DeviceFlag } from '../../model/device.js';
import { deviceWords } from '../../model/swarm-device.js';
import { formatBytes, formatMetric, interruptSignal, shortId, type CliContext } from '../io.js';

export interface JoinFlags {
  relay?: string[];
  run?: string;
  out?: string;
  logDir?: string;
  wait: number;
  linger?: number;
  connectTimeout: number;
  afterRound?: number;
  uploadMbps?: number;
  leaf?: boolean;
  token?: string;
  device: DeviceFlag;
  maxProblemMemory?: number;
  maxBuildSeconds?: number;
  json?: boolean;
}

export function configureJoin(cmd: Command): void {
  cmd
    .description('join the swarm as a volunteer and work on the shards you are assigned until the run is over')
    .option('--relay <multiaddr>', 'relay address with /p2p/<id> (repeatable)', collect)
    .option('--run <id>', 'join this run (64 hex digits); default: the first open run announced')
    .option('--out <dir>', "write the event log to <dir>/<runId>/<start time>/peers/<peerId>.jsonl (the launcher's start directory)")
    .option('--log-dir <dir>', 'write the event log to <dir>/<peerId>.jsonl instead')
    .option('--wait <seconds>', 'how long to wait for the run to be announced', parseSeconds, 60)
    .option('--linger <seconds>', 'stay this long after the run is done, serving state to stragglers (default: two leases)', parseSeconds)
    .option('--connect-timeout <seconds>', 'how long to wait for a relay', parseSeconds, 10)
    .option('--token <token>', "join token from the run's launcher (`masha token`), for runs that admit only token holders")
    .option('--after-round <n>', 'start working only once the run has reached round n (staged demos, tests of late joiners)', parseRound)
    .option(
      '--upload-mbps <rate>',
      "this machine's upload rate in Mbit/s: faster peers relay more of the aggregator's broadcasts (default: unknown, counted as the swarm's median)",
      parseMbps,
    )
    .option('--leaf', 'never relay broadcasts to other peers (a metered or slow link): receive them only')
    .option(
      '--max-problem-memory <MiB>',
      `refuse a run whose problem needs more memory than this (estimated before building; default ${DEFAULT_BUILD_LIMITS.maxBytes / 2 ** 20})`,
      parseMebibytes,
    )
    .option(
      '--max-build-seconds <s>',
      `refuse a run whose problem takes longer than this to build (estimated; default ${DEFAULT_BUILD_LIMITS.maxSeconds})`,
      parseSeconds,
    )
    .option(
      '--device <name>',
      'where model runs compute: auto (a GPU when onnxruntime-node can use one — CUDA, then WebGPU — checked against the CPU on a probe graph; else the CPU) | cpu | gpu (fail unless a GPU passes the probe)',
      oneOf<DeviceFlag>(DEVICE_FLAGS),
      'auto',
    )
    .option('--json', 'print JSON lines (connected, run, device, status every second, exit) on stdout')
    .addHelpText('after', '\nExit codes: 0 the run is over, 2 bad flags or run id, 3 relay unreachable or run not announced, 130 interrupted.');
}

function deviceLabel(d: NonNullable<PeerStatus['device']>): string {
  return d.gpu ? `GPU (${d.provider})` : d.provider === 'wasm' ? 'CPU (wasm)' : 'CPU';
}

function line(s: PeerStatus): string {
  const role = s.isAggregator ? 'aggregator' : `agg ${shortId(s.aggregator)}`;
  return `round ${s.round} · it ${s.iteration} · metric ${formatMetric(s.relDist)} · epoch ${s.epoch} ${role}${s.device !== undefined ? ` · ${deviceLabel(s.device)}` : ''} · shards ${s.heldCount} · up ${formatBytes(s.bytes.direct + s.bytes.broadcast)} down ${formatBytes(s.bytes.received)}${s.done !== null ? ` · done (${s.done})` : ''}`;
}

export async function runJoin(flags: JoinFlags, ctx: CliContext): Promise<number> {
  const relays = flags.relay ?? [];
  if (relays.length === 0) throw new UsageError('--relay', 'at least one relay address is required (see `masha relay`)');
  const { signal, dispose } = interruptSignal();
  const emit = (event: string, fields: Record<string, unknown>): void => {
    if (flags.json) ctx.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
  };
  const say = (text: string): void => {
    if (!flags.json) ctx.stderr.write(`masha join: ${text}\n`);
  };
  let lastLine = 0;
  try {
    const result = await joinRun({
      relays,
      ...(flags.run !== undefined ? { runId: flags.run } : {}),
      outDir: flags.out ?? null,
      logDir: flags.logDir ?? null,
      waitMs: flags.wait * 1000,
      connectTimeoutMs: flags.connectTimeout * 1000,
      ...(flags.linger !== undefined ? { lingerMs: flags.linger * 1000 } : {}),
      ...(flags.afterRound !== undefined ? { afterRound: flags.afterRound } : {}),
      capacity: { upKbps: (flags.uploadMbps ?? 0) * 1000, leaf: flags.leaf === true },
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      device: flags.device,
      buildLimits: {
        maxBytes: flags.maxProblemMemory !== undefined ? flags.maxProblemMemory * 2 ** 20 : DEFAULT_BUILD_LIMITS.maxBytes,
        maxSeconds: flags.maxBuildSeconds ?? DEFAULT_BUILD_LIMITS.maxSeconds,
      },
      signal,
      onConnected: ({ peerId, addrs }) => {
        emit('connected', { peerId, pid: process.pid, addrs });
        say(`peer ${peerId} connected; waiting for ${flags.run !== undefined ? `run ${flags.run}` : 'a run'}…`);
      },
      onRun: ({ runId, manifest, logPath }) => {
        emit('run', { runId, method: manifest.method.name, compressor: manifest.compressors.device, log: logPath });
        say(`joined run ${runId} (${manifest.method.name} + ${manifest.compressors.device})${logPath !== null ? `; log ${logPath}` : ''}`);
      },
      onDevice: (d) => {
        emit('device', { requested: d.requested, provider: d.provider, gpu: d.gpu, reason: d.reason, probes: d.probes });
        say(`computing on ${d.reason}`);
      },
      onStatus: (s) => {
        emit('status', { status: s });
        const now = Date.now();
        if (now - lastLine >= 5000 || s.done !== null) {
          lastLine = now;
          say(line(s));
        }
      },
    });
    emit('exit', { runId: result.runId, peerId: result.peerId, reason: result.reason, status: result.status, device: result.device.provider });
    say(`left run ${result.runId}: ${result.reason} (computed on ${deviceWords(result.device)})`);
    return result.reason === 'interrupted' ? EXIT.interrupted : EXIT.ok;
  } finally {
    dispose();
  }
}

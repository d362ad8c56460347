/**
 * `masha launch --manifest RUN.json --relay ADDR`: validate and publish a run, follow it with a
 * live progress bar (or status lines) on stderr until it ends, write runs/<runId>/summary.json,
 * events.jsonl and run.svg, and exit 0 when the run reached its target (1 otherwise).
 */
import type { Command } from 'commander';
import { launchRun, type LaunchProgress } from '../../launcher/launch.js';
import type { LaunchSummary } from '../../launcher/summary.js';
import { DEFAULT_BUILD_LIMITS } from '@masha/protocol';
import { collect, EXIT, parseMebibytes, parseRound, parseSeconds, UsageError } from '../errors.js';
import { formatBytes, formatMetric, interruptSignal, shortId, type CliContext } from '../io.js';
import { loadManifestFile } from '../manifest-file.js';
import { startProgress, type Progress } from '../progress.js';

export interface LaunchFlags {
  manifest?: string;
  resume?: string;
  checkpointEvery?: number;
  relay?: string[];
  out: string;
  dir?: string;
  timeout?: number;
  connectTimeout: number;
  maxProblemMemory?: number;
  maxBuildSeconds?: number;
  json?: boolean;
  key?: string;
}

export function configureLaunch(cmd: Command): void {
  cmd
    .description('validate and publish a run, follow it until it ends, write runs/<runId>/<start time>/{summary.json,events.jsonl,run.svg}')
    .option('--manifest <file>', 'run manifest (JSON; `masha-sim manifest init` writes one)')
    .option('--resume <dir>', 'continue the run of this start directory (runs/<runId>/<start time>) after a crash, from its checkpoint and commit log')
    .option('--checkpoint-every <rounds>', 'checkpoint the replica every this many committed rounds (and at the end)', parseRound, 50)
    .option('--relay <multiaddr>', 'relay address with /p2p/<id> (repeatable)', collect)
    .option('--out <dir>', 'runs directory: files go to <dir>/<runId>/<start time>/, <dir>/<runId>/latest points at the newest', 'runs')
    .option('--dir <dir>', 'write the files into exactly this directory instead')
    .option('--timeout <seconds>', 'give up after this long (the summary is still written)', parseSeconds)
    .option('--connect-timeout <seconds>', 'how long to wait for a relay', parseSeconds, 10)
    .option(
      '--max-problem-memory <MiB>',
      `refuse a problem that needs more memory than this (estimated before building; default ${DEFAULT_BUILD_LIMITS.maxBytes / 2 ** 20})`,
      parseMebibytes,
    )
    .option(
      '--max-build-seconds <s>',
      `refuse a problem that takes longer than this to build (estimated; default ${DEFAULT_BUILD_LIMITS.maxSeconds})`,
      parseSeconds,
    )
    .option('--json', 'print the summary as JSON on stdout (progress stays on stderr)')
    .option('--key <file>', "the launcher's key file: it signs the run's announcements (created on first use)", '.masha/launcher.key')
    .addHelpText(
      'after',
      '\nExit codes: 0 target reached, 1 run ended without reaching it, 2 bad manifest or flags, 3 relay unreachable, 130 interrupted.' +
        '\n\nExample:\n  masha-sim manifest init --problem bilinear --method masha1 --compressor natural --target 1e-6 > run.json\n  masha launch --manifest run.json --relay /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…',
    );
}

/** The bar counts per-mille of the work (iterations, or log-distance to the target: the further). */
const PROGRESS_STEPS = 1000;

export function progressUnits(value: number, total: number): string {
  return `${((100 * value) / Math.max(1, total)).toFixed(1)}% done`;
}

function detail(p: LaunchProgress): string {
  const target = p.target !== null ? ` → ${formatMetric(p.target)}` : '';
  return `it ${p.iteration} · round ${p.round} · metric ${formatMetric(p.metric)}${target} · ${p.peers} volunteer(s) · epoch ${p.epoch} agg ${shortId(p.aggregator)}`;
}

export function humanSummary(s: LaunchSummary, dir: string): string {
  const metric = s.finalRelDist !== null ? `relative distance ${formatMetric(s.finalRelDist)}` : `‖F‖² ${formatMetric(s.finalOpNormSq)}`;
  const lines = [
    `run ${s.runId}: ${s.reached ? 'target reached' : 'target NOT reached'} (${s.stop}), ${metric}${s.target !== null ? ` (target ${formatMetric(s.target)})` : ''}`,
    `  rounds: ${s.committedRounds} committed, ${s.abortedRounds} aborted/retried; iterations ${s.iterations}; elections ${s.elections}`,
    `  bytes: uplink ${formatBytes(s.uplinkBytes)}, downlink ${formatBytes(s.downlinkBytes)} in Masha frames (each message once); ${formatBytes(s.wireBytes)} on the wire (all connection bytes sent)`,
    `  volunteers: ${s.peersSeen ?? s.peersAtEnd} seen, ${s.peersAtEnd} at the end; state ${s.consistent ? 'consistent' : 'INCONSISTENT'}; late ${s.lateFrames}, stale ${s.staleMessages}, rejected ${s.rejectedFrames}`,
    `  ${s.wallSeconds.toFixed(1)} s (wallSeconds); files in ${dir}/ (summary.json, events.jsonl, run.svg)`,
  ];
  return `${lines.join('\n')}\n`;
}

export async function runLaunch(flags: LaunchFlags, ctx: CliContext): Promise<number> {
  const relays = flags.relay ?? [];
  if (relays.length === 0) throw new UsageError('--relay', 'at least one relay address is required (see `masha relay`)');
  if (flags.resume !== undefined && flags.manifest !== undefined)
    throw new UsageError('--resume', 'takes the manifest from the directory it resumes: drop --manifest');
  if (flags.resume === undefined && flags.manifest === undefined) throw new UsageError('--manifest', 'a run manifest is required (or --resume DIR)');
  const { manifest, files } = flags.manifest !== undefined ? loadManifestFile(flags.manifest) : { manifest: undefined, files: {} };
  const { signal, dispose } = interruptSignal();
  let bar: Progress | null = null;
  const say = (text: string): void => {
    if (bar === null || ctx.progress === 'off') ctx.stderr.write(`masha launch: ${text}\n`);
  };
  try {
    const result = await launchRun({
      ...(manifest !== undefined ? { manifest, files } : {}),
      ...(flags.resume !== undefined ? { resumeDir: flags.resume } : {}),
      ...(flags.checkpointEvery !== undefined ? { checkpointEvery: Math.max(1, flags.checkpointEvery) } : {}),
      relays,
      outDir: flags.out,
      ...(flags.dir !== undefined ? { runDir: flags.dir } : {}),
      connectTimeoutMs: flags.connectTimeout * 1000,
      buildLimits: {
        maxBytes: flags.maxProblemMemory !== undefined ? flags.maxProblemMemory * 2 ** 20 : DEFAULT_BUILD_LIMITS.maxBytes,
        maxSeconds: flags.maxBuildSeconds ?? DEFAULT_BUILD_LIMITS.maxSeconds,
      },
      ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
      signal,
      ...(flags.key !== undefined ? { keyFile: flags.key } : {}),
      onLaunched: ({ runId, peerId, key }) => {
        if (key.created)
          ctx.stderr.write(
            `masha launch: created the launcher key ${key.path} (keep it: it signs this run's announcements; runs launched with it are yours)\n`,
          );
        ctx.stderr.write(`masha launch: run ${runId} published by ${peerId}, signed by launcher key ${key.publicKey.slice(0, 16)}…\n`);
        ctx.stderr.write(`masha launch: volunteers join with: masha join --relay ${relays[0]} --run ${runId}\n`);
        bar = startProgress(`run ${runId.slice(0, 8)}`, PROGRESS_STEPS, {
          stream: ctx.stderr,
          mode: ctx.progress,
          intervalMs: 2000,
          units: progressUnits,
        });
      },
      onProgress: (p) => bar?.update(Math.round(PROGRESS_STEPS * p.fraction), detail(p)),
      onEvent: (text) => {
        if (bar === null || !ctx.stderr.isTTY) say(text);
      },
    });
    (bar as Progress | null)?.stop(result.summary.reached ? 'done' : result.summary.stop);
    if (flags.json) ctx.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
    else ctx.stdout.write(humanSummary(result.summary, result.dir));
    if (result.summary.stop === 'interrupted') return EXIT.interrupted;
    return result.summary.reached ? EXIT.ok : EXIT.failed;
  } finally {
    (bar as Progress | null)?.stop();
    dispose();
  }
}

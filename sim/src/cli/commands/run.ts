import { resolve } from 'node:path';
import { formatNumber } from '../../io/table.js';
import { startProgress } from '../../io/progress.js';
import { DEFAULT_LINK, type LinkProfile } from '../../des/link-model.js';
import { Option } from 'commander';
import { EVENT_LEVELS, type EventLevel, type LogSizeEstimate } from '../../run/event-level.js';
import { runToDirectory } from '../../run/run-files.js';
import { defineCommand } from '../command.js';
import { parseNonNegativeNumber, parsePositiveInt, parsePositiveNumber, parseSeed, parseUnitInterval } from '../options.js';

interface RunOptions {
  manifest: string;
  trace?: string;
  out: string;
  seed?: number;
  computeMs: number;
  uplinkMbps: number;
  downlinkMbps: number;
  latencyMs: number;
  jitterMs: number;
  loss: number;
  fanout: number;
  maxSimSeconds?: number;
  logMetrics?: boolean;
  events: EventLevel;
  json?: boolean;
}

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${(n / 1e6).toFixed(0)} MB`;
}

/** `masha-sim run`: one simulated swarm run of a manifest through a churn trace. */
export const command = defineCommand<RunOptions>({
  path: ['run'],
  description: 'simulate a run: the real engines and frame codec in virtual time, through a churn trace',
  configure(cmd) {
    cmd
      .requiredOption('--manifest <RUN.json>', 'run manifest (see `masha-sim manifest init`)')
      .option('--trace <TRACE.jsonl>', 'churn trace (default: the M peers of the manifest, present throughout)')
      .requiredOption('--out <DIR>', 'output directory: events.jsonl, summary.json, run.svg')
      .option('--seed <s>', "network seed: jitter, loss, relay layouts (default: the manifest's seed)", parseSeed)
      .option('--compute-ms <ms>', 'virtual ms per operator evaluation', parseNonNegativeNumber, DEFAULT_LINK.computeMs)
      .option('--uplink-mbps <n>', 'uplink bandwidth of every peer', parsePositiveNumber, DEFAULT_LINK.uplinkMbps)
      .option('--downlink-mbps <n>', 'downlink bandwidth of every peer', parsePositiveNumber, DEFAULT_LINK.downlinkMbps)
      .option('--latency-ms <ms>', 'one-way access latency of every peer', parseNonNegativeNumber, DEFAULT_LINK.latencyMs)
      .option('--jitter-ms <ms>', 'extra uniform delay per frame per peer', parseNonNegativeNumber, DEFAULT_LINK.jitterMs)
      .option('--loss <p>', 'frame loss probability per access link, in [0, 1)', parseUnitInterval, DEFAULT_LINK.loss)
      .option('--fanout <D>', 'broadcast relay fan-out (gossip mesh degree)', parsePositiveInt, 6)
      .option('--max-sim-seconds <s>', 'stop after this much simulated time', parsePositiveNumber)
      .option('--log-metrics', 'also log every engine metric increment in events.jsonl')
      .addOption(
        new Option('--events <level>', 'events.jsonl: all (every frame and timer; GBs for 1,000 peers) or commits (commits, elections, membership)')
          .choices(EVENT_LEVELS)
          .default('all'),
      )
      .option('--json', 'print summary.json to stdout')
      .addHelpText(
        'after',
        [
          '',
          'Trace lines (JSON Lines, t in seconds, non-decreasing):',
          '  {"t":0,"event":"join","peer":"p0"}    initial peers join at t = 0 (none: p0 … p(M−1))',
          '  {"t":5,"event":"join","peer":"x","uplinkMbps":2,"latencyMs":80}   link fields override the defaults',
          '  {"t":9,"event":"leave","peer":"p3"}  {"t":9,"event":"crash","peer":"p4"}',
          '  {"t":12,"event":"slow","peer":"p1","factor":4}',
          '  {"t":20,"event":"partition","peer":"p2","group":"b"}  {"t":40,"event":"heal"}',
        ].join('\n'),
      );
  },
  async run(opts, ctx) {
    const link: LinkProfile = {
      computeMs: opts.computeMs,
      uplinkMbps: opts.uplinkMbps,
      downlinkMbps: opts.downlinkMbps,
      latencyMs: opts.latencyMs,
      jitterMs: opts.jitterMs,
      loss: opts.loss,
    };
    let progress: ReturnType<typeof startProgress> | null = null;
    const { summary, files } = await runToDirectory({
      manifestPath: resolve(ctx.cwd, opts.manifest),
      ...(opts.trace !== undefined ? { tracePath: resolve(ctx.cwd, opts.trace) } : {}),
      outDir: resolve(ctx.cwd, opts.out),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      link,
      fanout: opts.fanout,
      logMetrics: opts.logMetrics === true,
      events: opts.events,
      ...(opts.events === 'all'
        ? {
            onLogSize: (e: LogSizeEstimate) => {
              // On its own line, even under a progress bar.
              ctx.stderr.write(
                `\nmasha-sim run: warning: events.jsonl is ${formatBytes(e.bytes)} after ${e.iteration} of ${e.maxIterations} iterations, ` +
                  `about ${formatBytes(e.estimatedBytes)} at the end; --events commits writes only commits, elections and membership\n`,
              );
            },
          }
        : {}),
      ...(opts.maxSimSeconds !== undefined ? { maxSimSeconds: opts.maxSimSeconds } : {}),
      onIteration: (info) => {
        progress ??= startProgress('run', info.maxIterations, { stream: ctx.stderr, mode: ctx.progress, unit: 'iterations' });
        const rd = info.peer.relDist();
        progress.update(info.iteration, `t=${info.simSeconds.toFixed(1)}s peers=${info.alive}${rd === null ? '' : ` rel. dist ${formatNumber(rd)}`}`);
      },
    });
    (progress as ReturnType<typeof startProgress> | null)?.stop(summary.reached ? 'target reached' : '');
    if (opts.json) ctx.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    ctx.stderr.write(
      `run ${summary.runId.slice(0, 12)}: ${summary.iterations} iterations, ${summary.committedRounds} rounds committed, ` +
        `${summary.abortedRounds} aborted, ${summary.elections} election(s), ${summary.simSeconds.toFixed(1)} simulated s in ` +
        `${summary.wallSeconds.toFixed(1)} s wall (wallSeconds); final rel. dist ${formatNumber(summary.finalRelDist)}${summary.reached ? ' (target reached)' : ''} → ${files.summary}\n`,
    );
    return 0;
  },
});

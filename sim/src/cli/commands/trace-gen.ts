import { resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { writeTextFile } from '../../io/json.js';
import { formatTrace, generateTrace, TRACE_KINDS, type TraceKind } from '../../trace/index.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { oneOf, parsePositiveInt, parsePositiveNumber, parseSeed } from '../options.js';

interface TraceGenOptions {
  kind: TraceKind;
  peers: number;
  duration: number;
  seed: number;
  out?: string;
  meanSession?: number;
  crashFraction?: number;
}

/** `masha-sim trace gen`: writes a generated churn trace as JSON Lines. */
export const command = defineCommand<TraceGenOptions>({
  path: ['trace', 'gen'],
  description: 'generate a churn trace (JSON Lines): Poisson churn, preemptible bursts or diurnal availability',
  configure(cmd) {
    cmd
      .addOption(new Option('--kind <kind>', 'poisson | preemptible | diurnal').argParser(oneOf(TRACE_KINDS)).makeOptionMandatory())
      .requiredOption('--peers <n>', 'initial number of peers (p0 … p(N−1) join at t = 0)', parsePositiveInt)
      .requiredOption('--duration <seconds>', 'length of the trace in seconds', parsePositiveNumber)
      .option('--seed <s>', 'seed of the generator', parseSeed, 1)
      .option('--out <file>', 'write the trace to this file (default: stdout)')
      .option('--mean-session <seconds>', 'mean session length (poisson, diurnal)', parsePositiveNumber)
      .option('--crash-fraction <p>', 'share of departures that are crashes, in [0, 1] (poisson, diurnal)', (v: string) => {
        const n = Number(v);
        if (v.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number in [0, 1].');
        return n;
      })
      .addHelpText(
        'after',
        '\nEvery line is {"t": seconds, "event": "join"|"leave"|"crash", "peer": id}; see `masha-sim run --help` for the full trace format.',
      );
  },
  async run(opts, ctx) {
    let events;
    try {
      events = generateTrace({
        kind: opts.kind,
        peers: opts.peers,
        duration: opts.duration,
        seed: opts.seed,
        ...(opts.meanSession !== undefined ? { meanSession: opts.meanSession } : {}),
        ...(opts.crashFraction !== undefined ? { crashFraction: opts.crashFraction } : {}),
      });
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError('trace gen', e.message);
      throw e;
    }
    const text = formatTrace(events);
    if (opts.out === undefined) {
      ctx.stdout.write(text);
    } else {
      const path = resolve(ctx.cwd, opts.out);
      await writeTextFile(path, text);
      const joins = events.filter((e) => e.event === 'join' && e.t > 0).length;
      const departures = events.filter((e) => e.event === 'leave' || e.event === 'crash').length;
      ctx.stderr.write(`trace gen: ${events.length} events (${opts.peers} initial peers, ${joins} joins, ${departures} departures) → ${path}\n`);
    }
    return 0;
  },
});

import { resolve, join } from 'node:path';
import { DEFAULT_COMPRESSOR, methodNames, parseCompressor, ValidationError } from '@masha/protocol';
import type { Compressor, MethodName } from '@masha/protocol';
import { writeCsvFile } from '../../io/csv.js';
import { toJson, writeJsonFile } from '../../io/json.js';
import { startProgress } from '../../io/progress.js';
import { formatNumber, formatTable } from '../../io/table.js';
import { CURVE_HEADER, curveRows, DEFAULT_TARGET, loadProblemFile, runMethod, summaryJson, theoryGamma } from '../../solve.js';
import type { RunSummary } from '../../solve.js';
import { defineCommand } from '../command.js';
import { forFlag, UsageError } from '../errors.js';
import { parsePositiveInt, parsePositiveNumber, parseSeed, parseUnitInterval } from '../options.js';

interface SolveOptions {
  problem: string;
  method: string;
  compressor?: string;
  iterations: number;
  out: string;
  gamma?: number;
  tau?: number;
  seed: number;
  target: number;
  stopAtTarget?: boolean;
  json?: boolean;
}

export function summaryTable(rows: readonly RunSummary[]): string {
  return formatTable(
    [
      { header: 'method' },
      { header: 'compressor' },
      { header: 'gamma', align: 'right' },
      { header: 'iterations', align: 'right' },
      { header: 'MB up', align: 'right' },
      { header: 'final rel. dist', align: 'right' },
      { header: 'reached', align: 'right' },
      { header: 'MB to target', align: 'right' },
    ],
    rows.map((s) => [
      s.method,
      s.compressor,
      formatNumber(s.gamma),
      String(s.iterations),
      formatNumber(s.megabytes),
      s.diverged ? 'diverged' : formatNumber(s.finalRelDist),
      s.reached ? 'yes' : 'no',
      formatNumber(s.megabytesToTarget),
    ]),
  );
}

/** The flag behind a method-configuration field named by a ValidationError. */
const FIELD_FLAGS: Readonly<Record<string, string>> = {
  device: '--compressor',
  server: '--compressor',
  gamma: '--gamma',
  tau: '--tau',
  seed: '--seed',
  method: '--method',
  problem: '--problem',
};

/** Runs `fn`, re-throwing a ValidationError about a configuration field as a UsageError naming its flag. */
function byField<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValidationError && Object.hasOwn(FIELD_FLAGS, e.field)) {
      throw new UsageError(FIELD_FLAGS[e.field], e.message);
    }
    throw e;
  }
}

/** `masha-sim solve`: one method on a user's problem file. */
export const command = defineCommand<SolveOptions>({
  path: ['solve'],
  description: 'run one method on a problem file; writes summary.json, z.json and curve.csv to --out',
  configure(cmd) {
    cmd
      .requiredOption(
        '--problem <file>',
        'problem file (JSON), e.g. {"kind": "bilinear", "d", "M", "lambda", "A", "a", "b"} or {"kind": "quadratic", "d", "n", "bands" | "A", "b"}',
      )
      .requiredOption('--method <name>', 'masha1 | masha2 | eg | qeg | qgda | ef-gda | marina (minimisation: quadratic files)')
      .option('--compressor <spec>', "device compressor, e.g. randk:0.1, topk:0.3, natural, dither:p=2,s=8, identity (default: the method's Figure 1 choice)")
      .requiredOption('--iterations <n>', 'iteration budget', parsePositiveInt)
      .requiredOption('--out <dir>', 'output directory')
      .option('--gamma <g>', "stepsize γ (default: the method's theory stepsize)", parsePositiveNumber)
      .option('--tau <t>', 'momentum τ in [0, 1) for masha1/masha2 (default 1 − β)', parseUnitInterval)
      .option('--seed <s>', 'run seed (shared and private randomness)', parseSeed, 0)
      .option('--target <t>', 'relative squared distance that counts as reached', parsePositiveNumber, DEFAULT_TARGET)
      .option('--stop-at-target', 'stop as soon as the target is reached')
      .option('--json', 'print the summary as JSON on stdout instead of a table')
      .addHelpText(
        'after',
        '\nOutputs: DIR/summary.json (method, compressor, gamma, iterations, megabytes, finalRelDist, reached,\n' +
          'megabytesToTarget, …), DIR/z.json (final iterate z = (x, y) as one array, x first) and\n' +
          'DIR/curve.csv (iteration, relDist, uplinkMB, downlinkMB). Megabytes are 10^6 bytes of device\n' +
          'uplink payload.',
      );
  },
  async run(opts, ctx) {
    const known: readonly string[] = methodNames();
    if (!known.includes(opts.method)) {
      throw new UsageError('--method', `unknown method '${opts.method}' (known: ${known.join(', ')})`);
    }
    const method = opts.method as MethodName;
    const spec = opts.compressor ?? (method === 'marina' ? 'permk' : DEFAULT_COMPRESSOR[method]);
    const compressor: Compressor = forFlag('--compressor', () => parseCompressor(spec));
    const file = resolve(ctx.cwd, opts.problem);
    let problem;
    try {
      problem = await loadProblemFile(file);
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError('--problem', `${opts.problem}: ${e.message}`);
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('E')) {
        throw new UsageError('--problem', `cannot read ${opts.problem} (${code})`);
      }
      throw e;
    }
    const gamma = opts.gamma ?? byField(() => theoryGamma(problem, method, compressor));
    const progress = startProgress(`solve ${method}`, opts.iterations, { stream: ctx.stderr, mode: ctx.progress, unit: 'iterations' });
    const outcome = byField(() =>
      runMethod({
        problem,
        method,
        compressor,
        iterations: opts.iterations,
        gamma,
        ...(opts.tau === undefined ? {} : { tau: opts.tau }),
        seed: opts.seed,
        target: opts.target,
        stopAtTarget: opts.stopAtTarget ?? false,
        onRecord: (r) => progress.update(r.iteration, r.relDist === null ? '' : `rel. dist ${formatNumber(r.relDist)}`),
      }),
    );
    progress.stop(outcome.summary.reached ? 'target reached' : '');

    const out = resolve(ctx.cwd, opts.out);
    const summary = { ...summaryJson(outcome.summary), target: opts.target, seed: opts.seed, problem: problem.kind };
    await writeJsonFile(join(out, 'summary.json'), summary);
    await writeJsonFile(join(out, 'z.json'), Array.from(outcome.result.z), 0);
    await writeCsvFile(join(out, 'curve.csv'), CURVE_HEADER, curveRows(outcome.result.records));
    if (opts.json) ctx.stdout.write(toJson(summary));
    else ctx.stdout.write(summaryTable([outcome.summary]) + `\nwrote ${join(opts.out, 'summary.json')}, z.json, curve.csv\n`);
  },
});

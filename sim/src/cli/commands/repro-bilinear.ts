import { isAbsolute, relative, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { toJson } from '../../io/json.js';
import { startProgress } from '../../io/progress.js';
import { formatNumber, formatTable } from '../../io/table.js';
import { bilinearReproConfig, bilinearSummaryJson, FIGURE1_METHODS, reproBilinear, writeBilinearRepro } from '../../repro/bilinear.js';
import type { BilinearMethodSpec, BilinearReproResult } from '../../repro/bilinear.js';
import { defineCommand } from '../command.js';
import { parsePositiveInt, parsePositiveNumber, parseSeed } from '../options.js';

interface ReproBilinearOptions {
  out: string;
  quick?: boolean;
  d: number;
  M: number;
  seed: number;
  iterations?: number;
  target?: number;
  methods?: readonly BilinearMethodSpec[];
  json?: boolean;
}

function parseMethods(value: string): BilinearMethodSpec[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const out: BilinearMethodSpec[] = [];
  for (const n of names) {
    const spec = FIGURE1_METHODS.find((m) => m.method === n);
    if (!spec) throw new InvalidArgumentError(`unknown method '${n}' (known: ${FIGURE1_METHODS.map((m) => m.method).join(', ')}).`);
    if (!out.includes(spec)) out.push(spec);
  }
  if (out.length === 0) throw new InvalidArgumentError('expected a comma-separated list of methods.');
  return out;
}

function resultTable(result: BilinearReproResult): string {
  return formatTable(
    [
      { header: 'method' },
      { header: 'compressor' },
      { header: 'gamma', align: 'right' },
      { header: 'γ/γ_theory', align: 'right' },
      { header: 'iterations', align: 'right' },
      { header: 'MB up', align: 'right' },
      { header: 'final rel. dist', align: 'right' },
      { header: 'MB to 1e-6', align: 'right' },
    ],
    result.methods.map((m) => {
      const s = m.summary;
      return [
        s.method,
        s.compressor,
        formatNumber(s.gamma),
        formatNumber(s.gamma / m.gammaTheory),
        String(s.iterations),
        formatNumber(s.megabytes),
        s.diverged ? 'diverged' : formatNumber(s.finalRelDist),
        s.reached ? formatNumber(s.megabytesToTarget) : 'not reached',
      ];
    }),
  );
}

/** `masha-sim repro bilinear`: the seed's Figure 1 comparison. */
export const command = defineCommand<ReproBilinearOptions>({
  path: ['repro', 'bilinear'],
  description: "the MASHA paper's Figure 1: MASHA1/MASHA2 vs QGDA, EF-GDA, QEG and EG on the bilinear game, stepsizes tuned",
  configure(cmd) {
    cmd
      .requiredOption('--out <dir>', 'output directory (files go to DIR/bilinear/)')
      .option('--quick', 'smaller iteration budget (under a minute), same grid and story')
      .option('--d <n>', 'dimension of x and of y', parsePositiveInt, 100)
      .option('--M <n>', 'number of devices', parsePositiveInt, 10)
      .option('--seed <s>', 'seed of the problem generator and of the runs', parseSeed, 0)
      .option('--iterations <n>', 'iteration budget per run (default 6000, --quick 1500)', parsePositiveInt)
      .option('--target <t>', 'relative squared distance that counts as reached', parsePositiveNumber)
      .option('--methods <list>', `comma-separated subset of ${FIGURE1_METHODS.map((m) => m.method).join(',')}`, parseMethods)
      .option('--json', 'print summary.json on stdout instead of the table')
      .addHelpText(
        'after',
        '\nEach method: ' +
          FIGURE1_METHODS.map((m) => `${m.method} with ${m.compressor}`).join(', ') +
          '.\nγ is tuned on γ_theory·2^e (e from 8 down to −2, then ±1/4, ±1/2, ±3/4 around the best), ranked by\n' +
          'megabytes to the target (runs that reached it first), then by final distance.\n' +
          'Writes DIR/bilinear/summary.json, tuning.csv, curve-<method>.csv (iteration, relDist, uplinkMB,\n' +
          'downlinkMB), relDist-vs-iterations.svg and relDist-vs-megabytes.svg.',
      );
  },
  async run(opts, ctx) {
    const config = bilinearReproConfig({
      quick: opts.quick ?? false,
      d: opts.d,
      M: opts.M,
      seed: opts.seed,
      ...(opts.iterations === undefined ? {} : { iterations: opts.iterations }),
      ...(opts.target === undefined ? {} : { target: opts.target }),
      ...(opts.methods === undefined ? {} : { methods: opts.methods }),
    });
    const out = resolve(ctx.cwd, opts.out, 'bilinear');
    let progress: ReturnType<typeof startProgress> | null = null;
    const result = await reproBilinear(config, (done, total, detail) => {
      progress ??= startProgress('repro bilinear', total, { stream: ctx.stderr, mode: ctx.progress, unit: 'runs' });
      progress.update(done, detail);
    });
    (progress as ReturnType<typeof startProgress> | null)?.stop();
    const files = await writeBilinearRepro(out, result);
    if (opts.json) {
      ctx.stdout.write(toJson(bilinearSummaryJson(result)));
      return 0;
    }
    const checks = (bilinearSummaryJson(result).checks ?? []) as { name: string; ok: boolean; detail: string }[];
    let text = `Bilinear game, d = ${result.problem.d}, M = ${result.problem.M}, seed ${config.seed}, budget ${config.iterations} iterations${config.quick ? ' (quick)' : ''}\n\n`;
    text += resultTable(result);
    if (config.methods.length === FIGURE1_METHODS.length) {
      text += '\nFigure 1 story:\n';
      for (const c of checks) text += `  [${c.ok ? 'ok' : 'NO'}] ${c.name}: ${c.detail}\n`;
    }
    const rel = relative(ctx.cwd, out);
    const shown = rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? out : rel;
    text += `\nwrote ${files.length} files to ${shown}/ (summary.json, tuning.csv, curve-<method>.csv, 2 SVG plots)\n`;
    ctx.stdout.write(text);
    return 0;
  },
});

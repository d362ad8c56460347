import { isAbsolute, relative, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { toJson } from '../../io/json.js';
import { startProgress, type Progress } from '../../io/progress.js';
import { formatNumber, formatTable } from '../../io/table.js';
import { adversarialSummary, FULL_GRID, QUICK_GRID, reproAdversarial, writeAdversarialRepro, type AdversarialResult } from '../../repro/adversarial.js';
import { defineCommand } from '../command.js';
import { parsePositiveNumber, parseSeed } from '../options.js';

function parseCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > 1_000_000) throw new InvalidArgumentError('expected a whole number of iterations.');
  return n;
}

interface ReproAdversarialOptions {
  out: string;
  quick?: boolean;
  seed: number;
  mbps?: number;
  iterations?: number;
  json?: boolean;
}

function table(result: AdversarialResult): string {
  const base = result.setups.find((s) => s.name === 'baseline');
  return formatTable(
    [
      { header: 'setup' },
      { header: 's / round (sim)', align: 'right' },
      { header: '± std', align: 'right' },
      { header: 'vs baseline', align: 'right' },
      { header: 's / iteration', align: 'right' },
      { header: 'MB / round', align: 'right' },
      { header: 'final objective', align: 'right' },
      { header: 'test acc.', align: 'right' },
      { header: 'robust acc.', align: 'right' },
    ],
    result.setups.map((s) => [
      s.name,
      formatNumber(s.secondsPerRound.mean),
      formatNumber(s.secondsPerRound.std),
      base ? `${formatNumber(base.secondsPerRound.mean / s.secondsPerRound.mean)}×` : '',
      formatNumber(s.secondsPerIteration.mean),
      formatNumber(s.bytesPerRound / 1e6),
      Number.isNaN(s.finalLoss) ? '—' : formatNumber(s.finalLoss),
      Number.isNaN(s.testAccuracy) ? '—' : `${(100 * s.testAccuracy).toFixed(1)} %`,
      s.robustAccuracy === null ? '—' : `${(100 * s.robustAccuracy).toFixed(1)} %`,
    ]),
  );
}

/** The claims of issue 13, checked on the measured table. */
export function adversarialChecks(result: AdversarialResult): { name: string; ok: boolean; detail: string }[] {
  const by = (n: string) => result.setups.find((s) => s.name === n);
  const b = by('baseline');
  const p = by('powersgd');
  const e = by('8bit');
  const m = by('mixed8bit');
  if (!b || !p || !e || !m) return [];
  const t = (s: typeof b) => s.secondsPerRound.mean;
  const trained = !Number.isNaN(b.finalLoss);
  return [
    {
      name: 'PowerSGD is the fastest per round, ≥ 4× faster than baseline',
      ok: t(p) <= Math.min(t(e), t(m), t(b)) && t(b) / t(p) >= 4,
      detail: `${formatNumber(t(b) / t(p))}×`,
    },
    {
      name: 'the 8-bit variants lie between PowerSGD and baseline',
      ok: t(p) < t(e) && t(e) < t(b) && t(p) < t(m) && t(m) < t(b),
      detail: `8-bit ${formatNumber(t(e))} s, mixed ${formatNumber(t(m))} s`,
    },
    ...(!trained
      ? []
      : [
          {
            name: 'baseline and mixed 8-bit reach a similar objective (within 5 %)',
            ok: Math.abs(m.finalLoss - b.finalLoss) <= 0.05 * b.finalLoss,
            detail: `${formatNumber(b.finalLoss)} vs ${formatNumber(m.finalLoss)}; full 8-bit ${formatNumber(e.finalLoss)}, PowerSGD ${formatNumber(p.finalLoss)}`,
          },
        ]),
  ];
}

/** `masha-sim repro adversarial`: the seed's §5.2 comparison (Figure 2). */
export const command = defineCommand<ReproAdversarialOptions>({
  path: ['repro', 'adversarial'],
  description: "the seed's §5.2 experiment: adversarial training of the tiny ALBERT with baseline, 8-bit, mixed 8-bit and PowerSGD compression",
  configure(cmd) {
    cmd
      .requiredOption('--out <dir>', 'output directory (files go to DIR/adversarial/)')
      .option(
        '--quick',
        `${QUICK_GRID.iterations} iterations of batch ${QUICK_GRID.batch}, ${QUICK_GRID.testExamples} test examples, ${QUICK_GRID.repetitions} simulated repetitions of ${QUICK_GRID.simIterations} iterations (under 5 minutes on two cores)`,
      )
      .option('--seed <s>', 'seed of the task, the run and the simulated network', parseSeed, 0)
      .option('--mbps <rate>', `simulated link speed, Mbit/s both ways (default ${FULL_GRID.link.uplinkMbps})`, parsePositiveNumber)
      .option('--iterations <n>', 'training iterations per setup (default: 300, quick 12; 0: time per round only)', parseCount)
      .option('--json', 'print summary.json on stdout instead of the table')
      .addHelpText(
        'after',
        '\nFour setups on the same model, data, seed and iterations: baseline (float32), full 8-bit (every\n' +
          'tensor), mixed 8-bit (tensors of ≥ 2^16 elements), PowerSGD rank 8 + error feedback (matrices of\n' +
          '≥ 2^16 elements), on the uplinks and the broadcast; MASHA2 + LAMB, 4 shards, FreeLB K = 2, ε = 0.1.\n' +
          'The objective comes from the reference runner on onnxruntime-node; the time per round from the\n' +
          'simulator (the real engine and frames on 4 peers, measured compute time per evaluation, the stated\n' +
          'link model), 5 repetitions (quick: 3). Writes DIR/adversarial/summary.json, setups.csv, curves.csv,\n' +
          'objective.svg and time-per-round.svg.',
      );
  },
  async run(opts, ctx) {
    const base = opts.quick ? QUICK_GRID : FULL_GRID;
    const grid = {
      ...base,
      seed: opts.seed,
      ...(opts.iterations !== undefined ? { iterations: opts.iterations } : {}),
      link: {
        ...base.link,
        ...(opts.mbps !== undefined ? { uplinkMbps: opts.mbps, downlinkMbps: opts.mbps } : {}),
      },
    };
    const out = resolve(ctx.cwd, opts.out, 'adversarial');
    let progress: Progress | null = null;
    const started = Date.now();
    const result = await reproAdversarial(grid, ({ stage, done, total }) => {
      progress ??= startProgress('repro adversarial', total, {
        stream: ctx.stderr,
        mode: ctx.progress,
        unit: 'steps',
      });
      progress.update(done, stage);
    });
    const shown = progress as Progress | null;
    shown?.stop();
    const seconds = (Date.now() - started) / 1000;
    const files = await writeAdversarialRepro(out, result);
    if (opts.json) {
      ctx.stdout.write(toJson(adversarialSummary(result)));
      return 0;
    }
    let text = `Adversarial training of the tiny ALBERT, ${grid.iterations} iterations of batch ${grid.batch} × ${grid.peers} shards, seed ${grid.seed}${opts.quick ? ' (quick)' : ''}, ${seconds.toFixed(0)} s\n`;
    text += `time per round simulated: ${grid.peers} peers, ${grid.link.uplinkMbps} Mbit/s symmetric, ${grid.link.latencyMs} ms latency, compute ${result.computeMs.toFixed(0)} ms per evaluation (measured)\n\n`;
    text += table(result);
    text += '\n';
    for (const c of adversarialChecks(result)) text += `  [${c.ok ? 'ok' : 'NO'}] ${c.name}: ${c.detail}\n`;
    const rel = relative(ctx.cwd, out);
    const where = rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? out : rel;
    text += `\nwrote ${files.length} files to ${where}/\n`;
    ctx.stdout.write(text);
    return 0;
  },
});

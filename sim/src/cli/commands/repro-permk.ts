import { isAbsolute, relative, resolve } from 'node:path';
import { toJson } from '../../io/json.js';
import { startProgress, type Progress } from '../../io/progress.js';
import { formatNumber, formatTable } from '../../io/table.js';
import { FULL_GRID, PERMK_TARGET, QUICK_GRID, reproPermk, writePermkRepro, type PermkResult } from '../../repro/permk.js';
import { defineCommand } from '../command.js';
import { parsePositiveNumber, parseSeed } from '../options.js';

interface ReproPermkOptions {
  out: string;
  quick?: boolean;
  seed: number;
  target?: number;
  json?: boolean;
}

function bestTable(result: PermkResult): string {
  return formatTable(
    [
      { header: 'n', align: 'right' },
      { header: 's', align: 'right' },
      { header: 'compressor' },
      { header: 'γ', align: 'right' },
      { header: 'γ/γ_th', align: 'right' },
      { header: 'iterations', align: 'right' },
      { header: 'bits/node to target', align: 'right' },
      { header: 'final ‖∇f‖²', align: 'right' },
    ],
    result.summary.runs.map((r) => [
      String(r.n),
      String(r.s),
      r.compressor,
      formatNumber(r.gamma),
      formatNumber(r.gamma / r.gammaTheory),
      String(r.iterations),
      r.bitsPerNodeToTarget === null ? 'not reached' : formatNumber(r.bitsPerNodeToTarget),
      formatNumber(r.finalGradNormSq),
    ]),
  );
}

function ratioTable(result: PermkResult): string {
  return formatTable(
    [
      { header: 'n', align: 'right' },
      { header: 's', align: 'right' },
      { header: 'RandK/PermK bits', align: 'right' },
      { header: 'theory', align: 'right' },
      { header: 'TopK/PermK bits', align: 'right' },
      { header: 'RandK/PermK incl. init', align: 'right' },
    ],
    result.summary.ratios.map((r) => [
      String(r.n),
      String(r.s),
      formatNumber(r.randkOverPermk),
      formatNumber(r.theory),
      formatNumber(r.topkOverPermk),
      formatNumber(r.randkOverPermkWithInit),
    ]),
  );
}

/** The claims of issue 3, checked on the measured ratios. */
export function permkChecks(result: PermkResult): { name: string; ok: boolean; detail: string }[] {
  const ratios = result.summary.ratios;
  const at = (n: number, s: number) => ratios.find((r) => r.n === n && r.s === s)?.randkOverPermk ?? null;
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const nMax = Math.max(...ratios.map((r) => r.n));
  const r0 = at(nMax, 0);
  const want = nMax >= 1000 ? 10 : 4;
  checks.push({
    name: `PermK saves ≥ ${want}× bits over RandK at n = ${nMax}, s = 0`,
    ok: r0 !== null && r0 >= want,
    detail: `measured ${formatNumber(r0)}×`,
  });
  const sMax = Math.max(...ratios.filter((r) => r.n === nMax).map((r) => r.s));
  const rS = at(nMax, sMax);
  checks.push({
    name: `the advantage shrinks as s grows (s = ${sMax} below s = 0)`,
    ok: r0 !== null && rS !== null && rS < r0,
    detail: `${formatNumber(rS)}× at s = ${sMax} vs ${formatNumber(r0)}× at s = 0`,
  });
  return checks;
}

/** `masha-sim repro permk`: the PermK paper's quadratic experiment. */
export const command = defineCommand<ReproPermkOptions>({
  path: ['repro', 'permk'],
  description: "the PermK paper's experiment: MARINA with PermK vs RandK vs TopK on nonconvex quadratics, stepsizes tuned",
  configure(cmd) {
    cmd
      .requiredOption('--out <dir>', 'output directory (files go to DIR/permk/)')
      .option('--quick', 'n = 100 and s ∈ {0, 0.8} only (under a minute)')
      .option('--seed <s>', 'seed of the problems and of the runs', parseSeed, FULL_GRID.seed)
      .option('--target <T>', `relative target: ‖∇f(xᵏ)‖² ≤ T·‖∇f(x⁰)‖² (default ${PERMK_TARGET})`, parsePositiveNumber)
      .option('--json', 'print summary.json on stdout instead of the tables')
      .addHelpText(
        'after',
        '\nFull grid: d = 1000, n ∈ {10, 1000}, s ∈ {0, 0.05, 0.1, 0.2, 0.8}; RandK and TopK keep K = d/n, PermK\n' +
          'a block of ≈ d/n; MARINA with p = K/d. Each compressor races γ_th·2^i, i = 0…12 (γ_th from SPEC §3.4;\n' +
          "TopK, outside MARINA's theory, gets RandK's) and keeps the fewest uplink bits per node to the target.\n" +
          'Bits exclude the initial exchange g⁰ = ∇f(x⁰) (32d per node, the same for all; reported separately).\n' +
          'Writes DIR/permk/summary.json, best.csv, ratios.csv, sweep.csv, curves.csv and one SVG per n.',
      );
  },
  async run(opts, ctx) {
    const base = opts.quick ? QUICK_GRID : FULL_GRID;
    const grid = { ...base, seed: opts.seed, ...(opts.target === undefined ? {} : { target: opts.target }) };
    const out = resolve(ctx.cwd, opts.out, 'permk');
    let progress: Progress | null = null;
    const started = Date.now();
    const result = await reproPermk(grid, ({ cellsDone, cellsTotal, cell, run }) => {
      progress ??= startProgress('repro permk', cellsTotal, { stream: ctx.stderr, mode: ctx.progress, unit: 'cells' });
      const what = `n=${cell.n} s=${cell.s} ${cell.compressor}`;
      const detail = run === null ? what : `${what} γ_th·${run.multiplier}: ${run.outcome}`;
      progress.update(cellsDone, detail);
    });
    const shown = progress as Progress | null;
    shown?.update(shown.total, 'all cells done');
    shown?.stop();
    const seconds = (Date.now() - started) / 1000;
    const files = await writePermkRepro(out, result);
    if (opts.json) {
      ctx.stdout.write(toJson(result.summary));
      return 0;
    }
    let text = `MARINA on the PermK paper's quadratics, d = ${grid.d}, target ‖∇f‖² ≤ ${grid.target}·‖∇f(x⁰)‖², seed ${grid.seed}${opts.quick ? ' (quick)' : ''}, ${seconds.toFixed(0)} s\n\n`;
    text += bestTable(result);
    text += '\n';
    text += ratioTable(result);
    text += '\n';
    for (const c of permkChecks(result)) text += `  [${c.ok ? 'ok' : 'NO'}] ${c.name}: ${c.detail}\n`;
    const rel = relative(ctx.cwd, out);
    const where = rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? out : rel;
    text += `\nwrote ${files.length} files to ${where}/\n`;
    ctx.stdout.write(text);
    return 0;
  },
});

import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_RUN, DEFAULT_RUN_GAMMA, METHOD_NAMES, parseManifest, runIdOf, ValidationError, type Manifest, type ManifestInput } from '@masha/protocol';
import { writeTextFile } from '../../io/json.js';
import { loadProblemFile } from '../../run/problem-file.js';
import { defineCommand } from '../command.js';
import { forFlag, UsageError } from '../errors.js';
import { parsePositiveInt, parsePositiveNumber, parseSeed } from '../options.js';

interface ManifestInitOptions {
  problem: string;
  method: (typeof METHOD_NAMES)[number];
  compressor?: string;
  serverCompressor?: string;
  gamma?: number | 'theory';
  shards?: number;
  seed?: number;
  iterations: number;
  target: number;
  out?: string;
}

/** `--gamma`: a positive number or `theory`. */
function parseGamma(value: string): number | 'theory' {
  if (value === 'theory') return value;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number or 'theory'.");
  return n;
}

/**
 * How a problem file is named in a manifest: an absolute path stays absolute; a relative one (to
 * the current directory) becomes relative to the directory the manifest is written to, which is
 * how `masha-sim run` and `masha launch` resolve it. When that directory is unknown (stdout that is
 * not a file) the absolute path is written, which works from anywhere.
 */
export function problemPathFor(given: string, cwd: string, manifestDir: string | null): string {
  const abs = resolve(cwd, given);
  if (isAbsolute(given) || manifestDir === null) return abs;
  const rel = relative(manifestDir, abs);
  return isAbsolute(rel) ? rel : rel.split('\\').join('/');
}

/**
 * `masha-sim manifest init`: a complete, validated run manifest (every default written out, so it
 * is easy to edit) on stdout or in `--out`. With no flags it is the default run — the one
 * `npm start` runs (@masha/protocol DEFAULT_RUN), which reaches its target in a few hundred rounds.
 * A problem file is referenced by path (problemPathFor) and pinned by its SHA-256.
 */
export const command = defineCommand<ManifestInitOptions>({
  path: ['manifest', 'init'],
  description: 'write a valid run manifest; with no flags, the default run (the one `npm start` runs)',
  configure(cmd) {
    cmd
      .option('--problem <bilinear|quadratic|FILE.json>', 'a generated problem, or a problem file (see the README for the shapes)', DEFAULT_RUN.problem.kind)
      .addOption(new Option('--method <name>', 'method').choices(METHOD_NAMES).default(DEFAULT_RUN.method.name))
      .option(
        '--compressor <spec>',
        "device compressor, e.g. randk:0.1, natural, topk:0.3, permk (default: the method's usual one — dither:p=2,s=8 for masha1)",
      )
      .option('--server-compressor <spec>', 'server compressor (default identity)')
      .option(
        '--gamma <γ|theory>',
        `stepsize: a number, or theory for the method's guaranteed stepsize (default: ${DEFAULT_RUN_GAMMA} — the default run's — for masha1 on a generated bilinear problem, theory otherwise)`,
        parseGamma,
      )
      .option('--shards <M>', 'number of shards M of a generated problem', parsePositiveInt)
      .option('--seed <s>', 'run seed (also seeds a generated problem)', parseSeed)
      .option('--iterations <n>', 'maximum method iterations', parsePositiveInt, DEFAULT_RUN.stop.iterations)
      .option(
        '--target <t>',
        'stop at this relative squared distance to the solution (or ‖F‖²/‖F(z⁰)‖² when it is unknown)',
        parsePositiveNumber,
        DEFAULT_RUN.stop.target,
      )
      .option('--out <file>', 'write the manifest here (default: stdout)')
      .addHelpText(
        'after',
        [
          '',
          'Every flag has a default: `masha-sim manifest init > RUN.json` writes the default run.',
          'A relative FILE.json is stored relative to the manifest (--out, or stdout redirected to a file);',
          'an absolute one stays absolute.',
        ].join('\n'),
      );
  },
  async run(opts, ctx) {
    const outPath = opts.out === undefined ? null : resolve(ctx.cwd, opts.out);
    const manifestDir = outPath !== null ? dirname(outPath) : ctx.stdoutPath !== undefined && ctx.stdoutPath !== null ? dirname(ctx.stdoutPath) : null;
    let problem: ManifestInput['problem'];
    if (opts.problem === 'bilinear') {
      problem = { kind: 'bilinear', ...(opts.shards !== undefined ? { M: opts.shards } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
    } else if (opts.problem === 'quadratic') {
      problem = { kind: 'quadratic', ...(opts.shards !== undefined ? { n: opts.shards } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
    } else {
      const file = resolve(ctx.cwd, opts.problem);
      const loaded = forFlag('--problem', () => loadProblemFile(file));
      if (opts.shards !== undefined && opts.shards !== loaded.problem.shards) {
        throw new UsageError('--shards', `the problem file fixes M = ${loaded.problem.shards}`);
      }
      problem = { kind: 'file', path: problemPathFor(opts.problem, ctx.cwd, manifestDir), sha256: loaded.sha256 };
    }
    const tuned = opts.method === DEFAULT_RUN.method.name && problem.kind === 'bilinear';
    const gamma = opts.gamma ?? (tuned ? DEFAULT_RUN_GAMMA : 'theory');
    const input: ManifestInput = {
      problem,
      method: { name: opts.method, gamma },
      compressors: { ...(opts.compressor !== undefined ? { device: opts.compressor } : {}), server: opts.serverCompressor ?? DEFAULT_RUN.compressors.server },
      stop: { iterations: opts.iterations, target: opts.target },
      network: { ...DEFAULT_RUN.network },
      seed: opts.seed ?? DEFAULT_RUN.seed,
    };
    let manifest: Manifest;
    try {
      manifest = parseManifest(input);
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError(flagOf(e.field), e.message);
      throw e;
    }
    const text = JSON.stringify(manifest, null, 2) + '\n';
    if (outPath === null) ctx.stdout.write(text);
    else await writeTextFile(outPath, text);
    ctx.stderr.write(`manifest init: run ${runIdOf(manifest)}${outPath === null ? '' : ` → ${outPath}`}\n`);
    return 0;
  },
});

/** The flag responsible for a manifest field. */
function flagOf(field: string): string {
  if (field.startsWith('compressors.device')) return '--compressor';
  if (field.startsWith('compressors.server')) return '--server-compressor';
  if (field === 'problem.M' || field === 'problem.n') return '--shards';
  if (field.endsWith('seed')) return '--seed';
  if (field.startsWith('stop.iterations')) return '--iterations';
  if (field.startsWith('stop.target')) return '--target';
  if (field.startsWith('method.gamma')) return '--gamma';
  if (field.startsWith('method')) return '--method';
  if (field.startsWith('problem')) return '--problem';
  return 'manifest';
}

import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { Option } from 'commander';
import { METHOD_NAMES, parseManifest, runIdOf, ValidationError, type Manifest, type ManifestInput } from '@masha/protocol';
import { writeTextFile } from '../../io/json.js';
import { loadProblemFile } from '../../run/problem-file.js';
import { defineCommand } from '../command.js';
import { forFlag, UsageError } from '../errors.js';
import { oneOf, parsePositiveInt, parsePositiveNumber, parseSeed } from '../options.js';

interface ManifestInitOptions {
  problem: string;
  method: (typeof METHOD_NAMES)[number];
  compressor: string;
  serverCompressor?: string;
  shards?: number;
  seed?: number;
  iterations?: number;
  target?: number;
  out?: string;
}

/**
 * `masha-sim manifest init`: a complete, validated run manifest (every default written out, so it
 * is easy to edit) on stdout or in `--out`. A problem file is referenced by path — relative to the
 * manifest's own directory, which is how `masha-sim run` resolves it — and pinned by its SHA-256.
 */
export const command = defineCommand<ManifestInitOptions>({
  path: ['manifest', 'init'],
  description: 'write a valid run manifest with defaults for everything not given',
  configure(cmd) {
    cmd
      .requiredOption('--problem <bilinear|quadratic|FILE.json>', 'a generated problem, or a problem file')
      .addOption(new Option('--method <name>', METHOD_NAMES.join(' | ')).argParser(oneOf(METHOD_NAMES)).makeOptionMandatory())
      .requiredOption('--compressor <spec>', 'device compressor, e.g. randk:0.1, natural, topk:0.3, permk')
      .option('--server-compressor <spec>', 'server compressor (default identity)')
      .option('--shards <M>', 'number of shards M of a generated problem', parsePositiveInt)
      .option('--seed <s>', 'run seed (also seeds a generated problem)', parseSeed)
      .option('--iterations <n>', 'maximum method iterations', parsePositiveInt)
      .option('--target <t>', 'stop at this relative squared distance (problems with a known solution)', parsePositiveNumber)
      .option('--out <file>', 'write the manifest here (default: stdout)');
  },
  async run(opts, ctx) {
    const outPath = opts.out === undefined ? null : resolve(ctx.cwd, opts.out);
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
      const base = outPath === null ? ctx.cwd : dirname(outPath);
      const rel = relative(base, file);
      problem = { kind: 'file', path: isAbsolute(rel) ? rel : rel.split('\\').join('/'), sha256: loaded.sha256 };
    }
    const input: ManifestInput = {
      problem,
      method: { name: opts.method },
      compressors: { device: opts.compressor, ...(opts.serverCompressor !== undefined ? { server: opts.serverCompressor } : {}) },
      ...(opts.iterations !== undefined || opts.target !== undefined
        ? { stop: { ...(opts.iterations !== undefined ? { iterations: opts.iterations } : {}), ...(opts.target !== undefined ? { target: opts.target } : {}) } }
        : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
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
  if (field.startsWith('method')) return '--method';
  if (field.startsWith('problem')) return '--problem';
  return 'manifest';
}

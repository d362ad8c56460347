/**
 * `masha train --local`: trains the default task (tiny ALBERT on the SpamAssassin corpus) in this
 * process, no network — the baseline every distributed run is compared with. Progress on stderr;
 * results in --out (summary.json, train.csv, eval.csv, training.svg, written atomically);
 * `--json` prints the summary on stdout.
 */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ValidationError } from '@masha/protocol';
import { OBJECTIVES, OPTIMIZER_NAMES, parseModelTask, parseOptimizer, type Objective, type OptimizerName } from '@masha/protocol/model';
import { startProgress, type Progress } from '../progress.js';
import { NODE_BACKENDS, type NodeBackend } from '../../model/runtimes.js';
import { chooseDevice, DEVICE_FLAGS, type DeviceChoice, type DeviceFlag } from '../../model/device.js';
import { trainLocal, type TrainSummary } from '../../model/train.js';
import { EXIT, oneOf, UsageError } from '../errors.js';
import { interruptSignal, type CliContext } from '../io.js';

export interface TrainFlags {
  local?: boolean;
  objective: Objective;
  adversarial?: boolean;
  epsilon: number;
  advSteps: number;
  advStepSize: number;
  beta: number;
  optimizer: OptimizerName;
  lr?: number;
  momentum: number;
  weightDecay: number;
  warmup?: number;
  steps: number;
  batch: number;
  seed: number;
  backend: NodeBackend;
  device: DeviceFlag;
  threads: number;
  lowMemory?: boolean;
  model?: string;
  data?: string;
  evalEvery: number;
  evalExamples: number;
  evalBatch: number;
  attackEpsilon?: number;
  attackSteps: number;
  robustExamples: number;
  out: string;
  json?: boolean;
}

/** Default learning rate per optimizer for the default task. */
export const DEFAULT_LR: Record<OptimizerName, number> = { sgd: 0.05, adam: 5e-4, lamb: 5e-3 };

const positive = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
};
const nonNegative = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number.');
  return n;
};
const count = (value: string): number => {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer.');
  return Number(value);
};
const seedArg = (value: string): number => {
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a non-negative integer.');
  return Number(value);
};

export function configureTrain(cmd: Command): void {
  cmd
    .description('train the default model task locally (tiny ALBERT on the SpamAssassin corpus): the baseline for distributed runs')
    .option('--local', 'train in this process without a network (the only mode so far)')
    .option(
      '--objective <name>',
      `what to train: ${OBJECTIVES.join(' | ')} (spam/ham classification or masked-language modelling)`,
      oneOf<Objective>(OBJECTIVES),
      'classify',
    )
    .option('--adversarial', 'adversarial training (FreeLB): K gradient evaluations per step on an ε-bounded embedding perturbation')
    .option('--epsilon <ε>', 'adversarial radius per example, ‖ρ_n‖₂ ≤ ε (a token embedding has norm ≈ 0.2)', positive, 0.1)
    .option('--adv-steps <K>', 'gradient evaluations per step (K − 1 ascent steps)', count, 2)
    .option('--adv-step-size <α>', 'length of one normalised ascent step', positive, 0.1)
    .option('--beta <β>', 'the −(β/2)‖ρ‖² term', nonNegative, 0)
    .option('--optimizer <name>', `${OPTIMIZER_NAMES.join(' | ')}`, oneOf<OptimizerName>(OPTIMIZER_NAMES), 'lamb')
    .option('--lr <rate>', `peak learning rate (default: sgd ${DEFAULT_LR.sgd}, adam ${DEFAULT_LR.adam}, lamb ${DEFAULT_LR.lamb})`, positive)
    .option('--momentum <μ>', 'SGD momentum', nonNegative, 0.9)
    .option('--weight-decay <wd>', 'decoupled weight decay on weight matrices', nonNegative, 0.01)
    .option('--warmup <steps>', 'linear warm-up steps, then linear decay to 0 (default: 10% of --steps)', seedArg)
    .option('--steps <n>', 'optimizer steps', count, 400)
    .option('--batch <n>', 'examples per step', count, 16)
    .option('--seed <n>', 'seed of the initial parameters, minibatches and masks', seedArg, 0)
    .option(
      '--backend <name>',
      `gradient runtime: node (onnxruntime-node, native) | wasm (onnxruntime-web's wasm backend in Node)`,
      oneOf<NodeBackend>(NODE_BACKENDS),
      'node',
    )
    .option(
      '--device <name>',
      `where gradients are computed: auto (a GPU when onnxruntime-node can use one — CUDA, then WebGPU — checked against the CPU on a probe graph; else the CPU) | cpu | gpu (fail unless a GPU passes the probe)`,
      oneOf<DeviceFlag>(DEVICE_FLAGS),
      'auto',
    )
    .option('--threads <n>', 'runtime threads', count, 1)
    .option('--low-memory', 'onnxruntime-node without its memory arena: about 5× less resident memory, steps about 35% slower')
    .option('--model <json>', 'model configuration overrides as JSON, e.g. \'{"layers":2,"hidden":128}\'')
    .option('--data <dir>', 'dataset directory (default: the one `npm run build` generates)')
    .option('--eval-every <steps>', 'score the test split every this many steps', count, 50)
    .option('--eval-examples <n>', 'test examples scored at the periodic evaluations (the final one uses all)', count, 400)
    .option('--eval-batch <n>', 'batch size of the evaluation graphs', count, 64)
    .option('--attack-epsilon <ε>', 'radius of the final robustness attack (default: --epsilon)', positive)
    .option('--attack-steps <n>', 'ascent steps of the final robustness attack', count, 5)
    .option('--robust-examples <n>', 'test examples attacked at the end', count, 400)
    .option('--out <dir>', 'output directory', join('runs', 'train'))
    .option('--json', 'print the summary as JSON on stdout (progress stays on stderr)')
    .addHelpText(
      'after',
      '\nWrites OUT/summary.json (loss curve, test accuracy, robust accuracy, time per step), train.csv, eval.csv, training.svg, params.f32.' +
        '\nExit codes: 0 done, 2 bad flags or data, 130 interrupted (the results so far are still written).' +
        '\n\nExamples:\n  masha train --local\n  masha train --local --objective mlm --optimizer adam --steps 300\n  masha train --local --adversarial --epsilon 0.2 --adv-steps 3 --backend wasm',
    );
}

/** Maps a schema field to the flag that sets it. */
const FLAG_OF: Record<string, string> = {
  'task.batch': '--batch',
  'task.seed': '--seed',
  'task.adversarial.epsilon': '--epsilon',
  'task.adversarial.steps': '--adv-steps',
  'task.adversarial.stepSize': '--adv-step-size',
  'task.adversarial.beta': '--beta',
  'optimizer.lr': '--lr',
  'optimizer.momentum': '--momentum',
  'optimizer.weightDecay': '--weight-decay',
  'optimizer.warmup': '--warmup',
};

function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ValidationError) {
      const flag = FLAG_OF[e.field] ?? (e.field.startsWith('task.model') ? `--model (${e.field.slice('task.'.length)})` : e.field);
      throw new UsageError(flag, e.message.slice(e.field.length + 2));
    }
    throw e;
  }
}

function humanSummary(s: TrainSummary, out: string): string {
  const f = s.final;
  const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
  const unit = s.task.objective === 'classify' ? 'examples' : 'masked tokens';
  return (
    [
      `trained ${s.task.objective}${s.task.adversarial ? ' (adversarial)' : ''} for ${s.stepsDone} steps in ${s.wallSeconds.toFixed(1)} s (${s.msPerStep.median.toFixed(0)} ms/step median, ${s.backend} on ${s.device.provider === 'cpu' ? 'the CPU' : `the GPU (${s.device.provider})`})${s.interrupted ? ' — interrupted' : ''}`,
      `  test: accuracy ${pct(f.accuracy)} over ${f.examples} ${unit}, loss ${f.loss.toFixed(4)}${f.majority !== null ? ` (majority class ${pct(f.majority)})` : ''}`,
      `  robust accuracy ${pct(f.robustAccuracy)} under an ε = ${f.attack.epsilon} embedding attack (${f.attack.steps} steps) on ${f.robustExamples} ${unit}`,
      `  files in ${out}/ (summary.json, train.csv, eval.csv, training.svg, params.f32)`,
    ].join('\n') + '\n'
  );
}

export async function runTrain(flags: TrainFlags, ctx: CliContext): Promise<number> {
  if (!flags.local) throw new UsageError('--local', 'only local training exists so far: add --local');
  let modelJson: unknown = {};
  if (flags.model !== undefined) {
    try {
      modelJson = JSON.parse(flags.model);
    } catch (e) {
      throw new UsageError('--model', `not valid JSON: ${(e as Error).message}`);
    }
  }
  const task = asUsage(() =>
    parseModelTask({
      model: modelJson,
      objective: flags.objective,
      batch: flags.batch,
      seed: flags.seed,
      shards: 1,
      adversarial: flags.adversarial ? { epsilon: flags.epsilon, steps: flags.advSteps, stepSize: flags.advStepSize, beta: flags.beta, init: 'zero' } : null,
    }),
  );
  const optimizer = asUsage(() =>
    parseOptimizer({
      name: flags.optimizer,
      lr: flags.lr ?? DEFAULT_LR[flags.optimizer],
      momentum: flags.momentum,
      weightDecay: flags.weightDecay,
      warmup: flags.warmup ?? Math.round(0.1 * flags.steps),
      totalSteps: flags.steps,
    }),
  );
  const attackEpsilon = flags.attackEpsilon ?? flags.epsilon;
  const attack = { epsilon: attackEpsilon, steps: flags.attackSteps, stepSize: (2.5 * attackEpsilon) / flags.attackSteps };
  const out = resolve(ctx.cwd, flags.out);
  const device = await deviceFor(flags.backend, flags.device);
  ctx.stderr.write(`masha train: computing on ${device.reason}\n`);
  const { signal, dispose } = interruptSignal();
  let bar: Progress | null = null;
  const say = (text: string): void => void ctx.stderr.write(`masha train: ${text}\n`);
  let lastEval = '';
  try {
    const summary = await trainLocal({
      task,
      optimizer,
      steps: flags.steps,
      backend: flags.backend,
      device,
      threads: flags.threads,
      arena: !flags.lowMemory,
      ...(flags.data !== undefined ? { dataDir: resolve(ctx.cwd, flags.data) } : {}),
      evalEvery: flags.evalEvery,
      evalExamples: flags.evalExamples,
      evalBatch: flags.evalBatch,
      attack,
      robustExamples: flags.robustExamples,
      out,
      signal,
      onLog: (l) => (bar ? undefined : say(l)),
      onEval: (p) => {
        lastEval = ` · test acc ${(100 * p.accuracy).toFixed(1)}% @${p.step}`;
        if (!bar) say(`step ${p.step}: test accuracy ${(100 * p.accuracy).toFixed(1)}%, loss ${p.loss.toFixed(4)} (${p.examples} scored)`);
      },
      onStep: (p, total) => {
        bar ??= startProgress('train', total, { stream: ctx.stderr, mode: ctx.progress, intervalMs: 5000, units: (v, t) => `${v}/${t} steps` });
        bar.update(p.step, `loss ${p.loss.toFixed(4)}${task.adversarial ? ` adv ${p.advLoss.toFixed(4)}` : ''} · ${p.ms.toFixed(0)} ms/step${lastEval}`);
      },
    });
    (bar as Progress | null)?.stop();
    bar = null;
    if (flags.json) ctx.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else ctx.stdout.write(humanSummary(summary, out));
    return summary.interrupted ? EXIT.interrupted : EXIT.ok;
  } finally {
    (bar as Progress | null)?.stop();
    dispose();
  }
}

/** The device for onnxruntime-node; the wasm backend always computes on the CPU. */
async function deviceFor(backend: NodeBackend, flag: DeviceFlag): Promise<DeviceChoice> {
  if (backend === 'node') return chooseDevice(flag);
  if (flag === 'gpu') throw new UsageError('--device', 'gpu: the wasm backend computes on the CPU; use --backend node to compute on a GPU.');
  return { requested: flag, provider: 'cpu', probes: [], reason: 'the CPU (the wasm backend)' };
}

/**
 * Local training (one process, no network): the baseline every distributed run is compared with.
 * The ModelOperator with one shard gives F(w) for minibatch `step`, the optimizer applies it;
 * the test split is scored every `evalEvery` steps (clean, on the first `evalExamples` examples)
 * and at the end (clean on the whole split, robust under the embedding attack on `robustExamples`).
 * Results: summary.json, train.csv, eval.csv, training.svg and params.f32 (the trained w), each
 * written atomically.
 */
import { join } from 'node:path';
import {
  ModelEvaluator,
  ModelOperator,
  Optimizer,
  learningRate,
  type AttackConfig,
  type EvalResult,
  type ModelTask,
  type OptimizerConfig,
} from '@masha/protocol/model';
import { renderLineChart } from '@masha/protocol/plot';
import { stringify } from 'csv-stringify/sync';
import { loadDataset } from './data.js';
import { writeFileAtomic, writeJsonAtomic } from './files.js';
import { createRuntime, type NodeBackend } from './runtimes.js';
import type { DeviceChoice } from './device.js';

export interface TrainOptions {
  readonly task: ModelTask;
  readonly optimizer: OptimizerConfig;
  readonly steps: number;
  readonly backend: NodeBackend;
  readonly threads: number;
  /** onnxruntime-node's memory arena (default on: faster; off: less resident memory). */
  readonly arena?: boolean;
  /** The device chosen for onnxruntime-node (device.ts); default: the CPU, unprobed. */
  readonly device?: DeviceChoice;
  readonly dataDir?: string;
  readonly evalEvery: number;
  readonly evalExamples: number;
  readonly evalBatch: number;
  readonly attack: AttackConfig;
  readonly robustExamples: number;
  /** Output directory (null: write nothing). */
  readonly out: string | null;
  readonly onStep?: (p: StepPoint, total: number) => void;
  readonly onEval?: (p: EvalPoint) => void;
  readonly onLog?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface StepPoint {
  readonly step: number;
  readonly loss: number;
  readonly advLoss: number;
  readonly lr: number;
  readonly ms: number;
  readonly seconds: number;
}

export interface EvalPoint {
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly examples: number;
  readonly seconds: number;
}

export interface TrainSummary {
  readonly version: 1;
  readonly task: ModelTask;
  readonly optimizer: OptimizerConfig;
  readonly backend: string;
  /** Which device computed, what was asked, and every GPU provider probed with its reason. */
  readonly device: DeviceChoice;
  readonly threads: number;
  readonly data: {
    readonly dir: string;
    readonly source: string;
    readonly license: string;
    readonly train: number;
    readonly test: number;
    readonly vocabSize: number;
    readonly classes: readonly string[];
  };
  readonly params: number;
  readonly graphBuildMs: number;
  readonly stepsDone: number;
  readonly interrupted: boolean;
  readonly wallSeconds: number;
  /** Milliseconds per training step (F evaluation + optimizer): mean and median. */
  readonly msPerStep: { readonly mean: number; readonly median: number };
  /** Accuracy is per example (classify) or per masked token (mlm); `majority` is the most frequent class's share of the test set (classify). */
  readonly final: EvalResult & { readonly step: number; readonly attack: AttackConfig; readonly robustExamples: number; readonly majority: number | null };
  readonly memory: { readonly stateBytesPerParam: number; readonly rssBytes: number };
  readonly curve: readonly StepPoint[];
  readonly evals: readonly EvalPoint[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function trainLocal(o: TrainOptions): Promise<TrainSummary> {
  const log = o.onLog ?? (() => {});
  const t0 = performance.now();
  const clock = (): number => performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const data = await loadDataset(o.dataDir);
  const device: DeviceChoice = o.device ?? { requested: 'cpu', provider: 'cpu', probes: [], reason: 'the CPU' };
  const rt = await createRuntime(o.backend, { threads: o.threads, arena: o.arena ?? true, provider: device.provider });
  const task = o.task;
  const op = await ModelOperator.create(rt, task, data.train, clock);
  const periodic = await ModelEvaluator.create(rt, task, data.test, { batch: o.evalBatch, maxExamples: o.evalExamples });
  log(
    `model: ${op.dim.toLocaleString('en-US')} parameters, graph built in ${op.buildMs.toFixed(0)} ms; backend ${rt.name} on ${device.provider === 'cpu' ? 'the CPU' : `the GPU (${device.provider})`}, ${o.threads} thread(s); data: ${data.train.count} training / ${data.test.count} test examples`,
  );
  const w = op.initialParams();
  const g = new Float32Array(op.dim);
  const opt = new Optimizer(o.optimizer, op.layout);
  const curve: StepPoint[] = [];
  const evals: EvalPoint[] = [];
  const evaluate = async (step: number): Promise<void> => {
    const r = await periodic.evaluate(w);
    const p = { step, loss: r.loss, accuracy: r.accuracy, examples: r.examples, seconds: seconds() };
    evals.push(p);
    o.onEval?.(p);
  };
  let interrupted = false;
  try {
    await evaluate(0);
    for (let step = 0; step < o.steps; step++) {
      if (o.signal?.aborted) {
        interrupted = true;
        break;
      }
      const lr = learningRate(o.optimizer, opt.t);
      const s = await op.evaluate(0, step, w, g);
      opt.step(w, g);
      const p = { step: step + 1, loss: s.loss, advLoss: s.advLoss, lr, ms: s.ms, seconds: seconds() };
      curve.push(p);
      o.onStep?.(p, o.steps);
      if ((step + 1) % o.evalEvery === 0 && step + 1 < o.steps) await evaluate(step + 1);
    }
  } finally {
    await periodic.release();
    await op.release();
  }
  const stepsDone = curve.length;
  log(`final evaluation: ${data.test.count} test examples clean, ${Math.min(o.robustExamples, data.test.count)} under the ε = ${o.attack.epsilon} attack`);
  const finalClean = await ModelEvaluator.create(rt, task, data.test, { batch: o.evalBatch });
  const clean = await finalClean.evaluate(w);
  await finalClean.release();
  const robustEval = await ModelEvaluator.create(rt, task, data.test, { batch: o.evalBatch, attack: o.attack, maxExamples: o.robustExamples });
  const robust = await robustEval.evaluate(w);
  await robustEval.release();
  let spam = 0;
  for (let i = 0; i < data.test.count; i++) spam += data.test.labels[i];
  const majority = task.objective === 'classify' ? Math.max(spam, data.test.count - spam) / data.test.count : null;
  const stepMs = curve.map((p) => p.ms);
  const summary: TrainSummary = {
    version: 1,
    task,
    optimizer: o.optimizer,
    backend: rt.name,
    device,
    threads: o.threads,
    data: {
      dir: data.dir,
      source: data.manifest.source,
      license: data.manifest.license,
      train: data.train.count,
      test: data.test.count,
      vocabSize: data.manifest.vocabSize,
      classes: data.manifest.classes,
    },
    params: op.dim,
    graphBuildMs: op.buildMs,
    stepsDone,
    interrupted,
    wallSeconds: seconds(),
    msPerStep: { mean: stepMs.reduce((a, b) => a + b, 0) / Math.max(1, stepMs.length), median: median(stepMs) },
    final: {
      step: stepsDone,
      loss: clean.loss,
      accuracy: clean.accuracy,
      examples: clean.examples,
      robustLoss: robust.robustLoss,
      robustAccuracy: robust.robustAccuracy,
      attack: o.attack,
      robustExamples: robust.examples,
      majority,
    },
    memory: {
      // Trainer state per parameter: w, F(w) and the optimizer's moments, all float32.
      stateBytesPerParam: (w.byteLength + g.byteLength + opt.stateBytes) / op.dim,
      rssBytes: process.memoryUsage().rss,
    },
    curve,
    evals: [...evals, { step: stepsDone, loss: clean.loss, accuracy: clean.accuracy, examples: clean.examples, seconds: seconds() }],
  };
  if (o.out) {
    await writeResults(o.out, summary);
    // The trained parameters, raw little-endian float32 in layout order (for later evaluation or fine-tuning).
    await writeFileAtomic(join(o.out, 'params.f32'), new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
  }
  return summary;
}

export async function writeResults(out: string, s: TrainSummary): Promise<void> {
  await writeJsonAtomic(join(out, 'summary.json'), s);
  const csv = (header: string[], rows: (number | null)[][]): string => stringify([header, ...rows]);
  await writeFileAtomic(
    join(out, 'train.csv'),
    csv(
      ['step', 'loss', 'adv_loss', 'lr', 'ms', 'seconds'],
      s.curve.map((p) => [p.step, p.loss, p.advLoss, p.lr, p.ms, p.seconds]),
    ),
  );
  await writeFileAtomic(
    join(out, 'eval.csv'),
    csv(
      ['step', 'test_loss', 'test_accuracy', 'examples', 'seconds'],
      s.evals.map((p) => [p.step, p.loss, p.accuracy, p.examples, p.seconds]),
    ),
  );
  await writeFileAtomic(join(out, 'training.svg'), plotTraining(s));
}

/** Two panels: training loss (and adversarial loss) per step; test loss and accuracy per step. */
export function plotTraining(s: TrainSummary): string {
  const adv = s.task.adversarial !== null;
  const steps = s.curve.map((p) => p.step);
  const smooth = (ys: readonly number[]): number[] => {
    // Trailing mean over 20 steps: minibatch losses are noisy.
    const out: number[] = [];
    let acc = 0;
    ys.forEach((y, i) => {
      acc += y;
      if (i >= 20) acc -= ys[i - 20];
      out.push(acc / Math.min(i + 1, 20));
    });
    return out;
  };
  const unit = s.task.objective === 'classify' ? 'examples' : 'masked tokens';
  return renderLineChart({
    title: `masha train --local: ${s.task.objective}${adv ? ' (adversarial, FreeLB)' : ''}, ${s.params.toLocaleString('en-US')} parameters, ${s.backend}`,
    panels: [
      {
        title: 'training loss (mean of the last 20 steps)',
        xLabel: 'step',
        yLabel: 'cross-entropy',
        yScale: 'log',
        series: [
          { name: 'clean loss', x: steps, y: smooth(s.curve.map((p) => p.loss)) },
          ...(adv ? [{ name: 'adversarial loss', x: steps, y: smooth(s.curve.map((p) => p.advLoss)), dash: '6 3' }] : []),
        ],
      },
      {
        title: `test accuracy (${unit})`,
        xLabel: 'step',
        yLabel: 'accuracy',
        yScale: 'linear',
        yDomain: [0, 1],
        ...(s.final.majority !== null ? { reference: { y: s.final.majority, label: 'majority class' } } : {}),
        series: [{ name: 'test accuracy', x: s.evals.map((p) => p.step), y: s.evals.map((p) => p.accuracy) }],
      },
    ],
  });
}

/**
 * Model runs on the swarm, the Node side: the Evaluator a volunteer computes F_{m,s} with (the tiny
 * ALBERT on onnxruntime-node over the built dataset, or the pure-TypeScript softmax model), and the
 * launcher's probe that measures the training objective and the test accuracy of the iterate its
 * observer holds.
 */
import type { ModelRun } from '@masha/protocol';
import { ModelEvaluator, ModelOperator, OperatorEvaluator, SerialEvaluator, SoftmaxOperator, type SampledOperator } from '@masha/protocol/model';
import { loadDataset } from './data.js';
import { createRuntime, type NodeBackend } from './runtimes.js';
import type { ExecutionProvider } from './device.js';

export interface ModelEvaluatorHandle {
  /** One request at a time; `inner` counts the evaluations and the busy time. */
  readonly evaluator: SerialEvaluator<OperatorEvaluator>;
  release(): Promise<void>;
}

export interface ModelRuntimeOptions {
  readonly backend?: NodeBackend;
  readonly threads?: number;
  readonly dataDir?: string;
  /** onnxruntime-node's execution provider (default the CPU; choose it with device.ts's probe). */
  readonly provider?: ExecutionProvider;
}

/** The operator of a model run (loads the dataset and builds the ONNX session for kind `model`). */
export async function createModelOperator(run: ModelRun, opts: ModelRuntimeOptions = {}): Promise<{ operator: SampledOperator; release: () => Promise<void> }> {
  if (run.task.kind === 'softmax') return { operator: new SoftmaxOperator(run.task.task), release: () => Promise.resolve() };
  const data = await loadDataset(opts.dataDir);
  const rt = await createRuntime(opts.backend ?? 'node', { threads: opts.threads ?? 1, provider: opts.provider ?? 'cpu' });
  const op = await ModelOperator.create(rt, run.task.task, data.train, () => performance.now());
  return { operator: op, release: () => op.release() };
}

export async function createModelEvaluator(run: ModelRun, opts: ModelRuntimeOptions = {}): Promise<ModelEvaluatorHandle> {
  const { operator, release } = await createModelOperator(run, opts);
  return { evaluator: new SerialEvaluator(new OperatorEvaluator(operator, () => performance.now()), setImmediate), release };
}

/** Loss and accuracy of an iterate (a fixed slice of the test set, or the whole set for `final`). */
export interface ModelMeasure {
  readonly loss: number;
  readonly accuracy: number;
  readonly robustLoss: number | null;
  readonly robustAccuracy: number | null;
  readonly examples: number;
}

export interface ModelProbe {
  /** Quick: clean loss and accuracy on the first `probeExamples` test examples. */
  measure(z: Float32Array): Promise<ModelMeasure>;
  /** The whole test split, with the robust accuracy under the task's attack (ε, K + 2 steps). */
  final(z: Float32Array): Promise<ModelMeasure>;
  release(): Promise<void>;
}

export async function createModelProbe(
  run: ModelRun,
  opts: ModelRuntimeOptions & { probeExamples?: number; finalExamples?: number } = {},
): Promise<ModelProbe> {
  const probeN = opts.probeExamples ?? 64;
  if (run.task.kind === 'softmax') {
    const t = run.task.task;
    const op = new SoftmaxOperator(t);
    const m = (z: Float32Array): Promise<ModelMeasure> => {
      const r = op.loss(z, 'test');
      return Promise.resolve({ loss: r.loss, accuracy: r.accuracy, robustLoss: null, robustAccuracy: null, examples: t.test });
    };
    return { measure: m, final: m, release: () => Promise.resolve() };
  }
  const task = run.task.task;
  const data = await loadDataset(opts.dataDir);
  const rt = await createRuntime(opts.backend ?? 'node', { threads: opts.threads ?? 1 });
  const quick = await ModelEvaluator.create(rt, task, data.test, { maxExamples: probeN });
  const adv = task.adversarial;
  const attack = adv ? { epsilon: adv.epsilon, steps: adv.steps + 2, stepSize: adv.stepSize } : null;
  const full = await ModelEvaluator.create(rt, task, data.test, { attack, ...(opts.finalExamples !== undefined ? { maxExamples: opts.finalExamples } : {}) });
  return {
    measure: (z) => quick.evaluate(z),
    final: (z) => full.evaluate(z),
    release: async () => {
      await quick.release();
      await full.release();
    },
  };
}

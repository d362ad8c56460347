/**
 * Test-set evaluation: clean loss and accuracy (forward-only graph), and robust loss and accuracy
 * under an ε-bounded embedding attack — per-example PGD on ρ (`steps` normalised ascent steps of
 * length `stepSize`, projected on ‖ρ_n‖ ≤ ε) from ρ = 0, with a graph that differentiates the loss
 * with respect to ρ only. Accuracy is per example (classify) or per masked token (mlm, masks drawn
 * from a fixed stream so that every evaluation sees the same masks).
 */
import { keyedRng, SHARED } from '../rng/streams.js';
import { AlbertSession } from './albert/session.js';
import { IO } from './albert/graph.js';
import { fillBatch } from './data/batches.js';
import type { TokenSet } from './data/shards.js';
import { ascend } from './freelb.js';
import type { OrtRuntime } from './runtime/port.js';
import { disposeOutputs, floatOutput, scalarOutput } from './runtime/session.js';
import type { AdversarialConfig, ModelTask } from './task.js';

export interface AttackConfig {
  readonly epsilon: number;
  readonly steps: number;
  readonly stepSize: number;
}

export interface EvalResult {
  readonly loss: number;
  readonly accuracy: number;
  /** Under the attack (null without one). */
  readonly robustLoss: number | null;
  readonly robustAccuracy: number | null;
  /** Examples (classify) or masked tokens (mlm) scored. */
  readonly examples: number;
}

export interface EvaluatorOptions {
  readonly batch?: number;
  readonly attack?: AttackConfig | null;
  /** Evaluate only the first n test examples. */
  readonly maxExamples?: number;
}

export class ModelEvaluator {
  private readonly task: ModelTask;
  private readonly test: TokenSet;
  private readonly clean: AlbertSession;
  private readonly attacker: AlbertSession | null;
  private readonly attack: AdversarialConfig | null;
  private readonly count: number;

  private constructor(task: ModelTask, test: TokenSet, clean: AlbertSession, attacker: AlbertSession | null, attack: AttackConfig | null, count: number) {
    this.task = task;
    this.test = test;
    this.clean = clean;
    this.attacker = attacker;
    this.attack = attack ? { ...attack, beta: 0, init: 'zero' } : null;
    this.count = count;
  }

  static async create(rt: OrtRuntime, task: ModelTask, test: TokenSet, opts: EvaluatorOptions = {}): Promise<ModelEvaluator> {
    const batch = opts.batch ?? task.batch;
    const clean = await AlbertSession.create(rt, task.model, task.objective, 'eval', batch);
    const attacker = opts.attack ? await AlbertSession.create(rt, task.model, task.objective, 'attack', batch) : null;
    const count = Math.min(test.count, opts.maxExamples ?? test.count);
    return new ModelEvaluator(task, test, clean, attacker, opts.attack ?? null, count);
  }

  async evaluate(params: Float32Array): Promise<EvalResult> {
    const B = this.clean.batch.batch;
    const c = this.task.model;
    const mlm = this.task.objective === 'mlm';
    let loss = 0;
    let correct = 0;
    let rLoss = 0;
    let rCorrect = 0;
    let total = 0;
    const idx = new Int32Array(B);
    for (let start = 0, k = 0; start < this.count; start += B, k++) {
      const n = Math.min(B, this.count - start);
      for (let i = 0; i < n; i++) idx[i] = start + i;
      const sub = idx.subarray(0, n);
      const maskRng = (): ReturnType<typeof keyedRng> | null => (mlm ? keyedRng(this.task.seed, k, 'model-eval-mask', SHARED) : null);
      const buf = this.clean.batch;
      fillBatch(c, this.test, sub, buf, mlm, maskRng());
      this.clean.bindParams(params);
      const res = await this.clean.run();
      let w = 0;
      const ws = mlm ? buf.mlmWeights : buf.weights;
      for (let i = 0; i < ws.length; i++) w += ws[i];
      loss += scalarOutput(res, IO.loss) * w;
      correct += scalarOutput(res, IO.correct);
      disposeOutputs(res);
      total += w;
      if (this.attacker && this.attack) {
        const a = this.attacker;
        fillBatch(c, this.test, sub, a.batch, mlm, maskRng());
        a.bindParams(params);
        a.delta.fill(0);
        for (let t = 0; t <= this.attack.steps; t++) {
          const r = await a.run();
          if (t === this.attack.steps) {
            rLoss += scalarOutput(r, IO.loss) * w;
            rCorrect += scalarOutput(r, IO.correct);
          } else ascend(a.delta, floatOutput(r, IO.gradDelta), a.batch.mask, B, c.seqLen, c.embed, this.attack);
          disposeOutputs(r);
        }
      }
    }
    const robust = this.attacker !== null;
    return {
      loss: loss / total,
      accuracy: correct / total,
      robustLoss: robust ? rLoss / total : null,
      robustAccuracy: robust ? rCorrect / total : null,
      examples: total,
    };
  }

  async release(): Promise<void> {
    await this.clean.release();
    await this.attacker?.release();
  }
}

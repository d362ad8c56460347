/**
 * The model operator the distributed methods consume: `evaluate(shard, sample, w, out)` writes
 * F_{m,i}(w), the w-part of the saddle operator for shard m's minibatch i, into `out`.
 *
 * Objective (SPEC §7, seed §5.2):
 *   min_w max_{‖ρ_n‖ ≤ ε} f(w, ρ) = (1/N)Σ_n ℓ(f(w, x_n + ρ_n), y_n) + (λ/2)‖w‖² − (β/2)‖ρ‖².
 * Its VI operator is F(w, ρ) = (∇_w f, −∇_ρ f). Each ρ_n enters only example n's term, so the
 * ρ-block splits across devices and examples: device m owns the ρ of its minibatch and never sends
 * it. It solves its block approximately by K − 1 projected normalised ascent steps from ρ⁰
 * (ρ^{t+1} = Π(ρ^t + α u/‖u‖), u = ∇_ρ f(w, ρ^t), see freelb.ts) and returns the w-block averaged
 * over the iterates, exactly as FreeLB accumulates its parameter gradient:
 *
 *   F_{m,i}(w) = (1/K) Σ_{t=0}^{K−1} ∇_w ℓ̄_{m,i}(w, ρ^t(w)) + λw,
 *
 * ℓ̄_{m,i} the weighted mean loss of minibatch i of shard m (batch and MLM masks drawn from
 * keyed streams of the task seed, so every holder of the shard computes the same F_{m,i}).
 * With ρ^t at the maximiser, ∇_w f(w, ρ*(w)) is the gradient of the robust loss max_ρ f (Danskin),
 * i.e. the w-block of the VI operator at a point where its ρ-block condition holds; FreeLB's
 * average over the ascent path is the cheap estimate of it that the seed trains with. K = 1 (or no
 * adversarial settings) gives the clean gradient ∇_w ℓ̄ + λw.
 */
import { keyedRng, SHARED } from '../rng/streams.js';
import type { TokenSet } from './data/shards.js';
import { fillBatch, sampleExamples } from './data/batches.js';
import { shardRange } from './data/dataset.js';
import { AlbertSession } from './albert/session.js';
import { IO } from './albert/graph.js';
import { initParams, type ParamLayout } from './albert/params.js';
import type { OrtRuntime } from './runtime/port.js';
import { disposeOutputs, floatOutput, readOutput, scalarOutput } from './runtime/session.js';
import { ascend, initPerturbation } from './freelb.js';
import type { ModelTask } from './task.js';
import { ValidationError } from '../errors.js';

export interface OperatorStats {
  /** Mean loss at ρ⁰ (the clean loss when ρ⁰ = 0). */
  readonly loss: number;
  /** Mean loss at the last perturbation evaluated (ρ^{K−1}); equals `loss` when K = 1. */
  readonly advLoss: number;
  /** Correct predictions (weighted) at ρ⁰. */
  readonly correct: number;
  /** Examples (classify) or masked tokens (mlm) in the minibatch. */
  readonly examples: number;
  /** Wall time of the call in ms (0 without a clock). */
  readonly ms: number;
}

import { STREAMS } from './streams.js';

export { STREAMS };

export class ModelOperator {
  readonly task: ModelTask;
  readonly layout: ParamLayout;
  /** Parameter count d. */
  readonly dim: number;
  /** M. */
  readonly shards: number;
  private readonly train: TokenSet;
  private readonly sess: AlbertSession;
  private readonly clock: () => number;
  private readonly indices: Int32Array;
  private busy = false;

  private constructor(task: ModelTask, train: TokenSet, sess: AlbertSession, clock: () => number) {
    this.task = task;
    this.train = train;
    this.sess = sess;
    this.layout = sess.layout;
    this.dim = sess.layout.size;
    this.shards = task.shards;
    this.clock = clock;
    this.indices = new Int32Array(task.batch);
  }

  /** Builds the training graph and its session (once). `train` is the whole training split or any superset of the shards used. */
  static async create(rt: OrtRuntime, task: ModelTask, train: TokenSet, clock: () => number = () => 0): Promise<ModelOperator> {
    if (train.vocabSize > task.model.vocabSize)
      throw new ValidationError('task.model.vocabSize', `the data uses ${train.vocabSize} token ids, the model has ${task.model.vocabSize}`);
    if (task.objective === 'classify' && train.classes > task.model.classes)
      throw new ValidationError('task.model.classes', `the data has ${train.classes} classes, the model ${task.model.classes}`);
    shardRange(train.count, task.shards, 0);
    const sess = await AlbertSession.create(rt, task.model, task.objective, 'train', task.batch, clock);
    return new ModelOperator(task, train, sess, clock);
  }

  /** Graph build + serialisation time (ms, with a clock). */
  get buildMs(): number {
    return this.sess.buildMs;
  }

  /** w⁰: the seeded initial parameters (same on every peer). */
  initialParams(): Float32Array {
    return initParams(this.layout, this.task.model.initStd, keyedRng(this.task.seed, 0, STREAMS.init, SHARED)) as Float32Array;
  }

  /** Example range of shard m. */
  shardRange(m: number): { start: number; end: number } {
    return shardRange(this.train.count, this.shards, m);
  }

  /** Writes F_{m,i}(params) into `out` (length dim), or subtracts it from `out` (`subtract`). Calls must not overlap. */
  async evaluate(shard: number, sample: number, params: Float32Array, out: Float32Array, subtract = false): Promise<OperatorStats> {
    if (this.busy) throw new Error('ModelOperator.evaluate: a call is already in progress');
    if (out.length !== this.dim) throw new RangeError(`out: expected ${this.dim} values, got ${out.length}`);
    if (!Number.isSafeInteger(sample) || sample < 0) throw new RangeError(`sample must be a non-negative integer, got ${sample}`);
    this.busy = true;
    const t0 = this.clock();
    try {
      const { start, end } = this.shardRange(shard);
      const task = this.task;
      const c = task.model;
      const seed = task.seed;
      const idx = sampleExamples(keyedRng(seed, sample, STREAMS.batch, shard), start, end, task.batch, this.indices);
      const mlm = task.objective === 'mlm';
      const buf = this.sess.batch;
      fillBatch(c, this.train, idx, buf, mlm, mlm ? keyedRng(seed, sample, STREAMS.mask, shard) : null);
      this.sess.bindParams(params);
      // The parameters stay fixed over the K ascent steps below: a GPU runtime may keep them on the device.
      this.sess.beginEvaluation();
      const adv = task.adversarial;
      const K = adv ? adv.steps : 1;
      const rho = this.sess.delta;
      if (adv) initPerturbation(rho, buf.mask, task.batch, c.seqLen, c.embed, adv, keyedRng(seed, sample, STREAMS.adv, shard));
      else rho.fill(0);
      let loss = 0;
      let advLoss = 0;
      let correct = 0;
      for (let t = 0; t < K; t++) {
        const res = await this.sess.run();
        const l = scalarOutput(res, IO.loss);
        if (!Number.isFinite(l)) throw new RangeError(`non-finite loss ${l} (shard ${shard}, sample ${sample}, step ${t})`);
        if (t === 0) {
          loss = l;
          correct = scalarOutput(res, IO.correct);
        }
        advLoss = l;
        readOutput(res, IO.grad, out, subtract ? -1 / K : 1 / K, subtract || t > 0);
        if (adv && t < K - 1) ascend(rho, floatOutput(res, IO.gradDelta), buf.mask, task.batch, c.seqLen, c.embed, adv);
        disposeOutputs(res);
      }
      if (task.lambda > 0) {
        const l = subtract ? -task.lambda : task.lambda;
        for (let i = 0; i < out.length; i++) out[i] += l * params[i];
      }
      let examples = 0;
      const w = mlm ? buf.mlmWeights : buf.weights;
      for (let i = 0; i < w.length; i++) examples += w[i];
      return { loss, advLoss, correct, examples, ms: this.clock() - t0 };
    } finally {
      this.busy = false;
    }
  }

  release(): Promise<void> {
    return this.sess.release();
  }
}

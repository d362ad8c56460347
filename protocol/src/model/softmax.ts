/**
 * A small pure-TypeScript model with the same contract as the tiny ALBERT's operator: multinomial
 * logistic regression (tensors `w` [features × classes] and `b` [classes]) trained adversarially —
 * each example's input gets a perturbation ρ_n, ‖ρ_n‖ ≤ ε, found by K − 1 normalised ascent steps
 * (FreeLB, as operator.ts), and F_{m,s}(w) is the parameter gradient averaged over the K iterates
 * plus λw. Synchronous and in float32 storage, so that the simulator and the engine tests run
 * model methods (per-tensor compression, optimizers, float32 replicas) without ONNX Runtime.
 *
 * Data: seeded Gaussian classes (class means N(0, sep²·I), examples mean + N(0, I)), split into M
 * contiguous shards and a test set; minibatch s of shard m from the stream (seed, s, 'model-batch', m).
 */
import { keyedRng, SHARED } from '../rng/streams.js';
import { ValidationError } from '../errors.js';
import type { ParamLayout } from './albert/params.js';
import type { SampledOperator } from './sampled.js';

export interface SoftmaxTask {
  readonly features: number;
  readonly classes: number;
  /** Training examples per shard. */
  readonly perShard: number;
  readonly shards: number;
  readonly test: number;
  readonly batch: number;
  readonly seed: number;
  /** Distance scale of the class means. */
  readonly separation: number;
  readonly lambda: number;
  /** null: clean training. */
  readonly adversarial: { readonly epsilon: number; readonly steps: number; readonly stepSize: number } | null;
}

export class SoftmaxOperator implements SampledOperator {
  readonly task: SoftmaxTask;
  readonly layout: ParamLayout;
  readonly dim: number;
  readonly shards: number;
  private readonly x: Float32Array;
  private readonly y: Int32Array;
  private readonly testX: Float32Array;
  private readonly testY: Int32Array;
  // Scratch (one batch).
  private readonly rho: Float64Array;
  private readonly gl: Float64Array;
  private readonly logits: Float64Array;
  private readonly idx: Int32Array;
  private readonly acc: Float64Array;

  constructor(task: SoftmaxTask) {
    const { features: F, classes: C, perShard, shards, test, batch } = task;
    if (!(F >= 1 && C >= 2 && perShard >= 1 && shards >= 1 && batch >= 1 && test >= 0)) throw new ValidationError('task', 'softmax task: bad sizes');
    this.task = task;
    this.shards = shards;
    this.layout = {
      specs: [
        { name: 'w', shape: [F, C], offset: 0, size: F * C, init: 'zeros', decay: true },
        { name: 'b', shape: [C], offset: F * C, size: C, init: 'zeros', decay: false },
      ],
      size: F * C + C,
    };
    this.dim = this.layout.size;
    const rng = keyedRng(task.seed, 0, 'softmax-data', SHARED);
    const means = new Float64Array(C * F);
    for (let i = 0; i < means.length; i++) means[i] = task.separation * rng.nextGaussian();
    const gen = (n: number): [Float32Array, Int32Array] => {
      const x = new Float32Array(n * F);
      const y = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const c = rng.nextInt(C);
        y[i] = c;
        for (let f = 0; f < F; f++) x[i * F + f] = means[c * F + f] + rng.nextGaussian();
      }
      return [x, y];
    };
    [this.x, this.y] = gen(perShard * shards);
    [this.testX, this.testY] = gen(test);
    this.rho = new Float64Array(batch * F);
    this.gl = new Float64Array(batch * C);
    this.logits = new Float64Array(C);
    this.idx = new Int32Array(batch);
    this.acc = new Float64Array(this.dim);
  }

  /** w⁰ = 0. */
  initialParams(): Float32Array {
    return new Float32Array(this.dim);
  }

  evaluate(shard: number, sample: number, point: Float32Array, out: Float32Array, subtract: boolean): void {
    const { features: F, classes: C, perShard, batch: B, lambda } = this.task;
    if (!(Number.isSafeInteger(shard) && shard >= 0 && shard < this.shards)) throw new RangeError(`no shard ${shard}`);
    if (point.length !== this.dim || out.length !== this.dim) throw new RangeError(`expected ${this.dim} values`);
    const rng = keyedRng(this.task.seed, sample, 'model-batch', shard);
    for (let i = 0; i < B; i++) this.idx[i] = shard * perShard + rng.nextInt(perShard);
    const adv = this.task.adversarial;
    const K = adv ? adv.steps : 1;
    const rho = this.rho;
    rho.fill(0);
    const acc = this.acc;
    acc.fill(0);
    for (let t = 0; t < K; t++) {
      this.batchGradient(point, acc, 1 / K);
      if (adv && t < K - 1) {
        // ρ_n ← Π(ρ_n + α u_n/‖u_n‖), u_n = ∂ℓ̄/∂x_n = gl_n Wᵀ.
        for (let n = 0; n < B; n++) {
          let nn = 0;
          for (let f = 0; f < F; f++) {
            let u = 0;
            for (let c = 0; c < C; c++) u += this.gl[n * C + c] * point[f * C + c];
            nn += u * u;
          }
          if (!(nn > 0)) continue;
          const k = adv.stepSize / Math.sqrt(nn);
          let rn = 0;
          for (let f = 0; f < F; f++) {
            let u = 0;
            for (let c = 0; c < C; c++) u += this.gl[n * C + c] * point[f * C + c];
            rho[n * F + f] += k * u;
            rn += rho[n * F + f] ** 2;
          }
          const norm = Math.sqrt(rn);
          if (norm > adv.epsilon) for (let f = 0; f < F; f++) rho[n * F + f] *= adv.epsilon / norm;
        }
      }
    }
    for (let i = 0; i < this.dim; i++) {
      const v = acc[i] + lambda * point[i];
      out[i] = subtract ? out[i] - v : v;
    }
  }

  /** acc += scale · ∇_w ℓ̄ at the batch's inputs x + ρ; leaves ∂ℓ̄/∂logits in `gl`. */
  private batchGradient(point: Float32Array, acc: Float64Array, scale: number): void {
    const { features: F, classes: C, batch: B } = this.task;
    const bOff = F * C;
    for (let n = 0; n < B; n++) {
      const e = this.idx[n];
      let max = -Infinity;
      for (let c = 0; c < C; c++) {
        let z = point[bOff + c];
        for (let f = 0; f < F; f++) z += (this.x[e * F + f] + this.rho[n * F + f]) * point[f * C + c];
        this.logits[c] = z;
        if (z > max) max = z;
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(this.logits[c] - max);
      for (let c = 0; c < C; c++) this.gl[n * C + c] = (Math.exp(this.logits[c] - max) / sum - (this.y[e] === c ? 1 : 0)) / B;
      for (let c = 0; c < C; c++) {
        const g = scale * this.gl[n * C + c];
        acc[bOff + c] += g;
        for (let f = 0; f < F; f++) acc[f * C + c] += g * (this.x[e * F + f] + this.rho[n * F + f]);
      }
    }
  }

  /** Mean clean cross-entropy of minibatch s of shard m (the batch `evaluate` draws), float64 parameters. */
  batchLoss(shard: number, sample: number, point: Float64Array | Float32Array): number {
    const { features: F, classes: C, perShard, batch: B } = this.task;
    const rng = keyedRng(this.task.seed, sample, 'model-batch', shard);
    let loss = 0;
    for (let n = 0; n < B; n++) {
      const e = shard * perShard + rng.nextInt(perShard);
      let max = -Infinity;
      for (let c = 0; c < C; c++) {
        let z = point[F * C + c];
        for (let f = 0; f < F; f++) z += this.x[e * F + f] * point[f * C + c];
        this.logits[c] = z;
        if (z > max) max = z;
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(this.logits[c] - max);
      loss += Math.log(sum) + max - this.logits[this.y[e]];
    }
    return loss / B;
  }

  /** Mean cross-entropy and accuracy over the training set (`train`) or the test set. */
  loss(point: Float32Array | Float64Array, which: 'train' | 'test' = 'train'): { loss: number; accuracy: number } {
    const { features: F, classes: C } = this.task;
    const x = which === 'train' ? this.x : this.testX;
    const y = which === 'train' ? this.y : this.testY;
    const n = y.length;
    let loss = 0;
    let correct = 0;
    for (let e = 0; e < n; e++) {
      let max = -Infinity;
      let arg = 0;
      for (let c = 0; c < C; c++) {
        let z = point[F * C + c];
        for (let f = 0; f < F; f++) z += x[e * F + f] * point[f * C + c];
        this.logits[c] = z;
        if (z > max) {
          max = z;
          arg = c;
        }
      }
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(this.logits[c] - max);
      loss += Math.log(sum) + max - this.logits[y[e]];
      if (arg === y[e]) correct++;
    }
    return { loss: loss / Math.max(1, n), accuracy: correct / Math.max(1, n) };
  }
}

/**
 * Optimizers over the flat float32 parameter vector: SGD with momentum, Adam (decoupled weight
 * decay, i.e. AdamW) and LAMB (You et al. 2020; the seed trains ALBERT with it: Adam's direction
 * rescaled per tensor by the trust ratio ‖w‖/‖r‖). Weight decay applies to the layout's matrices
 * only (not biases or layer-norm parameters), as BERT/ALBERT do. Deterministic: the same gradients
 * give bit-identical parameters on every peer. State is float32 (m, v: 8 bytes per parameter for
 * Adam/LAMB, 4 for SGD).
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { ParamLayout } from './albert/params.js';

export const OPTIMIZER_NAMES = ['sgd', 'adam', 'lamb'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export const optimizerSchema = z.strictObject({
  name: z.enum(OPTIMIZER_NAMES),
  lr: z.number().positive().max(10),
  /** SGD momentum μ. */
  momentum: z.number().min(0).lt(1).default(0.9),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().max(1).default(1e-6),
  weightDecay: z.number().min(0).max(1).default(0.01),
  /** Linear warm-up steps, then linear decay to 0 at `totalSteps` (when given). */
  warmup: z.number().int().min(0).default(0),
  totalSteps: z.number().int().min(1).optional(),
});
export type OptimizerConfig = z.infer<typeof optimizerSchema>;
export type OptimizerConfigInput = z.input<typeof optimizerSchema>;

export function parseOptimizer(value: unknown, prefix = 'optimizer'): OptimizerConfig {
  const r = optimizerSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map(String).join('.');
    throw new ValidationError(path ? `${prefix}.${path}` : prefix, issue.message);
  }
  return r.data;
}

/** The learning rate at step t (0-based): warm-up, then linear decay when totalSteps is set. */
export function learningRate(c: OptimizerConfig, t: number): number {
  if (c.warmup > 0 && t < c.warmup) return (c.lr * (t + 1)) / c.warmup;
  if (c.totalSteps === undefined) return c.lr;
  const rest = Math.max(1, c.totalSteps - c.warmup);
  return c.lr * Math.max(0, 1 - (t - c.warmup) / rest);
}

export class Optimizer {
  readonly config: OptimizerConfig;
  readonly layout: ParamLayout;
  /** First moment (Adam/LAMB) or momentum buffer (SGD). */
  readonly m: Float32Array;
  /** Second moment (Adam/LAMB; empty for SGD). */
  readonly v: Float32Array;
  /** Steps taken. */
  t = 0;
  private readonly decay: Uint8Array;

  constructor(config: OptimizerConfig, layout: ParamLayout) {
    this.config = config;
    this.layout = layout;
    this.m = new Float32Array(layout.size);
    this.v = new Float32Array(config.name === 'sgd' ? 0 : layout.size);
    this.decay = new Uint8Array(layout.specs.length);
    layout.specs.forEach((s, i) => (this.decay[i] = s.decay ? 1 : 0));
  }

  /** Bytes of optimizer state. */
  get stateBytes(): number {
    return this.m.byteLength + this.v.byteLength;
  }

  /** One step: params ← params − update(grad). Returns the learning rate used. */
  step(params: Float32Array, grad: Float32Array): number {
    const n = this.layout.size;
    if (params.length !== n || grad.length !== n) throw new RangeError(`Optimizer.step: expected ${n} values`);
    const c = this.config;
    const lr = learningRate(c, this.t);
    this.t++;
    const m = this.m;
    const v = this.v;
    const specs = this.layout.specs;
    switch (c.name) {
      case 'sgd': {
        const mu = c.momentum;
        for (let k = 0; k < specs.length; k++) {
          const s = specs[k];
          const wd = this.decay[k] ? c.weightDecay : 0;
          for (let i = s.offset; i < s.offset + s.size; i++) {
            const gi = grad[i] + wd * params[i];
            m[i] = mu * m[i] + gi;
            params[i] -= lr * m[i];
          }
        }
        break;
      }
      case 'adam':
      case 'lamb': {
        const b1 = c.beta1;
        const b2 = c.beta2;
        const c1 = 1 / (1 - b1 ** this.t);
        const c2 = 1 / (1 - b2 ** this.t);
        for (let k = 0; k < specs.length; k++) {
          const s = specs[k];
          const wd = this.decay[k] ? c.weightDecay : 0;
          const end = s.offset + s.size;
          let wn = 0;
          let rn = 0;
          for (let i = s.offset; i < end; i++) {
            const gi = grad[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            if (c.name === 'lamb') {
              const r = (m[i] * c1) / (Math.sqrt(v[i] * c2) + c.eps) + wd * params[i];
              wn += params[i] * params[i];
              rn += r * r;
            }
          }
          let scale = lr;
          if (c.name === 'lamb') {
            const trust = wn > 0 && rn > 0 ? Math.sqrt(wn) / Math.sqrt(rn) : 1;
            scale = lr * trust;
          }
          for (let i = s.offset; i < end; i++) {
            const r = (m[i] * c1) / (Math.sqrt(v[i] * c2) + c.eps) + wd * params[i];
            params[i] -= scale * r;
          }
        }
        break;
      }
      default: {
        const never: never = c.name;
        throw new RangeError(`unknown optimizer ${String(never)}`);
      }
    }
    return lr;
  }
}

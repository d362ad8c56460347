/**
 * A model task: what the operator computes (model, objective, batch, adversarial settings, seed,
 * shard count), validated with zod so that CLI flags and run manifests share one schema; errors
 * name the field (`task.adversarial.epsilon`).
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { OBJECTIVES, albertConfigSchema, parseAlbertConfig } from './albert/config.js';

export const ADV_INITS = ['zero', 'uniform'] as const;

export const TASK_DEFAULTS = {
  batch: 16,
  lambda: 0,
  adversarial: { epsilon: 0.05, steps: 2, stepSize: 0.03, beta: 0, init: 'zero' as const },
};

export const adversarialSchema = z.strictObject({
  /** Radius of each example's perturbation ball, ‖ρ_n‖₂ ≤ ε (Frobenius over its tokens × E). */
  epsilon: z.number().positive().max(100).default(TASK_DEFAULTS.adversarial.epsilon),
  /** K: gradient evaluations (and K − 1 ascent steps) per evaluate call, FreeLB style. */
  steps: z.number().int().min(1).max(64).default(TASK_DEFAULTS.adversarial.steps),
  /** α: length of one normalised ascent step on ρ_n. */
  stepSize: z.number().positive().max(100).default(TASK_DEFAULTS.adversarial.stepSize),
  /** β ≥ 0: the −(β/2)‖ρ‖² term of the objective. */
  beta: z.number().min(0).max(1e6).default(TASK_DEFAULTS.adversarial.beta),
  /** ρ⁰: zero (first gradient is the clean one) or FreeLB's uniform start. */
  init: z.enum(ADV_INITS).default(TASK_DEFAULTS.adversarial.init),
});

export const modelTaskSchema = z.strictObject({
  model: albertConfigSchema.default(albertConfigSchema.parse({})),
  objective: z.enum(OBJECTIVES),
  /** Examples per minibatch (static: the graphs are built for it). */
  batch: z.number().int().min(1).max(4096).default(TASK_DEFAULTS.batch),
  /** λ ≥ 0: the (λ/2)‖w‖² term; the operator returns ∇_w + λw. */
  lambda: z.number().min(0).max(1e3).default(TASK_DEFAULTS.lambda),
  /** M: the training set is cut into M disjoint contiguous shards. */
  shards: z.number().int().min(1).max(100_000).default(1),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  /** null: plain (clean) training. */
  adversarial: adversarialSchema.nullable().default(null),
});

export type ModelTask = z.infer<typeof modelTaskSchema>;
export type ModelTaskInput = z.input<typeof modelTaskSchema>;
export type AdversarialConfig = z.infer<typeof adversarialSchema>;

export function parseModelTask(value: unknown, prefix = 'task'): ModelTask {
  const r = modelTaskSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.map(String).join('.');
    throw new ValidationError(path ? `${prefix}.${path}` : prefix, issue.message);
  }
  // Cross-field rules of the model.
  parseAlbertConfig(r.data.model, `${prefix}.model`);
  return r.data;
}

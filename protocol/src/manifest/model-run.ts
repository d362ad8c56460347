/**
 * From a model run's manifest to what its peers need: the model method (MASHA1/MASHA2 over the
 * w-part, per-tensor compression, the optimizer), the parameter layout, w⁰ and the engine's run
 * context. Pure: the operator that evaluates F_{m,s} is the runtime's business (ONNX Runtime on
 * the dataset for `model`, the pure-TypeScript `SoftmaxOperator` for `softmax`).
 */
import { perTensorCompressor } from '../compress/per-tensor.js';
import { createRunContext, type RunContext, type RunContextInit } from '../engine/context.js';
import { ValidationError } from '../errors.js';
import { albertLayout, initParams, type ParamLayout } from '../model/albert/params.js';
import { ModelMethod } from '../model/masha-model.js';
import { STREAMS } from '../model/streams.js';
import { SoftmaxOperator, type SoftmaxTask } from '../model/softmax.js';
import type { ModelTask } from '../model/task.js';
import { keyedRng, SHARED } from '../rng/streams.js';
import { networkOf } from './build.js';
import { runIdOf } from './canonical.js';
import { checkBuildLimits, type BuildLimits } from './estimate.js';
import type { BoundMode } from '../engine/guard.js';
import { isModelProblem, MANIFEST_DEFAULTS, MODEL_DEFAULT_TAU, type Manifest } from './schema.js';

export interface ModelRun {
  readonly manifest: Manifest;
  readonly runId: string;
  readonly method: ModelMethod;
  readonly layout: ParamLayout;
  readonly w0: Float32Array;
  readonly ctx: RunContext;
  /** The tiny ALBERT's task (kind `model`), or the softmax model's (kind `softmax`). */
  readonly task: { readonly kind: 'model'; readonly task: ModelTask } | { readonly kind: 'softmax'; readonly task: SoftmaxTask };
}

/** True when the manifest is a model run (then use `modelRunFromManifest`, not `runFromManifest`). */
export function isModelManifest(m: Manifest): boolean {
  return isModelProblem(m.problem);
}

export function softmaxTaskOf(m: Manifest): SoftmaxTask {
  if (m.problem.kind !== 'softmax') throw new ValidationError('problem.kind', 'not a softmax run');
  const { kind: _kind, ...task } = m.problem;
  return task;
}

export interface ModelRunOptions {
  readonly wallClock?: () => number;
  /** Run-context settings a runtime adds (a resumed run's resume point, membership and serving limits). */
  readonly context?: Pick<RunContextInit, 'maxMembers' | 'serving' | 'resume'>;
  /** Refuse, before building, a model this peer cannot hold or build in time (estimate.ts). */
  readonly limits?: BuildLimits;
  /** How this peer's limits are changed, named in the refusal (e.g. its command-line flags). */
  readonly limitsHint?: string;
}

/**
 * The bounds of a model run: a model has no Lipschitz constants, so the default 'lipschitz' — and
 * any run that does not turn bounds 'off' — uses the running bounds (engine/guard.ts).
 */
export function modelBounds(asked: BoundMode): BoundMode {
  return asked === 'off' ? 'off' : 'running';
}

export function modelRunFromManifest(manifest: Manifest, options: ModelRunOptions = {}): ModelRun {
  if (options.limits !== undefined) checkBuildLimits(manifest, options.limits, undefined, options.limitsHint);
  const p = manifest.problem;
  let layout: ParamLayout;
  let w0: Float32Array;
  let task: ModelRun['task'];
  if (p.kind === 'model') {
    layout = albertLayout(p.task.model);
    w0 = initParams(layout, p.task.model.initStd, keyedRng(p.task.seed, 0, STREAMS.init, SHARED)) as Float32Array;
    task = { kind: 'model', task: p.task };
  } else if (p.kind === 'softmax') {
    const t = softmaxTaskOf(manifest);
    const op = new SoftmaxOperator(t);
    layout = op.layout;
    w0 = op.initialParams();
    task = { kind: 'softmax', task: t };
  } else throw new ValidationError('problem.kind', `'${p.kind}' is not a model run`);
  const shards = p.kind === 'model' ? p.task.shards : p.shards;
  const mm = manifest.method;
  if (mm.name !== 'masha1' && mm.name !== 'masha2') throw new ValidationError('method.name', `model runs use masha1 or masha2, got '${mm.name}'`);
  const method = new ModelMethod({
    variant: mm.name,
    layout,
    shards,
    seed: manifest.seed,
    gamma: mm.gamma === 'theory' ? 1 : mm.gamma,
    tau: mm.tau ?? MODEL_DEFAULT_TAU,
    device: perTensorCompressor(manifest.compressors.device, layout.specs),
    ...(manifest.compressors.server === 'identity' ? {} : { server: perTensorCompressor(manifest.compressors.server, layout.specs) }),
    optimizer: mm.optimizer ?? null,
  });
  const runId = runIdOf(manifest);
  const updates = manifest.updates ?? MANIFEST_DEFAULTS.updates;
  const ctx = createRunContext({
    runId,
    method,
    z0: w0,
    maxIterations: manifest.stop.iterations,
    ...networkOf(manifest, shards, options.wallClock),
    guard: {
      audit: updates.audit,
      bounds: modelBounds(updates.bounds),
      boundFactor: updates.boundFactor,
      refusalLimit: updates.refusalLimit,
      shards: null,
    },
    ...options.context,
  });
  return { manifest, runId, method, layout, w0, ctx, task };
}

/**
 * The tiny ALBERT as builder graphs with static batch size B and sequence length S:
 *
 *   e  = LN_E(W_word[ids] + ρ + W_pos)              ρ: the additive embedding perturbation [B,S,E]
 *   h  = e·W_proj + b                                (E → H)
 *   L× h = LN1(h + MHA(h)); h = LN2(h + FFN(h))      one shared layer, post-LN as BERT/ALBERT
 *   mlm:      logits = LN_E(gelu(h[pos]·W_d + b_d))·W_wordᵀ + b_V   (tied decoder, gathered slots)
 *   classify: logits = tanh(h[:,0]·W_pool + b)·W_cls + b_cls
 *   loss = weighted mean cross-entropy
 *
 * Graph kinds: `train` outputs loss, correct, ∂loss/∂w flattened in layout order (`grad`, [P]) and
 * ∂loss/∂ρ (`grad_delta`); `attack` outputs loss, correct and grad_delta only; `eval` loss and
 * correct. `correct` is Σ weight·[argmax = label].
 */
import { Graph } from '../graph/builder.js';
import { gradients } from '../graph/autodiff.js';
import * as ops from '../graph/ops.js';
import type { FloatDType, Tensor } from '../graph/types.js';
import type { AlbertConfig, Objective } from './config.js';
import { albertLayout, type ParamLayout } from './params.js';

export type GraphKind = 'train' | 'attack' | 'eval';
export const GRAPH_KINDS: readonly GraphKind[] = ['train', 'attack', 'eval'];

export interface AlbertGraphOptions {
  readonly config: AlbertConfig;
  readonly objective: Objective;
  readonly batch: number;
  readonly kind: GraphKind;
  /** float32 for training; float64 for gradient checks (needs gelu 'tanh'). */
  readonly float?: FloatDType;
}

/** Input and output names (shared by the graphs and the operator that feeds them). */
export const IO = {
  param: (name: string): string => `p.${name}`,
  ids: 'ids',
  mask: 'mask',
  delta: 'delta',
  labels: 'labels',
  weights: 'weights',
  mlmPos: 'mlm_pos',
  mlmLabels: 'mlm_labels',
  mlmWeights: 'mlm_weights',
  loss: 'loss',
  correct: 'correct',
  grad: 'grad',
  gradDelta: 'grad_delta',
} as const;

export interface AlbertGraph {
  readonly graph: Graph;
  readonly layout: ParamLayout;
  readonly options: AlbertGraphOptions;
}

export function buildAlbertGraph(options: AlbertGraphOptions): AlbertGraph {
  const c = options.config;
  const B = options.batch;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batch must be a positive integer, got ${B}`);
  const { seqLen: S, embed: E, hidden: H, heads: NH, layers: L, mlmSlots: P } = c;
  const DH = H / NH;
  const dt: FloatDType = options.float ?? 'float32';
  const g = new Graph(dt);
  const layout = albertLayout(c);
  const trainParams = options.kind === 'train';
  const p: Record<string, Tensor> = {};
  for (const s of layout.specs) p[s.name] = g.input(IO.param(s.name), s.shape, dt, trainParams);
  const ids = g.input(IO.ids, [B, S], 'int32');
  const mask = g.input(IO.mask, [B, S], dt);
  const delta = g.input(IO.delta, [B, S, E], dt, options.kind !== 'eval');

  const sc = (v: number): Tensor => g.scalar(v, dt);
  const linear = (x: Tensor, w: string, b: string): Tensor => ops.linear(g, x, p[w], p[b]);
  const ln = (x: Tensor, name: string): Tensor => ops.layerNorm(g, x, p[`${name}.g`], p[`${name}.b`], c.lnEps);

  // Embeddings.
  let e = ops.add(g, ops.gather(g, p['emb.word'], ids), delta);
  e = ops.add(g, e, p['emb.pos']);
  e = ln(e, 'emb.ln');
  let h = linear(e, 'emb.proj.w', 'emb.proj.b');

  // Additive attention bias: 0 for tokens, −10⁴ for padding keys. [B,1,1,S]
  const bias = ops.reshape(g, ops.mul(g, ops.sub(g, mask, sc(1)), sc(10000)), [B, 1, 1, S]);
  const scale = sc(1 / Math.sqrt(DH));

  for (let l = 0; l < L; l++) {
    const qkv = linear(h, 'layer.attn.qkv.w', 'layer.attn.qkv.b');
    const [q, k, v] = ops.split(g, qkv, [H, H, H], 2);
    const heads = (x: Tensor, perm: number[]): Tensor => ops.transpose(g, ops.reshape(g, x, [B, S, NH, DH]), perm);
    const qh = heads(q, [0, 2, 1, 3]); // [B,NH,S,DH]
    const kh = heads(k, [0, 2, 3, 1]); // [B,NH,DH,S]
    const vh = heads(v, [0, 2, 1, 3]);
    const scores = ops.add(g, ops.mul(g, ops.matmul(g, qh, kh), scale), bias);
    const ctx = ops.matmul(g, ops.softmax(g, scores), vh); // [B,NH,S,DH]
    const merged = ops.reshape(g, ops.transpose(g, ctx, [0, 2, 1, 3]), [B, S, H]);
    h = ln(ops.add(g, h, linear(merged, 'layer.attn.out.w', 'layer.attn.out.b')), 'layer.ln1');
    const f = linear(ops.gelu(g, linear(h, 'layer.ffn.w1', 'layer.ffn.b1'), c.gelu), 'layer.ffn.w2', 'layer.ffn.b2');
    h = ln(ops.add(g, h, f), 'layer.ln2');
  }

  let logits: Tensor;
  let labels: Tensor;
  let weights: Tensor;
  switch (options.objective) {
    case 'mlm': {
      const pos = g.input(IO.mlmPos, [B * P], 'int32');
      labels = g.input(IO.mlmLabels, [B * P], 'int32');
      weights = g.input(IO.mlmWeights, [B * P], dt);
      const sel = ops.gather(g, ops.reshape(g, h, [B * S, H]), pos); // [B·P, H]
      const t = ln(ops.gelu(g, ops.gemm(g, sel, p['mlm.dense.w'], { c: p['mlm.dense.b'] }), c.gelu), 'mlm.ln');
      logits = ops.gemm(g, t, p['emb.word'], { transB: true, c: p['mlm.bias'] }); // [B·P, V]
      break;
    }
    case 'classify': {
      labels = g.input(IO.labels, [B], 'int32');
      weights = g.input(IO.weights, [B], dt);
      const first = ops.reshape(g, ops.slice(g, h, [0], [1], [1]), [B, H]);
      const pooled = ops.tanh(g, ops.gemm(g, first, p['cls.pool.w'], { c: p['cls.pool.b'] }));
      logits = ops.gemm(g, pooled, p['cls.out.w'], { c: p['cls.out.b'] });
      break;
    }
    default: {
      const never: never = options.objective;
      throw new RangeError(`unknown objective ${String(never)}`);
    }
  }
  const { loss } = ops.crossEntropy(g, logits, labels, weights);
  const hit = ops.cast(g, ops.equal(g, ops.argMax(g, logits, 1), ops.cast(g, labels, 'int64')), dt);
  g.output(IO.loss, loss);
  g.output(IO.correct, ops.sumAll(g, ops.mul(g, hit, weights)));

  switch (options.kind) {
    case 'train': {
      const wrt = [...layout.specs.map((s) => p[s.name]), delta];
      const grads = gradients(g, loss, wrt);
      const flat = layout.specs.map((s, i) => ops.reshape(g, grads[i] ?? ops.zeros(g, s.shape, dt), [s.size]));
      g.output(IO.grad, ops.concat(g, flat, 0));
      g.output(IO.gradDelta, grads[grads.length - 1] ?? ops.zeros(g, delta.shape, dt));
      break;
    }
    case 'attack': {
      const [gd] = gradients(g, loss, [delta]);
      g.output(IO.gradDelta, gd ?? ops.zeros(g, delta.shape, dt));
      break;
    }
    case 'eval':
      break;
    default: {
      const never: never = options.kind;
      throw new RangeError(`unknown graph kind ${String(never)}`);
    }
  }
  return { graph: g, layout, options };
}

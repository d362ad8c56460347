/**
 * The same tiny ALBERT written as an ordinary TF.js model (the stack disco uses): variables for
 * the same parameter tensors (initialised from the same flat vector), the forward pass with TF.js
 * ops, and gradients of the classification loss w.r.t. every parameter and the embedding
 * perturbation with `tf.variableGrads`. Benchmark baseline only (a devDependency).
 */
import * as tf from '@tensorflow/tfjs';
import type { AlbertConfig, ParamLayout } from '@masha/protocol';

export type TfBackend = 'wasm' | 'cpu';

export async function useTfBackend(b: TfBackend): Promise<void> {
  if (b === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(b))) throw new Error(`TF.js backend ${b} unavailable`);
  await tf.ready();
}

export class TfAlbert {
  private readonly c: AlbertConfig;
  private readonly p: Record<string, tf.Variable>;
  private readonly delta: tf.Variable;
  private readonly batch: number;

  constructor(c: AlbertConfig, layout: ParamLayout, params: Float32Array, batch: number) {
    this.c = c;
    this.batch = batch;
    this.p = {};
    for (const s of layout.specs) this.p[s.name] = tf.variable(tf.tensor(params.subarray(s.offset, s.offset + s.size), [...s.shape]), true, s.name);
    this.delta = tf.variable(tf.zeros([batch, c.seqLen, c.embed]), true, 'delta');
  }

  private ln(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(this.c.lnEps))).mul(this.p[`${name}.g`]).add(this.p[`${name}.b`]);
  }

  private gelu(x: tf.Tensor): tf.Tensor {
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(0.5).mul(tf.tanh(inner).add(1));
  }

  /** Mean cross-entropy of the classification head. ids [B,S] int32, mask [B,S], labels [B] int32. */
  loss(ids: tf.Tensor2D, mask: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
    const { seqLen: S, embed: E, hidden: H, heads: NH, layers: L, classes: C } = this.c;
    const B = this.batch;
    const DH = H / NH;
    const p = this.p;
    let e = tf.gather(p['emb.word'], ids).add(this.delta).add(p['emb.pos']);
    e = this.ln(e, 'emb.ln');
    let h = e.reshape([B * S, E]).matMul(p['emb.proj.w']).add(p['emb.proj.b']);
    const bias = mask.sub(1).mul(10000).reshape([B, 1, 1, S]);
    for (let l = 0; l < L; l++) {
      const qkv = h.matMul(p['layer.attn.qkv.w']).add(p['layer.attn.qkv.b']);
      const [q, k, v] = tf.split(qkv, 3, 1);
      const heads = (x: tf.Tensor): tf.Tensor4D => x.reshape([B, S, NH, DH]).transpose([0, 2, 1, 3]);
      const scores = tf.matMul(heads(q), heads(k), false, true).mul(1 / Math.sqrt(DH)).add(bias);
      const ctx = tf.matMul(tf.softmax(scores), heads(v)).transpose([0, 2, 1, 3]).reshape([B * S, H]);
      h = this.ln(h.add(ctx.matMul(p['layer.attn.out.w']).add(p['layer.attn.out.b'])), 'layer.ln1');
      const f = this.gelu(h.matMul(p['layer.ffn.w1']).add(p['layer.ffn.b1'])).matMul(p['layer.ffn.w2']).add(p['layer.ffn.b2']);
      h = this.ln(h.add(f), 'layer.ln2');
    }
    const first = h.reshape([B, S, H]).slice([0, 0, 0], [B, 1, H]).reshape([B, H]);
    const pooled = tf.tanh(first.matMul(p['cls.pool.w']).add(p['cls.pool.b']));
    const logits = pooled.matMul(p['cls.out.w']).add(p['cls.out.b']);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, C), logits) as tf.Scalar;
  }

  /**
   * Forward + backward: the loss, and every gradient read back into JS memory (as the ONNX
   * runtimes return theirs). Parameters the classification loss does not reach (the MLM head)
   * get no gradient here.
   */
  step(ids: tf.Tensor2D, mask: tf.Tensor2D, labels: tf.Tensor1D): { loss: number; gradElements: number } {
    const { value, grads } = tf.variableGrads(() => this.loss(ids, mask, labels));
    let n = 0;
    for (const g of Object.values(grads)) {
      n += g.dataSync().length;
      g.dispose();
    }
    const loss = value.dataSync()[0];
    value.dispose();
    return { loss, gradElements: n };
  }

  dispose(): void {
    for (const v of Object.values(this.p)) v.dispose();
    this.delta.dispose();
  }
}

/**
 * The same tiny ALBERT written as an ordinary TF.js model (the stack disco uses): variables for
 * the same parameter tensors (initialised from the same flat vector), the forward pass with TF.js
 * ops, and gradients of the classification loss w.r.t. every parameter and the embedding
 * perturbation with `tf.variableGrads`. Benchmark baseline only (a devDependency). One deviation
 * from stock TF.js: the embedding lookup's gradient (see `embed`), because the wasm backend lacks
 * the kernel TF.js's own gather gradient needs.
 */
import * as tf from '@tensorflow/tfjs';
import type { AlbertConfig, ParamLayout } from '@masha/protocol/model';

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
  private readonly tuned: boolean;

  /**
   * `tuned`: dense layers get a custom gradient with explicit transposes, because the wasm
   * backend's matMul with transposeA/transposeB (what TF.js's own MatMul gradient uses) runs about
   * 10× slower than a plain product here (measured: 139 ms vs 12 ms for 256×1024 · 1024×768).
   */
  constructor(c: AlbertConfig, layout: ParamLayout, params: Float32Array, batch: number, tuned = false) {
    this.c = c;
    this.batch = batch;
    this.tuned = tuned;
    this.p = {};
    for (const s of layout.specs) this.p[s.name] = tf.variable(tf.tensor(params.subarray(s.offset, s.offset + s.size), [...s.shape]), true);
    this.delta = tf.variable(tf.zeros([batch, c.seqLen, c.embed]), true);
  }

  private ln(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(this.c.lnEps)))
      .mul(this.p[`${name}.g`])
      .add(this.p[`${name}.b`]);
  }

  /**
   * Embedding lookup. TF.js's own gradient of `gather` uses UnsortedSegmentSum, which the wasm
   * backend does not implement; this gradient scatter-adds with ScatterNd instead (duplicates add,
   * the same VJP as our ONNX graph's ScatterND).
   */
  private embed(table: tf.Variable, ids: tf.Tensor2D): tf.Tensor {
    const n = ids.size;
    const [V, E] = table.shape as [number, number];
    const f = tf.customGrad((t) => {
      const value = tf.gather(t as tf.Tensor2D, ids);
      const gradFunc = (dy: tf.Tensor): tf.Tensor => tf.scatterND(ids.reshape([n, 1]), dy.reshape([n, E]), [V, E]);
      return { value, gradFunc };
    });
    return f(table);
  }

  private mm(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    if (!this.tuned) return tf.matMul(x, w);
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      save([a, b]);
      return {
        value: tf.matMul(a, b),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
          tf.matMul(dy, tf.transpose(saved[1] as tf.Tensor2D)),
          tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), dy),
        ],
      };
    });
    return f(x, w);
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
    let e = this.embed(p['emb.word'], ids).add(this.delta).add(p['emb.pos']);
    e = this.ln(e, 'emb.ln');
    let h = this.mm(e.reshape([B * S, E]), p['emb.proj.w']).add(p['emb.proj.b']);
    const bias = mask.sub(1).mul(10000).reshape([B, 1, 1, S]);
    for (let l = 0; l < L; l++) {
      const qkv = this.mm(h, p['layer.attn.qkv.w']).add(p['layer.attn.qkv.b']);
      const [q, k, v] = tf.split(qkv, 3, 1);
      const heads = (x: tf.Tensor): tf.Tensor4D => x.reshape([B, S, NH, DH]).transpose([0, 2, 1, 3]);
      const scores = tf
        .matMul(heads(q), heads(k), false, true)
        .mul(1 / Math.sqrt(DH))
        .add(bias);
      const ctx = tf
        .matMul(tf.softmax(scores), heads(v))
        .transpose([0, 2, 1, 3])
        .reshape([B * S, H]);
      h = this.ln(h.add(this.mm(ctx, p['layer.attn.out.w']).add(p['layer.attn.out.b'])), 'layer.ln1');
      const f = this.mm(this.gelu(this.mm(h, p['layer.ffn.w1']).add(p['layer.ffn.b1'])), p['layer.ffn.w2']).add(p['layer.ffn.b2']);
      h = this.ln(h.add(f), 'layer.ln2');
    }
    const first = h.reshape([B, S, H]).slice([0, 0, 0], [B, 1, H]).reshape([B, H]);
    const pooled = tf.tanh(this.mm(first, p['cls.pool.w']).add(p['cls.pool.b']));
    const logits = this.mm(pooled, p['cls.out.w']).add(p['cls.out.b']);
    return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(tf.oneHot(labels, C), logits);
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

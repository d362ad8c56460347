/**
 * Linear algebra and neural-network ops: MatMul, Gemm, Softmax, LogSoftmax, LayerNormalization,
 * GELU, softmax cross-entropy. VJPs in ordinary ONNX ops.
 */
import type { Graph } from './builder.js';
import { add, erf, expand, exp, mul, powConst, reciprocal, reduceMean, reduceSum, reshape, sqrt, sub, sumTo, tanh } from './ops-elementwise.js';
import { gatherElements, transposeLast2 } from './ops-shape.js';
import { type Tensor, GraphError, broadcastShapes, fmtShape, isFloat, normAxis, sizeOf } from './types.js';

/**
 * Gemm: alpha·op(A)·op(B) (+ beta·C), A and B 2-D, op = optional transpose. C broadcasts to [M,N].
 */
export function gemm(g: Graph, a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean; c?: Tensor; alpha?: number } = {}): Tensor {
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new GraphError('Gemm', `expects 2-D inputs, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) throw new GraphError('Gemm', 'dtype mismatch or non-float input');
  const [m, k] = ta ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [k2, n] = tb ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (k !== k2) throw new GraphError('Gemm', `inner dimensions differ: ${fmtShape(a.shape)}${ta ? 'ᵀ' : ''} × ${fmtShape(b.shape)}${tb ? 'ᵀ' : ''}`);
  const c = opts.c;
  if (c) broadcastShapes('Gemm', c.shape, [m, n]);
  const attrs = {
    transA: { kind: 'int', value: ta ? 1 : 0 },
    transB: { kind: 'int', value: tb ? 1 : 0 },
    alpha: { kind: 'float', value: alpha },
  } as const;
  return g.op1('Gemm', c ? [a, b, c] : [a, b], [m, n], a.dtype, attrs, ([gy], need) => {
    if (!gy) return [null, null, null];
    const sgy = alpha === 1 ? gy : mul(g, gy, g.scalar(alpha, gy.dtype));
    // Y = op(A) op(B):  d op(A) = gY op(B)ᵀ,  d op(B) = op(A)ᵀ gY.
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (need[0]) ga = ta ? gemm(g, b, sgy, { transA: tb, transB: true }) : gemm(g, sgy, b, { transB: !tb });
    if (need[1]) gb = tb ? gemm(g, sgy, a, { transA: true, transB: ta }) : gemm(g, a, sgy, { transA: !ta });
    return [ga, gb, c && need[2] ? sumTo(g, gy, c.shape) : null];
  });
}

/**
 * MatMul with numpy batch broadcasting (ranks ≥ 2). A rank-2 right operand (the common
 * activations × weights case) gets 2-D Gemm VJPs instead of batched products and a reduction.
 */
export function matmul(g: Graph, a: Tensor, b: Tensor): Tensor {
  if (a.shape.length < 2 || b.shape.length < 2) throw new GraphError('MatMul', `ranks must be ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) throw new GraphError('MatMul', 'dtype mismatch or non-float input');
  const m = a.shape[a.shape.length - 2];
  const k = a.shape[a.shape.length - 1];
  const k2 = b.shape[b.shape.length - 2];
  const n = b.shape[b.shape.length - 1];
  if (k !== k2) throw new GraphError('MatMul', `inner dimensions differ: ${fmtShape(a.shape)} × ${fmtShape(b.shape)}`);
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  return g.op1('MatMul', [a, b], shape, a.dtype, {}, ([gy], need) => {
    if (!gy) return [null, null];
    if (b.shape.length === 2) {
      const rows = sizeOf(a.shape) / k;
      const g2 = reshape(g, gy, [rows, n]);
      return [need[0] ? reshape(g, gemm(g, g2, b, { transB: true }), a.shape) : null, need[1] ? gemm(g, reshape(g, a, [rows, k]), g2, { transA: true }) : null];
    }
    return [need[0] ? sumTo(g, matmul(g, gy, transposeLast2(g, b)), a.shape) : null, need[1] ? sumTo(g, matmul(g, transposeLast2(g, a), gy), b.shape) : null];
  });
}

/** x·W + b for x of any rank ≥ 2, W [in, out], b [out]. */
export function linear(g: Graph, x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (x.shape.length === 2 && b) return gemm(g, x, w, { c: b });
  const y = matmul(g, x, w);
  return b ? add(g, y, b) : y;
}

/** Softmax along the last axis. VJP: y ⊙ (g − Σ g⊙y). */
export function softmax(g: Graph, x: Tensor): Tensor {
  const axis = x.shape.length - 1;
  let y: Tensor | null = null;
  y = g.op1('Softmax', [x], x.shape, x.dtype, { axis: { kind: 'int', value: -1 } }, ([gy]) => {
    if (!gy) return [null];
    const yy = y as Tensor;
    return [mul(g, yy, sub(g, gy, reduceSum(g, mul(g, gy, yy), [axis], true)))];
  });
  return y;
}

/** LogSoftmax along the last axis. VJP: g − softmax(x)·Σ g. */
export function logSoftmax(g: Graph, x: Tensor): Tensor {
  const axis = x.shape.length - 1;
  let y: Tensor | null = null;
  y = g.op1('LogSoftmax', [x], x.shape, x.dtype, { axis: { kind: 'int', value: -1 } }, ([gy]) => {
    if (!gy) return [null];
    return [sub(g, gy, mul(g, exp(g, y as Tensor), reduceSum(g, gy, [axis], true)))];
  });
  return y;
}

/**
 * Layer normalisation over the last axis: x̂ = (x − μ)·r with r = 1/√(σ² + ε), y = γ⊙x̂ + β.
 * float32: the opset-17 LayerNormalization op (its Mean and InvStdDev outputs kept for the VJP).
 * float64: the same formula from ReduceMean/Sub/Mul/Sqrt, because onnxruntime's LayerNormalization
 * computes and stashes its statistics in float32 only. One hand-written VJP for both:
 * dx = r·(d − mean(d) − x̂·mean(d⊙x̂)) with d = g⊙γ, dγ = Σ g⊙x̂, dβ = Σ g over the leading axes.
 */
export function layerNorm(g: Graph, x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-12): Tensor {
  const r = x.shape.length;
  const h = x.shape[r - 1];
  if (gamma.shape.length !== 1 || gamma.shape[0] !== h || beta.shape.length !== 1 || beta.shape[0] !== h) {
    throw new GraphError('LayerNormalization', `scale/bias must be [${h}], got ${fmtShape(gamma.shape)} and ${fmtShape(beta.shape)}`);
  }
  if (x.dtype !== gamma.dtype || x.dtype !== beta.dtype || !isFloat(x.dtype)) throw new GraphError('LayerNormalization', 'dtype mismatch or non-float input');
  const stat = [...x.shape.slice(0, -1), 1];
  const [y, mean, inv] = g.noGrad(() => {
    if (x.dtype === 'float32') {
      return g.node(
        'LayerNormalization',
        [x, gamma, beta],
        [
          { name: 'ln', shape: x.shape, dtype: x.dtype },
          { name: 'ln_mean', shape: stat, dtype: x.dtype },
          { name: 'ln_invstd', shape: stat, dtype: x.dtype },
        ],
        { axis: { kind: 'int', value: -1 }, epsilon: { kind: 'float', value: eps } },
      );
    }
    const mu = reduceMean(g, x, [r - 1], true);
    const xc = sub(g, x, mu);
    const rs = reciprocal(g, sqrt(g, add(g, reduceMean(g, mul(g, xc, xc), [r - 1], true), g.scalar(eps, x.dtype))));
    return [add(g, mul(g, mul(g, xc, rs), gamma), beta), mu, rs];
  });
  g.record('LayerNormalization', [x, gamma, beta], [y, mean, inv], ([gy], need) => {
    if (!gy) return [null, null, null];
    const xhat = mul(g, sub(g, x, mean), inv);
    const lead = x.shape.slice(0, -1).map((_d, i) => i);
    let gx: Tensor | null = null;
    if (need[0]) {
      const d = mul(g, gy, gamma);
      const md = reduceMean(g, d, [r - 1], true);
      const mdx = reduceMean(g, mul(g, d, xhat), [r - 1], true);
      gx = mul(g, inv, sub(g, sub(g, d, md), mul(g, xhat, mdx)));
    }
    return [gx, need[1] ? reduceSum(g, mul(g, gy, xhat), lead, false) : null, need[2] ? reduceSum(g, gy, lead, false) : null];
  });
  return y;
}

export type GeluKind = 'erf' | 'tanh';

/**
 * GELU. `erf`: x·Φ(x) = ½x(1 + erf(x/√2)) (float32 only in onnxruntime). `tanh`: BERT/ALBERT's
 * "gelu_new" approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))), which has float64 kernels.
 * Composite: the VJP comes from its parts.
 */
export function gelu(g: Graph, x: Tensor, kind: GeluKind = 'tanh'): Tensor {
  const half = mul(g, x, g.scalar(0.5, x.dtype));
  switch (kind) {
    case 'erf':
      return mul(g, half, add(g, g.scalar(1, x.dtype), erf(g, mul(g, x, g.scalar(Math.SQRT1_2, x.dtype)))));
    case 'tanh': {
      const inner = mul(g, g.scalar(Math.sqrt(2 / Math.PI), x.dtype), add(g, x, mul(g, g.scalar(0.044715, x.dtype), powConst(g, x, 3))));
      return mul(g, half, add(g, g.scalar(1, x.dtype), tanh(g, inner)));
    }
    default: {
      const never: never = kind;
      throw new GraphError('Gelu', `unknown kind ${String(never)}`);
    }
  }
}

/**
 * Weighted mean softmax cross-entropy: Σ_n w_n·(−log softmax(logits_n)[label_n]) / Σ_n w_n.
 * logits [N, C], labels [N] int32/int64 (in [0, C)), weights [N] (not differentiable; Σ w > 0).
 * Also returns the per-row log-probabilities for accuracy.
 */
export function crossEntropy(g: Graph, logits: Tensor, labels: Tensor, weights: Tensor): { loss: Tensor; logp: Tensor } {
  if (logits.shape.length !== 2) throw new GraphError('crossEntropy', `logits must be [N, C], got ${fmtShape(logits.shape)}`);
  const n = logits.shape[0];
  if (labels.shape.length !== 1 || labels.shape[0] !== n) throw new GraphError('crossEntropy', `labels must be [${n}], got ${fmtShape(labels.shape)}`);
  if (weights.shape.length !== 1 || weights.shape[0] !== n) throw new GraphError('crossEntropy', `weights must be [${n}], got ${fmtShape(weights.shape)}`);
  normAxis('crossEntropy', -1, 2);
  const logp = logSoftmax(g, logits);
  const picked = reshape(g, gatherElements(g, logp, reshape(g, labels, [n, 1]), 1), [n]);
  const total = reduceSum(g, weights, [0], false);
  const loss = div0(g, reduceSum(g, mul(g, picked, weights), [0], false), total);
  return { loss: mul(g, loss, g.scalar(-1, logits.dtype)), logp };
}

/** a / b for scalars where b is a non-differentiable normaliser. */
function div0(g: Graph, a: Tensor, b: Tensor): Tensor {
  return mul(g, a, g.op1('Reciprocal', [b], b.shape, b.dtype));
}

export { expand };

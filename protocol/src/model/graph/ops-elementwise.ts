/**
 * Element-wise ops with numpy broadcasting, reductions, and the helpers the VJPs share (sumTo,
 * zeros). Every differentiable op's VJP is written with the same ops, so the backward graph is
 * ordinary ONNX (no training kernels; onnxruntime-web has none).
 */
import type { Graph, Vjp } from './builder.js';
import { type DType, type Shape, type Tensor, GraphError, broadcastShapes, fmtShape, isFloat, normAxis, sameShape, sizeOf } from './types.js';

function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (!isFloat(t.dtype)) throw new GraphError(op, `expects float tensors, got ${t.dtype} (${t.name})`);
}

function checkSameType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new GraphError(op, `dtype mismatch: ${a.name} is ${a.dtype}, ${b.name} is ${b.dtype}`);
}

/** Reshape (differentiable: the VJP reshapes back). */
export function reshape(g: Graph, x: Tensor, shape: Shape): Tensor {
  if (sizeOf(shape) !== sizeOf(x.shape)) throw new GraphError('Reshape', `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  if (sameShape(shape, x.shape)) return x;
  return g.op1('Reshape', [x, g.ints(shape)], shape, x.dtype, {}, ([gy]) => [gy ? reshape(g, gy, x.shape) : null, null]);
}

/**
 * Sums `x` down to `shape` (the adjoint of broadcasting `shape` up to x.shape): reduces the
 * leading extra axes and the axes where `shape` has 1.
 */
export function sumTo(g: Graph, x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const lead = x.shape.length - shape.length;
  if (lead < 0) throw new GraphError('sumTo', `cannot reduce ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < x.shape.length; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && x.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== x.shape[i]) throw new GraphError('sumTo', `cannot reduce ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const s = axes.length === 0 ? x : g.op1('ReduceSum', [x, g.ints(axes)], kept, x.dtype, { keepdims: { kind: 'int', value: 1 } });
  return reshape(g, s, shape);
}

/** A tensor of zeros (ConstantOfShape; no data in the model file). */
export function zeros(g: Graph, shape: Shape, dtype: DType = g.float): Tensor {
  return g.op1('ConstantOfShape', [g.ints(shape)], shape, dtype, { value: { kind: 'tensor', dtype, value: [0] } });
}

/** Broadcasts `x` to `shape` (Expand); the VJP sums back. */
export function expand(g: Graph, x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes('Expand', x.shape, shape);
  if (!sameShape(out, shape)) throw new GraphError('Expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  if (sameShape(x.shape, shape)) return x;
  return g.op1('Expand', [x, g.ints(shape)], shape, x.dtype, {}, ([gy]) => [gy ? sumTo(g, gy, x.shape) : null, null]);
}

function binary(g: Graph, op: string, a: Tensor, b: Tensor, vjp: (y: Tensor) => Vjp): Tensor {
  checkSameType(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  let y: Tensor | null = null;
  const lazy: Vjp = (gOut, need) => vjp(y as Tensor)(gOut, need);
  y = g.op1(op, [a, b], shape, a.dtype, {}, isFloat(a.dtype) ? lazy : undefined);
  return y;
}

export function add(g: Graph, a: Tensor, b: Tensor): Tensor {
  return binary(g, 'Add', a, b, () => ([gy], need) => [gy && need[0] ? sumTo(g, gy, a.shape) : null, gy && need[1] ? sumTo(g, gy, b.shape) : null]);
}

export function sub(g: Graph, a: Tensor, b: Tensor): Tensor {
  return binary(g, 'Sub', a, b, () => ([gy], need) => [gy && need[0] ? sumTo(g, gy, a.shape) : null, gy && need[1] ? neg(g, sumTo(g, gy, b.shape)) : null]);
}

export function mul(g: Graph, a: Tensor, b: Tensor): Tensor {
  return binary(g, 'Mul', a, b, () => ([gy], need) => [
    gy && need[0] ? sumTo(g, mul(g, gy, b), a.shape) : null,
    gy && need[1] ? sumTo(g, mul(g, gy, a), b.shape) : null,
  ]);
}

export function div(g: Graph, a: Tensor, b: Tensor): Tensor {
  return binary(g, 'Div', a, b, (y) => ([gy], need) => [
    gy && need[0] ? sumTo(g, div(g, gy, b), a.shape) : null,
    gy && need[1] ? neg(g, sumTo(g, div(g, mul(g, gy, y), b), b.shape)) : null,
  ]);
}

function unary(g: Graph, op: string, x: Tensor, vjp: (y: Tensor, gy: Tensor) => Tensor, attrs = {}): Tensor {
  checkFloat(op, x);
  let y: Tensor | null = null;
  y = g.op1(op, [x], x.shape, x.dtype, attrs, ([gy]) => [gy ? vjp(y as Tensor, gy) : null]);
  return y;
}

export function neg(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Neg', x, (_y, gy) => neg(g, gy));
}

export function exp(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Exp', x, (y, gy) => mul(g, gy, y));
}

export function log(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Log', x, (_y, gy) => div(g, gy, x));
}

export function sqrt(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Sqrt', x, (y, gy) => div(g, mul(g, gy, g.scalar(0.5)), y));
}

export function tanh(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Tanh', x, (y, gy) => mul(g, gy, sub(g, g.scalar(1), mul(g, y, y))));
}

/** erf (float32 only in onnxruntime: there is no float64 Erf kernel). */
export function erf(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Erf', x, (_y, gy) => mul(g, gy, mul(g, g.scalar(2 / Math.sqrt(Math.PI)), exp(g, neg(g, mul(g, x, x))))));
}

/** x^p for a constant exponent p. */
export function powConst(g: Graph, x: Tensor, p: number): Tensor {
  checkFloat('Pow', x);
  if (p === 1) return x;
  if (p === 2) return mul(g, x, x);
  return g.op1('Pow', [x, g.scalar(p, x.dtype)], x.shape, x.dtype, {}, ([gy]) => [gy ? mul(g, gy, mul(g, g.scalar(p), powConst(g, x, p - 1))) : null, null]);
}

export function reciprocal(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Reciprocal', x, (y, gy) => neg(g, mul(g, gy, mul(g, y, y))));
}

export function relu(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Relu', x, (_y, gy) => where(g, greater(g, x, g.scalar(0, x.dtype)), gy, zeros(g, gy.shape, gy.dtype)));
}

export function sigmoid(g: Graph, x: Tensor): Tensor {
  return unary(g, 'Sigmoid', x, (y, gy) => mul(g, gy, mul(g, y, sub(g, g.scalar(1), y))));
}

/** Where(cond, a, b) with broadcasting; cond is not differentiable. */
export function where(g: Graph, cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if (cond.dtype !== 'bool') throw new GraphError('Where', `condition must be bool, got ${cond.dtype}`);
  checkSameType('Where', a, b);
  const shape = broadcastShapes('Where', broadcastShapes('Where', cond.shape, a.shape), b.shape);
  return g.op1('Where', [cond, a, b], shape, a.dtype, {}, ([gy], need) => {
    if (!gy) return [null, null, null];
    const z = zeros(g, gy.shape, gy.dtype);
    return [null, need[1] ? sumTo(g, where(g, cond, gy, z), a.shape) : null, need[2] ? sumTo(g, where(g, cond, z, gy), b.shape) : null];
  });
}

function compare(g: Graph, op: string, a: Tensor, b: Tensor): Tensor {
  checkSameType(op, a, b);
  return g.op1(op, [a, b], broadcastShapes(op, a.shape, b.shape), 'bool');
}
export const equal = (g: Graph, a: Tensor, b: Tensor): Tensor => compare(g, 'Equal', a, b);
export const greater = (g: Graph, a: Tensor, b: Tensor): Tensor => compare(g, 'Greater', a, b);
export const less = (g: Graph, a: Tensor, b: Tensor): Tensor => compare(g, 'Less', a, b);

/** Cast (not differentiable). */
export function cast(g: Graph, x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  const code = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 }[to];
  return g.op1('Cast', [x], x.shape, to, { to: { kind: 'int', value: code } });
}

function reducedShape(op: string, x: Tensor, axes: readonly number[], keepdims: boolean): { axes: number[]; shape: number[]; kept: number[] } {
  const norm = [...new Set(axes.map((a) => normAxis(op, a, x.shape.length)))].sort((p, q) => p - q);
  const kept = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_d, i) => !norm.includes(i));
  return { axes: norm, shape, kept };
}

/** Sum over `axes` (opset 13: axes as an input). */
export function reduceSum(g: Graph, x: Tensor, axes: readonly number[], keepdims = false): Tensor {
  const r = reducedShape('ReduceSum', x, axes, keepdims);
  return g.op1('ReduceSum', [x, g.ints(r.axes)], r.shape, x.dtype, { keepdims: { kind: 'int', value: keepdims ? 1 : 0 } }, ([gy]) => [
    gy ? expand(g, reshape(g, gy, r.kept), x.shape) : null,
    null,
  ]);
}

/** Mean over `axes` (opset 17: axes as an attribute). */
export function reduceMean(g: Graph, x: Tensor, axes: readonly number[], keepdims = false): Tensor {
  const r = reducedShape('ReduceMean', x, axes, keepdims);
  const n = r.axes.reduce((p, a) => p * x.shape[a], 1);
  return g.op1('ReduceMean', [x], r.shape, x.dtype, { axes: { kind: 'ints', value: r.axes }, keepdims: { kind: 'int', value: keepdims ? 1 : 0 } }, ([gy]) => [
    gy ? expand(g, reshape(g, mul(g, gy, g.scalar(1 / n, gy.dtype)), r.kept), x.shape) : null,
  ]);
}

/** Sum of all elements: a scalar. */
export function sumAll(g: Graph, x: Tensor): Tensor {
  return x.shape.length === 0
    ? x
    : reduceSum(
        g,
        x,
        x.shape.map((_d, i) => i),
        false,
      );
}

/** ArgMax along an axis (int64, not differentiable). */
export function argMax(g: Graph, x: Tensor, axis: number, keepdims = false): Tensor {
  const r = reducedShape('ArgMax', x, [axis], keepdims);
  return g.op1('ArgMax', [x], r.shape, 'int64', { axis: { kind: 'int', value: r.axes[0] }, keepdims: { kind: 'int', value: keepdims ? 1 : 0 } });
}

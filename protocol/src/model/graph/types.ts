/**
 * Tensors of the graph builder: static shapes and closed dtypes. A `Tensor` is a symbolic value of
 * one graph (a name, a shape, a dtype); it holds no data.
 */

/** Element types the builder emits. Float graphs are float32 (training) or float64 (gradient checks). */
export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
export type FloatDType = 'float32' | 'float64';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int64', 'bool'];

/** ONNX TensorProto.DataType codes. */
export const ONNX_ELEM_TYPE = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 } as const satisfies Record<DType, number>;

export type Shape = readonly number[];

export interface Tensor {
  /** Unique within its graph; also the ONNX value name. */
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Index in creation order (the tape order). */
  readonly id: number;
}

export function isFloat(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64';
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function fmtShape(s: Shape): string {
  return `[${s.join(',')}]`;
}

/** Numpy broadcasting of two shapes; throws a GraphError naming the op on a mismatch. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new GraphError(op, `cannot broadcast ${fmtShape(a)} with ${fmtShape(b)}`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalises a possibly negative axis against a rank. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new GraphError(op, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** A graph was built wrongly (shape or dtype mismatch): a programming error in the model code. */
export class GraphError extends Error {
  readonly op: string;
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'GraphError';
    this.op = op;
  }
}

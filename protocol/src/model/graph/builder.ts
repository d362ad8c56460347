/**
 * The graph builder: records ONNX nodes with static shapes and, for every differentiable op, a
 * tape entry whose vector-Jacobian product (VJP) is itself written with builder ops (autodiff.ts
 * walks the tape backwards). Nothing here runs a computation; `toOnnx` (onnx.ts) serialises.
 */
import { type DType, type FloatDType, type Shape, type Tensor, GraphError, fmtShape, isFloat, sizeOf } from './types.js';

/** An ONNX node attribute. */
export type Attr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly dtype: DType; readonly value: readonly number[] };

export interface GraphNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

/** Constant data: numbers, or a typed array (float32/float64/int32 initialisers). */
export interface Initializer {
  readonly tensor: Tensor;
  readonly values: ArrayLike<number>;
}

/**
 * Given the gradients of an op's outputs (null where no gradient flows), returns the gradients of
 * its inputs (null for non-differentiable inputs or when not needed).
 */
export type Vjp = (gOut: readonly (Tensor | null)[], need: readonly boolean[]) => readonly (Tensor | null)[];

export interface TapeEntry {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly vjp: Vjp;
}

export interface GraphIO {
  readonly tensor: Tensor;
  /** Differentiable graph input (a parameter or a perturbation). */
  readonly variable: boolean;
}

export class Graph {
  /** The float type of every float value in this graph. */
  readonly float: FloatDType;
  readonly nodes: GraphNode[] = [];
  readonly tape: TapeEntry[] = [];
  readonly inputs: GraphIO[] = [];
  readonly outputs: Tensor[] = [];
  readonly initializers: Initializer[] = [];
  private readonly names = new Set<string>();
  private readonly requires = new Set<number>();
  private readonly constCache = new Map<string, Tensor>();
  private nextId = 0;
  private recording = true;

  constructor(float: FloatDType = 'float32') {
    this.float = float;
  }

  private fresh(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** A new symbolic tensor (no node yet). */
  value(base: string, shape: Shape, dtype: DType): Tensor {
    for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new GraphError(base, `bad dimension in shape ${fmtShape(shape)}`);
    return { name: this.fresh(base), shape: [...shape], dtype, id: this.nextId++ };
  }

  /** A graph input. `variable` inputs are differentiable (parameters, perturbations). */
  input(name: string, shape: Shape, dtype: DType, variable = false): Tensor {
    if (this.names.has(name)) throw new GraphError('input', `duplicate name ${name}`);
    if (variable && !isFloat(dtype)) throw new GraphError('input', `variable ${name} must be a float tensor`);
    const t = this.value(name, shape, dtype);
    this.inputs.push({ tensor: t, variable });
    if (variable) this.requires.add(t.id);
    return t;
  }

  /** Marks `t` as a graph output under `name` (an Identity node renames it). */
  output(name: string, t: Tensor): Tensor {
    if (this.names.has(name)) throw new GraphError('output', `duplicate name ${name}`);
    this.names.add(name);
    const out: Tensor = { name, shape: t.shape, dtype: t.dtype, id: this.nextId++ };
    this.nodes.push({ op: 'Identity', inputs: [t.name], outputs: [name], attrs: {} });
    this.outputs.push(out);
    return out;
  }

  /** Whether `t` depends on a variable input (so that a gradient can reach one through it). */
  requiresGrad(t: Tensor): boolean {
    return this.requires.has(t.id);
  }

  /**
   * Emits one ONNX node. `outs` gives each output's (base name, shape, dtype). When `vjp` is given,
   * the node is differentiable and recorded on the tape if any input requires a gradient.
   */
  node(
    op: string,
    inputs: readonly Tensor[],
    outs: readonly { name?: string; shape: Shape; dtype: DType }[],
    attrs: Record<string, Attr> = {},
    vjp?: Vjp,
  ): Tensor[] {
    const outputs = outs.map((o) => this.value(o.name ?? op.toLowerCase(), o.shape, o.dtype));
    this.nodes.push({ op, inputs: inputs.map((t) => t.name), outputs: outputs.map((t) => t.name), attrs });
    if (vjp && this.recording && inputs.some((t) => this.requires.has(t.id))) {
      this.tape.push({ op, inputs, outputs, vjp });
      for (const t of outputs) if (isFloat(t.dtype)) this.requires.add(t.id);
    }
    return outputs;
  }

  /**
   * Records a tape entry for values emitted without one (a composite forward with a hand-written
   * VJP). Outputs become differentiable when an input is.
   */
  record(op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], vjp: Vjp): void {
    if (!this.recording || !inputs.some((t) => this.requires.has(t.id))) return;
    this.tape.push({ op, inputs, outputs, vjp });
    for (const t of outputs) if (isFloat(t.dtype)) this.requires.add(t.id);
  }

  /** Single-output shorthand for `node`. */
  op1(op: string, inputs: readonly Tensor[], shape: Shape, dtype: DType, attrs: Record<string, Attr> = {}, vjp?: Vjp): Tensor {
    return this.node(op, inputs, [{ shape, dtype }], attrs, vjp)[0];
  }

  /** Runs `fn` without recording tape entries (used while emitting backward ops). */
  noGrad<T>(fn: () => T): T {
    const prev = this.recording;
    this.recording = false;
    try {
      return fn();
    } finally {
      this.recording = prev;
    }
  }

  /** A constant (an initializer), deduplicated by dtype, shape and values. */
  constant(values: ArrayLike<number>, shape: Shape, dtype: DType = this.float, base = 'const'): Tensor {
    if (values.length !== sizeOf(shape)) throw new GraphError('constant', `${values.length} values for shape ${fmtShape(shape)}`);
    const small = values.length <= 64;
    const key = small ? `${dtype}|${shape.join(',')}|${Array.from(values).join(',')}` : '';
    if (small) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const t = this.value(base, shape, dtype);
    this.initializers.push({ tensor: t, values });
    if (small) this.constCache.set(key, t);
    return t;
  }

  /** A scalar constant of the graph's float type (or `dtype`). */
  scalar(v: number, dtype: DType = this.float): Tensor {
    return this.constant([v], [], dtype, 'scalar');
  }

  /** An int64 vector constant (shapes, axes, starts/ends). */
  ints(v: readonly number[]): Tensor {
    return this.constant(v, [v.length], 'int64', 'ints');
  }
}

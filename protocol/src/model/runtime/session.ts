/**
 * One ONNX graph on one runtime: the session is created once; each input is bound to a caller's
 * typed array through a tensor created once and reused while the caller passes the same array
 * (onnxruntime-node reads it in place, so updating the array in place updates the input); outputs
 * are copied into caller-owned arrays. Runtime-agnostic (see port.ts).
 */
import { ValidationError } from '../../errors.js';
import type { Graph } from '../graph/builder.js';
import { toOnnx } from '../graph/onnx.js';
import { type DType, type Shape, fmtShape, sizeOf } from '../graph/types.js';
import type { OrtRuntime, OrtSession, OrtTensor, TensorData } from './port.js';

export interface IoSpec {
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** What a session needs to know of a graph: bytes and its typed inputs/outputs. */
export interface CompiledGraph {
  readonly bytes: Uint8Array;
  readonly inputs: readonly IoSpec[];
  readonly outputs: readonly IoSpec[];
}

export function compileGraph(g: Graph, name = 'masha'): CompiledGraph {
  return {
    bytes: toOnnx(g, name),
    inputs: g.inputs.map((i) => ({ name: i.tensor.name, shape: i.tensor.shape, dtype: i.tensor.dtype })),
    outputs: g.outputs.map((o) => ({ name: o.name, shape: o.shape, dtype: o.dtype })),
  };
}

const ARRAY_OF: Record<DType, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  int32: 'Int32Array',
  int64: 'BigInt64Array',
  bool: 'Uint8Array',
};

function arrayMatches(dtype: DType, a: TensorData): boolean {
  switch (dtype) {
    case 'float32':
      return a instanceof Float32Array;
    case 'float64':
      return a instanceof Float64Array;
    case 'int32':
      return a instanceof Int32Array;
    case 'int64':
      return a instanceof BigInt64Array;
    case 'bool':
      return a instanceof Uint8Array;
    default: {
      const never: never = dtype;
      return never;
    }
  }
}

interface Binding {
  array: TensorData | null;
  tensor: OrtTensor | null;
}

export class GraphSession {
  readonly runtime: OrtRuntime;
  readonly graph: CompiledGraph;
  private readonly session: OrtSession;
  private readonly specs = new Map<string, IoSpec>();
  private readonly bindings = new Map<string, Binding>();
  private readonly fed: string[];

  private constructor(runtime: OrtRuntime, graph: CompiledGraph, session: OrtSession) {
    this.runtime = runtime;
    this.graph = graph;
    this.session = session;
    for (const s of graph.inputs) this.specs.set(s.name, s);
    // Inputs that the runtime pruned (unused by every output) are not fed.
    const names = new Set(session.inputNames);
    this.fed = graph.inputs.map((s) => s.name).filter((n) => names.has(n));
    for (const n of this.fed) this.bindings.set(n, { array: null, tensor: null });
  }

  static async create(runtime: OrtRuntime, graph: CompiledGraph): Promise<GraphSession> {
    return new GraphSession(runtime, graph, await runtime.createSession(graph.bytes));
  }

  /** Binds input `name` to `array` (length and type checked); a no-op when already bound to it. */
  bind(name: string, array: TensorData): void {
    const spec = this.specs.get(name);
    if (!spec) throw new ValidationError(name, 'not an input of this graph');
    const b = this.bindings.get(name);
    if (!b) return; // pruned by the runtime
    if (b.array === array) return;
    if (!arrayMatches(spec.dtype, array)) throw new ValidationError(name, `expected a ${ARRAY_OF[spec.dtype]}`);
    if (array.length !== sizeOf(spec.shape))
      throw new ValidationError(name, `expected ${sizeOf(spec.shape)} elements for shape ${fmtShape(spec.shape)}, got ${array.length}`);
    b.tensor?.dispose?.();
    b.array = array;
    b.tensor = this.runtime.tensor(spec.dtype, array, spec.shape);
  }

  /** An evaluation begins: the bound arrays may have changed (see OrtSession.beginEvaluation). */
  beginEvaluation(): void {
    this.session.beginEvaluation?.();
  }

  /** Runs the graph on the bound inputs; every fed input must be bound. */
  async run(): Promise<Record<string, OrtTensor>> {
    const feeds: Record<string, OrtTensor> = {};
    for (const n of this.fed) {
      const b = this.bindings.get(n) as Binding;
      if (!b.tensor) throw new ValidationError(n, 'input not bound');
      feeds[n] = b.tensor;
    }
    return this.session.run(feeds);
  }

  async release(): Promise<void> {
    for (const b of this.bindings.values()) b.tensor?.dispose?.();
    this.bindings.clear();
    await this.session.release();
  }
}

/** The data of output `name` as a float array (Float32Array or Float64Array), checked. */
export function floatOutput(out: Record<string, OrtTensor>, name: string): Float32Array | Float64Array {
  const t = out[name];
  if (!t) throw new ValidationError(name, 'missing output');
  const d = t.data;
  if (!(d instanceof Float32Array) && !(d instanceof Float64Array)) throw new ValidationError(name, `output is ${t.type}, expected float`);
  return d;
}

/** A scalar float output. */
export function scalarOutput(out: Record<string, OrtTensor>, name: string): number {
  const d = floatOutput(out, name);
  if (d.length !== 1) throw new ValidationError(name, `expected a scalar, got ${d.length} elements`);
  return d[0];
}

/** Copies output `name` into `dst` (same length), `dst += scale·out` when `accumulate`. */
export function readOutput(out: Record<string, OrtTensor>, name: string, dst: Float32Array | Float64Array, scale = 1, accumulate = false): void {
  const d = floatOutput(out, name);
  if (d.length !== dst.length) throw new ValidationError(name, `expected ${dst.length} elements, got ${d.length}`);
  if (!accumulate && scale === 1) {
    dst.set(d);
    return;
  }
  if (accumulate) for (let i = 0; i < d.length; i++) dst[i] += scale * d[i];
  else for (let i = 0; i < d.length; i++) dst[i] = scale * d[i];
}

export function disposeOutputs(out: Record<string, OrtTensor>): void {
  for (const t of Object.values(out)) t.dispose?.();
}

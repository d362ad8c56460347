/**
 * Serialises a Graph to an ONNX ModelProto with `onnx-proto` (the ONNX protobuf schema compiled
 * for protobufjs; CommonJS, hence the default import; Vite 8 bundles it for browsers). Opset 17,
 * IR version 8: run by onnxruntime-node and onnxruntime-web (wasm; verified in Node and Chromium),
 * the first opset with LayerNormalization (ScatterND/ScatterElements reduction "add" need ≥ 16).
 * WebGPU is unverified here; onnxruntime-web places ops its WebGPU backend lacks on wasm kernels.
 */
import onnxProto from 'onnx-proto';
import type { Attr, Graph } from './builder.js';
import { type DType, ONNX_ELEM_TYPE, type Shape, type Tensor, GraphError } from './types.js';

const { onnx } = onnxProto;

export const OPSET = 17;
export const IR_VERSION = 8;

type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

function rawBytes(dtype: DType, values: ArrayLike<number>): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'float32':
      return u8(values instanceof Float32Array ? values : Float32Array.from(values));
    case 'float64':
      return u8(values instanceof Float64Array ? values : Float64Array.from(values));
    case 'int32':
      return u8(values instanceof Int32Array ? values : Int32Array.from(values));
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(values[i]);
      return u8(out);
    }
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = values[i] ? 1 : 0;
      return out;
    }
    default: {
      const never: never = dtype;
      throw new GraphError('toOnnx', `unknown dtype ${String(never)}`);
    }
  }
}

/** The bytes of a typed array as little-endian (the ONNX raw_data layout; all JS hosts we target are LE). */
function u8(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

function tensorProto(name: string, dtype: DType, shape: Shape, values: ArrayLike<number>): ITensorProto {
  return { name, dataType: ONNX_ELEM_TYPE[dtype], dims: [...shape], rawData: rawBytes(dtype, values) };
}

function attribute(name: string, a: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: ascii(a.value) };
    case 'tensor':
      return { name, type: T.TENSOR, t: tensorProto('', a.dtype, [a.value.length], a.value) };
    default: {
      const never: never = a;
      throw new GraphError('toOnnx', `unknown attribute ${JSON.stringify(never)}`);
    }
  }
}

/** Attribute strings are ONNX keywords (`add`, `constant`): ASCII. */
function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) throw new GraphError('toOnnx', `non-ASCII attribute string ${JSON.stringify(s)}`);
    out[i] = c;
  }
  return out;
}

function valueInfo(t: Tensor): IValueInfoProto {
  return { name: t.name, type: { tensorType: { elemType: ONNX_ELEM_TYPE[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } } };
}

/** The serialised model (ModelProto bytes). */
export function toOnnx(g: Graph, name = 'masha'): Uint8Array {
  const model = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'masha',
    graph: {
      name,
      node: g.nodes.map((n, i) => ({
        name: `n${i}_${n.op}`,
        opType: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      input: g.inputs.map((io) => valueInfo(io.tensor)),
      output: g.outputs.map(valueInfo),
      initializer: g.initializers.map((c) => tensorProto(c.tensor.name, c.tensor.dtype, c.tensor.shape, c.values)),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/**
 * The part of the onnxruntime JavaScript API that Masha uses, as a small injected interface, so
 * that one session/binding implementation (session.ts) runs on onnxruntime-node, onnxruntime-web in
 * Node and onnxruntime-web in a browser Worker. Hosts adapt their module in a few lines
 * (node/src/model/runtimes.ts): `tensor` wraps `new ort.Tensor(type, data, dims)` and
 * `createSession` wraps `ort.InferenceSession.create(bytes, options)`.
 */
import type { DType } from '../graph/types.js';

/** Which runtime computes: named in results and benchmark rows. */
export type BackendName = 'onnxruntime-node' | 'onnxruntime-web-wasm' | 'onnxruntime-web-webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['onnxruntime-node', 'onnxruntime-web-wasm', 'onnxruntime-web-webgpu'];

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor as onnxruntime's `Tensor` exposes it. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
  dispose?(): void;
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
  /**
   * Optional (GPU runtimes with IO binding): an operator evaluation begins — the fed arrays may
   * have changed since the last run, so device-resident copies of them are stale. Between two calls
   * the fed arrays do not change, and a runtime may keep them on the device across runs.
   */
  beginEvaluation?(): void;
}

export interface OrtRuntime {
  readonly name: BackendName;
  /** Wraps `data` (no copy where the runtime allows: onnxruntime-node reads the buffer in place). */
  tensor(type: DType, data: TensorData, dims: readonly number[]): OrtTensor;
  createSession(model: Uint8Array): Promise<OrtSession>;
}

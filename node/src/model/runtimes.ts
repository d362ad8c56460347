/**
 * Node adapters of the runtime port (protocol/src/model/runtime/port.ts): onnxruntime-node (native
 * CPU provider) and onnxruntime-web's wasm backend running inside Node. The modules are imported
 * lazily so that a process that trains on one never loads the other.
 *
 * onnxruntime-node is installed with its install script denied (root package.json
 * `allowScripts`): the script only downloads optional CUDA libraries; the CPU binaries ship inside
 * the npm package.
 */
import type { BackendName, DType, OrtRuntime, OrtSession, OrtTensor, TensorData } from '@masha/protocol/model';
import { ValidationError } from '@masha/protocol';
import type { ExecutionProvider } from './device.js';

/** The backends a Node process can use (WebGPU is the browser's). */
export type NodeBackend = 'node' | 'wasm';
export const NODE_BACKENDS: readonly NodeBackend[] = ['node', 'wasm'];

export interface RuntimeOptions {
  /** Intra-op threads (default 1: on a 2-core machine shared with other work, more does not help). */
  readonly threads?: number;
  /**
   * onnxruntime-node's CPU memory arena (default on). Off, freed activations go back to the
   * system instead of staying in the arena: less resident memory, slightly slower steps.
   */
  readonly arena?: boolean;
  /**
   * onnxruntime-node's execution provider (default the CPU). A GPU provider comes first and the CPU
   * provider after it, for any op the GPU provider lacks; choose it with device.ts's probe.
   */
  readonly provider?: ExecutionProvider;
}

/** The subset of the two modules' shared API (onnxruntime-common) used here. */
interface OrtModule {
  Tensor: new (type: DType, data: TensorData, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
}

function adapt(name: BackendName, ort: OrtModule, options: object): OrtRuntime {
  return {
    name,
    tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
    createSession: (model) => ort.InferenceSession.create(model, options),
  };
}

export async function onnxruntimeNode(opts: RuntimeOptions = {}): Promise<OrtRuntime> {
  const ort = (await import('onnxruntime-node')) as unknown as OrtModule;
  const threads = opts.threads ?? 1;
  const provider = opts.provider ?? 'cpu';
  return adapt('onnxruntime-node', ort, {
    executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableCpuMemArena: opts.arena ?? true,
  });
}

export async function onnxruntimeWebWasm(opts: RuntimeOptions = {}): Promise<OrtRuntime> {
  const mod = (await import('onnxruntime-web')) as unknown as OrtModule & { env: { wasm: { numThreads: number; proxy: boolean } } };
  mod.env.wasm.numThreads = opts.threads ?? 1;
  mod.env.wasm.proxy = false;
  return adapt('onnxruntime-web-wasm', mod, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
}

export async function createRuntime(backend: NodeBackend, opts: RuntimeOptions = {}): Promise<OrtRuntime> {
  switch (backend) {
    case 'node':
      return onnxruntimeNode(opts);
    case 'wasm':
      return onnxruntimeWebWasm(opts);
    default: {
      const never: never = backend;
      throw new ValidationError('backend', `unknown backend ${String(never)}`);
    }
  }
}

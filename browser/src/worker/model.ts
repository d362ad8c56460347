/**
 * Model runs in the volunteer page's worker: the operator F_{m,s} of the run's manifest, computed
 * by onnxruntime-web — its WebGPU backend when the browser has a hardware adapter, else wasm
 * (gpu-backend.ts; the volunteer can switch, from the next evaluation) — on the dataset the relay serves (`/data/…`: the
 * token shard files, each checked against data.json's size and CRC-32C), or the pure-TypeScript
 * softmax model. The model code is a separate chunk loaded only for a model run; onnxruntime-web
 * (single-threaded) comes from the relay (`/ort/…`), not from the bundle: its threaded build inside
 * a bundle re-runs the app in its own workers.
 */
import type { EvaluationRequest, ModelRun } from '@masha/protocol';
import { ValidationError } from '@masha/protocol';
import { crc32c } from '@masha/protocol/frames';
import {
  concatTokenSets,
  decodeShard,
  ModelOperator,
  OperatorEvaluator,
  parseDatasetManifest,
  SerialEvaluator,
  SoftmaxOperator,
  type DType,
  type OrtRuntime,
  type OrtSession,
  type OrtTensor,
  type SampledOperator,
  type TensorData,
  type TokenSet,
} from '@masha/protocol/model';
import type { Evaluator } from '@masha/protocol/ports';
import type { TabBackend } from './gpu-backend.js';
import { residentInputs, webgpuUpload, type GpuDeviceLike, type OrtGpuTensorModule } from './io-binding.js';

interface OrtWebModule {
  Tensor: new (type: DType, data: TensorData, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  env: { wasm: { numThreads: number; proxy: boolean; wasmPaths?: string }; webgpu?: { readonly device: Promise<GpuDeviceLike> } };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new ValidationError('data', `${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Yields to the worker's event loop between two evaluations (SerialEvaluator). */
const defer = (fn: () => void): void => {
  setTimeout(fn, 0);
};

/** The training split from the relay, every file checked. */
export async function fetchTrainSplit(base: string, dataset: string): Promise<TokenSet> {
  const root = new URL(`data/${dataset}/`, base);
  const manifest = parseDatasetManifest(JSON.parse(new TextDecoder().decode(await fetchBytes(new URL('data.json', root).href))) as unknown, 'data.json');
  const split = manifest.splits.train;
  const shards = [];
  for (const f of split.files) {
    const bytes = await fetchBytes(new URL(f.file, root).href);
    if (bytes.length !== f.bytes) throw new ValidationError(`${f.file}: bytes`, `data.json says ${f.bytes} bytes, the server sent ${bytes.length}`);
    if (crc32c(bytes) !== f.crc32c) throw new ValidationError(`${f.file}: crc32c`, 'does not match data.json');
    shards.push(decodeShard(bytes, f.file));
  }
  return concatTokenSets(shards);
}

/**
 * onnxruntime-web as the runtime port (single-threaded), its module and wasm file loaded at run
 * time from the relay (`/ort/ort.wasm.min.mjs`, or `/ort/ort.webgpu.min.mjs` for WebGPU, served
 * from the relay's own onnxruntime-web): it is no part of the page's bundle (its Node-only
 * branches name `node:` modules). WebGPU sessions keep the wasm provider behind it for any op the
 * WebGPU provider lacks.
 */
export async function ortWebRuntime(base: string, backend: TabBackend = 'wasm'): Promise<OrtRuntime> {
  const file = backend === 'webgpu' ? 'ort/ort.webgpu.min.mjs' : 'ort/ort.wasm.min.mjs';
  const ort = (await import(/* @vite-ignore */ new URL(file, base).href)) as OrtWebModule;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL('ort/', base).href;
  const providers = backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
  const create = (model: Uint8Array): Promise<OrtSession> =>
    ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: 'all' });
  return {
    name: backend === 'webgpu' ? 'onnxruntime-web-webgpu' : 'onnxruntime-web-wasm',
    tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
    createSession:
      backend === 'webgpu'
        ? async (model) => {
            // IO binding (io-binding.ts; not verified on a GPU): the parameters (`p.*`) stay on the
            // device across the ascent steps of one evaluation.
            const session = await create(model);
            const device = await ort.env.webgpu?.device;
            if (device === undefined) return session;
            return residentInputs(session, (name) => name.startsWith('p.'), webgpuUpload(ort as unknown as OrtGpuTensorModule, device));
          }
        : create,
  };
}

/** An evaluator on one backend, and how to free it. */
interface Built {
  readonly backend: TabBackend;
  readonly evaluator: Evaluator;
  release(): Promise<void>;
}

/**
 * The volunteer's backend switch: `setBackend` takes effect at the next evaluation (requests come
 * one at a time, through SerialEvaluator), which builds the operator's sessions on the new backend
 * first; if that fails the evaluation runs on the old one and `onSwitch` reports why. The operator
 * is a function of the request (iterate, iteration, shard), so a rebuilt one answers the same.
 */
export class BackendSwitch implements Evaluator {
  private wanted: TabBackend;
  constructor(
    private current: Built,
    private readonly build: (backend: TabBackend) => Promise<Built>,
    private readonly onSwitch: (backend: TabBackend, error: string | null) => void = () => {},
  ) {
    this.wanted = current.backend;
  }

  get backend(): TabBackend {
    return this.current.backend;
  }

  /** The switch asked for and not yet applied, or null. */
  get pending(): TabBackend | null {
    return this.wanted !== this.current.backend ? this.wanted : null;
  }

  setBackend(backend: TabBackend): void {
    this.wanted = backend;
  }

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    if (this.wanted === this.current.backend) {
      this.current.evaluator.evaluate(request, complete);
      return;
    }
    const target = this.wanted;
    this.build(target).then(
      (next) => {
        const old = this.current;
        this.current = next;
        void old.release().catch(() => {});
        this.onSwitch(target, null);
        next.evaluator.evaluate(request, complete);
      },
      (e: unknown) => {
        this.wanted = this.current.backend;
        this.onSwitch(this.current.backend, `${target} failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
        this.current.evaluator.evaluate(request, complete);
      },
    );
  }
}

/**
 * The evaluator of a model run in this worker (builds the ONNX sessions on `backend`); `switch` is
 * null for the softmax model (TypeScript: no backend to switch).
 */
export async function createTabModelEvaluator(
  run: ModelRun,
  base: string,
  backend: TabBackend = 'wasm',
  onSwitch?: (backend: TabBackend, error: string | null) => void,
): Promise<{ evaluator: Evaluator; backend: string; switch: BackendSwitch | null }> {
  if (run.task.kind === 'softmax') {
    const op = new SoftmaxOperator(run.task.task);
    return { evaluator: new SerialEvaluator(new OperatorEvaluator(op, () => performance.now()), defer), backend: 'typescript', switch: null };
  }
  const task = run.task.task;
  const dataset = run.manifest.problem.kind === 'model' ? run.manifest.problem.dataset : 'spam-assassin';
  const train = await fetchTrainSplit(base, dataset);
  const build = async (b: TabBackend): Promise<Built> => {
    const rt = await ortWebRuntime(base, b);
    const op: SampledOperator & { release(): Promise<void> } = await ModelOperator.create(rt, task, train, () => performance.now());
    return { backend: b, evaluator: new OperatorEvaluator(op, () => performance.now()), release: () => op.release() };
  };
  let first: Built;
  try {
    first = await build(backend);
  } catch (e) {
    if (backend === 'wasm') throw e;
    onSwitch?.('wasm', `webgpu failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
    first = await build('wasm');
  }
  const sw = new BackendSwitch(first, build, onSwitch);
  return { evaluator: new SerialEvaluator(sw, defer), backend: first.backend === 'webgpu' ? 'onnxruntime-web-webgpu' : 'onnxruntime-web-wasm', switch: sw };
}

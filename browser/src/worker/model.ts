/**
 * Model runs in the volunteer page's worker: the operator F_{m,s} of the run's manifest, computed
 * by onnxruntime-web (wasm; WebGPU is not used: headless browsers only have a software adapter and
 * the graphs run on the wasm kernels either way) on the dataset the relay serves (`/data/…`: the
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

interface OrtWebModule {
  Tensor: new (type: DType, data: TensorData, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<OrtSession> };
  env: { wasm: { numThreads: number; proxy: boolean; wasmPaths?: string } };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new ValidationError('data', `${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

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
 * onnxruntime-web's wasm backend as the runtime port (single-threaded), its module and wasm file
 * loaded at run time from the relay (`/ort/ort.wasm.min.mjs`, served from the relay's own
 * onnxruntime-web): it is no part of the page's bundle (its Node-only branches name `node:` modules).
 */
export async function ortWebRuntime(base: string): Promise<OrtRuntime> {
  const ort = (await import(/* @vite-ignore */ new URL('ort/ort.wasm.min.mjs', base).href)) as OrtWebModule;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL('ort/', base).href;
  return {
    name: 'onnxruntime-web-wasm',
    tensor: (type, data, dims) => new ort.Tensor(type, data, dims),
    createSession: (model) => ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
  };
}

/** Requests one at a time (one ONNX session; a stale request may still be computing). */
class SerialEvaluator implements Evaluator {
  private readonly queue: { request: EvaluationRequest; complete: (error: Error | null) => void }[] = [];
  private busy = false;
  constructor(private readonly inner: Evaluator) {}
  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    this.queue.push({ request, complete });
    if (!this.busy) this.next();
  }
  private next(): void {
    const job = this.queue.shift();
    if (job === undefined) {
      this.busy = false;
      return;
    }
    this.busy = true;
    this.inner.evaluate(job.request, (error) => {
      job.complete(error);
      setTimeout(() => this.next(), 0);
    });
  }
}

/** The evaluator of a model run in this worker (builds the ONNX session once). */
export async function createTabModelEvaluator(run: ModelRun, base: string): Promise<{ evaluator: Evaluator; backend: string }> {
  let op: SampledOperator;
  let backend: string;
  if (run.task.kind === 'softmax') {
    op = new SoftmaxOperator(run.task.task);
    backend = 'typescript';
  } else {
    const dataset = run.manifest.problem.kind === 'model' ? run.manifest.problem.dataset : 'spam-assassin';
    const train = await fetchTrainSplit(base, dataset);
    const rt = await ortWebRuntime(base);
    op = await ModelOperator.create(rt, run.task.task, train, () => performance.now());
    backend = rt.name;
  }
  return { evaluator: new SerialEvaluator(new OperatorEvaluator(op, () => performance.now())), backend };
}

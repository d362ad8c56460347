/**
 * IO binding for onnxruntime-web's WebGPU backend (issue 17): within one operator evaluation the
 * parameters are fed unchanged to each of the K ascent steps (operator.ts), so they are uploaded
 * to GPU buffers once per evaluation — at the first run after `beginEvaluation` — and the same
 * GPU tensors are fed to the following runs, instead of onnxruntime-web copying the whole model
 * from the CPU at every run. `beginEvaluation` drops the device copies (the arrays may have
 * changed). A session whose user never calls `beginEvaluation` runs exactly as before.
 *
 * NOT VERIFIED on a GPU: written for onnxruntime-web 1.31's WebGPU API (`env.webgpu.device`,
 * `Tensor.fromGpuBuffer`), exercised here only with fakes (no GPU on the development machine);
 * the wasm backend never uses it.
 */
import type { OrtSession, OrtTensor } from '@masha/protocol/model';

/** A device-resident copy of one input tensor, and how to free it. */
export interface DeviceCopy {
  readonly tensor: OrtTensor;
  dispose(): void;
}

/** Uploads a tensor to the device, or null to feed it from the CPU as usual. */
export type Upload = (tensor: OrtTensor) => DeviceCopy | null;

/** `session` with the inputs `resident(name)` kept on the device within each evaluation. */
export function residentInputs(session: OrtSession, resident: (name: string) => boolean, upload: Upload): OrtSession & { readonly uploads: number } {
  let armed = false;
  let uploads = 0;
  const cache = new Map<OrtTensor, DeviceCopy | null>();
  const clear = (): void => {
    for (const c of cache.values()) c?.dispose();
    cache.clear();
  };
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    get uploads() {
      return uploads;
    },
    beginEvaluation(): void {
      armed = true;
      clear();
    },
    run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
      if (!armed) return session.run(feeds);
      const fed: Record<string, OrtTensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        if (!resident(name)) {
          fed[name] = t;
          continue;
        }
        let c = cache.get(t);
        if (c === undefined) {
          c = upload(t);
          if (c !== null) uploads++;
          cache.set(t, c);
        }
        fed[name] = c === null ? t : c.tensor;
      }
      return session.run(fed);
    },
    async release(): Promise<void> {
      clear();
      await session.release();
    },
  };
}

/** The parts of WebGPU and onnxruntime-web's API the upload uses (the page's lib has no WebGPU types). */
interface GpuBufferLike {
  destroy(): void;
}
export interface GpuDeviceLike {
  createBuffer(d: { size: number; usage: number }): GpuBufferLike;
  readonly queue: { writeBuffer(buffer: GpuBufferLike, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void };
}
export interface OrtGpuTensorModule {
  Tensor: { fromGpuBuffer(buffer: GpuBufferLike, options: { dataType: 'float32'; dims: readonly number[] }): OrtTensor };
}

/** GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST. */
const USAGE = 0x80 | 0x04 | 0x08;
/** Smaller tensors are not worth a buffer of their own. */
const MIN_ELEMENTS = 1024;

/** Uploads float32 tensors of at least MIN_ELEMENTS elements to `device` as onnxruntime-web GPU tensors. */
export function webgpuUpload(ort: OrtGpuTensorModule, device: GpuDeviceLike): Upload {
  return (t) => {
    const data = t.data;
    if (!(data instanceof Float32Array) || data.length < MIN_ELEMENTS) return null;
    const buffer = device.createBuffer({ size: Math.ceil(data.byteLength / 16) * 16, usage: USAGE });
    device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    const tensor = ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: t.dims });
    return {
      tensor,
      dispose: () => {
        tensor.dispose?.();
        buffer.destroy();
      },
    };
  };
}

/**
 * IO binding's bookkeeping (io-binding.ts) with fakes — the GPU path itself cannot be exercised
 * without a GPU: parameters are uploaded once per evaluation and the device copies are fed to
 * every run of it; a new evaluation uploads again and frees the old copies; other inputs and
 * sessions that never begin an evaluation are fed from the CPU as before.
 */
import { describe, expect, it } from 'vitest';
import type { OrtSession, OrtTensor } from '@masha/protocol/model';
import { residentInputs, webgpuUpload, type GpuDeviceLike } from '../src/worker/io-binding.js';

const tensor = (data: Float32Array, dims: number[]): OrtTensor => ({ type: 'float32', dims, data });

function fakeSession(seen: Record<string, OrtTensor>[]): OrtSession {
  return {
    inputNames: ['p.w', 'x'],
    outputNames: ['y'],
    run: (feeds) => {
      seen.push(feeds);
      return Promise.resolve({});
    },
    release: () => Promise.resolve(),
  };
}

describe('IO binding (WebGPU path, with fakes)', () => {
  it('uploads parameters once per evaluation and frees them at the next one', async () => {
    const seen: Record<string, OrtTensor>[] = [];
    const log: string[] = [];
    let n = 0;
    const s = residentInputs(
      fakeSession(seen),
      (name) => name.startsWith('p.'),
      (t) => {
        const id = ++n;
        log.push(`up ${id}`);
        return { tensor: { ...t, type: `gpu${id}` }, dispose: () => log.push(`free ${id}`) };
      },
    );
    const w = tensor(new Float32Array(8), [8]);
    const x = tensor(new Float32Array(2), [2]);
    // Not armed: fed as is.
    await s.run({ 'p.w': w, x });
    expect(seen[0]['p.w']).toBe(w);
    s.beginEvaluation?.();
    for (let k = 0; k < 3; k++) await s.run({ 'p.w': w, x });
    expect(seen.slice(1).map((f) => f['p.w'].type)).toEqual(['gpu1', 'gpu1', 'gpu1']);
    expect(seen.slice(1).every((f) => f.x === x)).toBe(true);
    s.beginEvaluation?.();
    await s.run({ 'p.w': w, x });
    expect(seen[4]['p.w'].type).toBe('gpu2');
    await s.release();
    expect(log).toEqual(['up 1', 'free 1', 'up 2', 'free 2']);
    expect(s.uploads).toBe(2);
  });

  it('webgpuUpload: a float32 tensor of ≥ 1024 elements goes into a 16-byte-aligned storage buffer; small ones stay on the CPU', () => {
    const calls: string[] = [];
    const device: GpuDeviceLike = {
      createBuffer: (d) => (calls.push(`create ${d.size} ${d.usage}`), { destroy: () => calls.push('destroy') }),
      queue: { writeBuffer: (_b, off, _d, dataOff, size) => calls.push(`write ${off} ${dataOff} ${size}`) },
    };
    const ort = {
      Tensor: { fromGpuBuffer: (_b: unknown, o: { dataType: 'float32'; dims: readonly number[] }) => ({ type: o.dataType, dims: o.dims, data: null }) },
    };
    const up = webgpuUpload(ort, device);
    expect(up(tensor(new Float32Array(10), [10]))).toBeNull();
    const big = new Float32Array(2000).subarray(3, 1030);
    const c = up(tensor(big, [1027]));
    expect(c?.tensor.dims).toEqual([1027]);
    c?.dispose();
    expect(calls).toEqual([`create ${Math.ceil((1027 * 4) / 16) * 16} ${0x80 | 0x04 | 0x08}`, `write 0 12 ${1027 * 4}`, 'destroy']);
  });
});

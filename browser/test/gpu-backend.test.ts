/**
 * The tab's backend choice (gpu-backend.ts) and switch (worker/model.ts BackendSwitch): a hardware
 * adapter is taken, a fallback one (isFallbackAdapter, or SwiftShader by name) or none is refused
 * with the reason; the volunteer's switch applies at the next evaluation, releases the old
 * backend's sessions, and a backend that fails to build leaves the old one computing.
 */
import { describe, expect, it } from 'vitest';
import type { EvaluationRequest } from '@masha/protocol';
import type { Evaluator } from '@masha/protocol/ports';
import { backendFor, checkWebGpu, type GpuAdapterLike, type TabBackend } from '../src/worker/gpu-backend.js';
import { BackendSwitch } from '../src/worker/model.js';

const gpu = (adapter: GpuAdapterLike | null) => ({ requestAdapter: () => Promise.resolve(adapter) });

describe('WebGPU adapter check', () => {
  it('takes a hardware adapter, refuses a fallback or SwiftShader one, and none', async () => {
    const hw = await checkWebGpu(gpu({ info: { vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: false } }));
    expect(hw).toEqual({ usable: true, reason: 'WebGPU adapter nvidia hopper', adapter: 'nvidia hopper', fallback: false });
    expect(backendFor('auto', hw)).toEqual({ backend: 'webgpu', reason: 'WebGPU (nvidia hopper)' });
    expect(backendFor('wasm', hw).backend).toBe('wasm');
    // What headless Chromium offers with --enable-unsafe-webgpu (measured: vendor google, architecture swiftshader, isFallbackAdapter true).
    const swift = await checkWebGpu(gpu({ info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } }));
    expect(swift.usable).toBe(false);
    expect(swift.fallback).toBe(true);
    expect(swift.reason).toBe('only a software WebGPU adapter (google swiftshader): it emulates a GPU on the CPU, slower than wasm');
    // SwiftShader by name even where the flag is not set.
    expect((await checkWebGpu(gpu({ info: { vendor: 'google', architecture: 'swiftshader' } }))).usable).toBe(false);
    // Older browsers: the flag on the adapter itself.
    expect((await checkWebGpu(gpu({ isFallbackAdapter: true }))).fallback).toBe(true);
    expect(backendFor('auto', swift)).toEqual({ backend: 'wasm', reason: `wasm (the CPU): ${swift.reason}` });
    expect(backendFor('webgpu', swift).backend).toBe('wasm');
    const none = await checkWebGpu(gpu(null));
    expect(none.usable).toBe(false);
    expect(none.reason).toMatch(/^no WebGPU adapter/);
    expect((await checkWebGpu(undefined)).reason).toBe('this browser has no WebGPU');
    expect((await checkWebGpu(undefined, false)).reason).toBe('WebGPU needs a secure page (https:// or localhost); this page came over plain http');
    const thrown = await checkWebGpu({ requestAdapter: () => Promise.reject(new Error('device lost')) });
    expect(thrown).toMatchObject({ usable: false, reason: 'WebGPU failed: device lost' });
    expect(backendFor('auto', null).backend).toBe('wasm');
  });
});

/** A fake backend: answers each request with its name; counts builds and releases. */
function fakes() {
  const log: string[] = [];
  const build = (backend: TabBackend, fail = false) => {
    if (fail) return Promise.reject(new Error('no adapter'));
    log.push(`build ${backend}`);
    const evaluator: Evaluator = {
      evaluate: (_r: EvaluationRequest, complete: (e: Error | null) => void) => {
        log.push(`eval ${backend}`);
        complete(null);
      },
    };
    return Promise.resolve({ backend, evaluator, release: () => (log.push(`release ${backend}`), Promise.resolve()) });
  };
  return { log, build };
}

const request = { id: 1, iteration: 0, phase: 'init', items: [] } as unknown as EvaluationRequest;
const run = (e: Evaluator): Promise<Error | null> => new Promise((resolve) => e.evaluate(request, resolve));

describe('backend switch', () => {
  it('applies at the next evaluation and releases the old sessions; a failed build keeps the old backend', async () => {
    const f = fakes();
    const switches: [TabBackend, string | null][] = [];
    const sw = new BackendSwitch(
      await f.build('wasm'),
      (b) => f.build(b, b === 'webgpu' && f.log.includes('eval webgpu')),
      (b, e) => switches.push([b, e]),
    );
    expect(await run(sw)).toBeNull();
    sw.setBackend('webgpu');
    expect(sw.pending).toBe('webgpu');
    expect(sw.backend).toBe('wasm'); // nothing changes until the next evaluation
    expect(await run(sw)).toBeNull();
    expect(sw.backend).toBe('webgpu');
    expect(sw.pending).toBeNull();
    sw.setBackend('wasm');
    expect(await run(sw)).toBeNull();
    expect(f.log).toEqual(['build wasm', 'eval wasm', 'build webgpu', 'release wasm', 'eval webgpu', 'build wasm', 'release webgpu', 'eval wasm']);
    expect(switches).toEqual([
      ['webgpu', null],
      ['wasm', null],
    ]);
    // WebGPU failing to build (the fake fails once a WebGPU evaluation has run): wasm keeps computing, the reason is said.
    sw.setBackend('webgpu');
    expect(await run(sw)).toBeNull();
    expect(sw.backend).toBe('wasm');
    expect(sw.pending).toBeNull();
    expect(switches[2]).toEqual(['wasm', 'webgpu failed: no adapter']);
    expect(f.log.slice(-1)).toEqual(['eval wasm']);
  });
});

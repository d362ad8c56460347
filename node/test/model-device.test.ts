/**
 * The GPU probe's judgement (issue 17): the probe graph runs forward and backward on two real
 * implementations (onnxruntime-node's CPU provider and onnxruntime-web's wasm backend) that must
 * agree within the float32 tolerance, and a device that computes something else — a perturbed
 * weight, a NaN, a missing output — must fail it.
 */
import { describe, expect, it } from 'vitest';
import { describeFailure, PROBE_ATOL, PROBE_RTOL, probeGraph, worstScaledError } from '../src/model/device.js';
import { onnxruntimeNode, onnxruntimeWebWasm } from '../src/model/runtimes.js';
import type { OrtRuntime } from '@masha/protocol/model';

async function run(rt: OrtRuntime, inputs: ReturnType<typeof probeGraph>['inputs'], model: Uint8Array): Promise<Record<string, number[]>> {
  const s = await rt.createSession(model);
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, rt.tensor('float32', Float32Array.from(t.data), t.dims)]));
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float32Array, Number)]));
}

describe('the GPU probe', () => {
  it('its graph gives the loss and every gradient; two real backends agree within the tolerance, a perturbed weight does not', async () => {
    const { model, inputs } = probeGraph();
    const cpu = await run(await onnxruntimeNode(), inputs, model);
    const wasm = await run(await onnxruntimeWebWasm(), inputs, model);
    expect(Object.keys(cpu).sort()).toEqual(['grad_b1', 'grad_beta', 'grad_gamma', 'grad_w1', 'grad_w2', 'grad_x', 'loss']);
    expect(cpu.grad_w1).toHaveLength(32 * 64);
    expect(Number.isFinite(cpu.loss[0])).toBe(true);
    for (const g of Object.values(cpu)) expect(g.some((v) => v !== 0)).toBe(true);
    const agree = worstScaledError(wasm, cpu);
    expect(agree).toBeLessThanOrEqual(1);
    // A device that computes one layer 1 % off (what a reduced-precision kernel might) must not pass.
    const w1 = inputs.w1.data.map((v) => v * 1.01);
    const wrong = await run(await onnxruntimeNode(), { ...inputs, w1: { dims: inputs.w1.dims, data: w1 } }, model);
    expect(worstScaledError(wrong, cpu)).toBeGreaterThan(1);
  });

  it('scaled error: within tolerance passes, beyond fails, non-finite or missing outputs fail', () => {
    const want = { a: [1, -2, 0], b: [100] };
    expect(worstScaledError(want, want)).toBe(0);
    const near = { a: [1 + 0.5 * (PROBE_ATOL + PROBE_RTOL), -2, 0], b: [100] };
    expect(worstScaledError(near, want)).toBeCloseTo(0.5, 6);
    expect(worstScaledError({ a: [1, -2, 2 * PROBE_ATOL], b: [100] }, want)).toBeCloseTo(2, 6);
    expect(worstScaledError({ a: [1, -2, Number.NaN], b: [100] }, want)).toBe(Infinity);
    expect(worstScaledError({ a: [1, -2, 0] }, want)).toBe(Infinity);
    expect(worstScaledError({ a: [1, -2], b: [100] }, want)).toBe(Infinity);
  });

  it("says onnxruntime's failures in the user's terms", () => {
    expect(describeFailure('webgpu', 'Failed to get a WebGPU adapter: No supported adapters', "Couldn't load Vulkan: libvulkan.so.1: cannot open")).toBe(
      'no WebGPU adapter on this machine (no Vulkan loader: libvulkan.so.1 is not installed)',
    );
    expect(describeFailure('cuda', 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library')).toMatch(
      /CUDA's libraries are not installed/,
    );
    expect(describeFailure('cuda', 'something else entirely')).toBe('something else entirely');
  });
});

/**
 * Where a swarm volunteer computes (issue 17, `masha join --device`): without a usable GPU (CI) the
 * probe picks the CPU and says why for every GPU provider; what the peer reports (status field,
 * events.jsonl line) passes the shared schemas; `--device gpu` fails at once, before connecting,
 * with the reason in the user's terms; runs that compute in TypeScript or on the wasm backend are
 * said to run on the CPU without a probe.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '@masha/protocol';
import { parseEventLine, statusSchema } from '@masha/protocol/swarm';
import { runCli } from '../src/cli/program.js';
import { probeGpuProviders } from '../src/model/device.js';
import { deviceEventFields, deviceForRun, deviceWords, probeBeforeJoin, statusDevice } from '../src/model/swarm-device.js';

const RUN = 'ab'.repeat(32);
// Nothing listens here: a join that got as far as dialling would fail with exit 3, not 2.
const RELAY = '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWEch2LCyBuQUHGQUDTm6VfFA8bDKCsdtDmzfcFVJ5zHZR';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

describe('the device of a swarm volunteer', { timeout: 60_000 }, () => {
  it('auto on a transformer run: the probe decides; what the peer reports passes the status and events schemas', async () => {
    const gpu = (await probeGpuProviders()).find((p) => p.ok);
    const d = await deviceForRun('auto', { kind: 'onnx', backend: 'node' }, RUN, null);
    expect(d.requested).toBe('auto');
    expect(d.probes.map((p) => p.provider)).toEqual(['cuda', 'webgpu']);
    for (const p of d.probes) expect(p.reason.length).toBeGreaterThan(0);
    const s = statusDevice(d);
    expect(statusSchema.shape.device.parse(s)).toEqual(s);
    const line = parseEventLine(JSON.stringify({ t: 1733300000.25, ev: 'device', ...deviceEventFields('12D3KooWpeer', d) })) as unknown as Record<
      string,
      unknown
    >;
    expect(line.provider).toBe(d.provider);
    expect(line.probes).toHaveLength(2);
    if (gpu !== undefined) {
      // A machine with a usable GPU: auto takes the first provider that passed.
      expect(d.provider).toBe(gpu.provider);
      expect(s).toEqual({ provider: gpu.provider, gpu: true, requested: 'auto' });
      return;
    }
    // No usable GPU (CI): the CPU, and why not each GPU provider.
    expect(s).toEqual({ provider: 'cpu', gpu: false, requested: 'auto' });
    expect(d.reason).toMatch(/^the CPU \(no usable GPU — cuda: .+; webgpu: .+\)$/);
    expect(d.probes.every((p) => !p.ok)).toBe(true);
    expect(deviceWords(d)).toBe('the CPU');
  });

  it('--device gpu without a usable GPU fails before joining, naming each provider', async () => {
    const gpu = (await probeGpuProviders()).find((p) => p.ok);
    if (gpu !== undefined) {
      const early = await probeBeforeJoin('gpu', 'node');
      expect(early?.provider).toBe(gpu.provider);
      return;
    }
    await expect(probeBeforeJoin('gpu', 'node')).rejects.toThrow(UsageError);
    await expect(probeBeforeJoin('gpu', 'node')).rejects.toThrow(/--device: gpu: no usable GPU — cuda: .+; webgpu: .+\. Use --device cpu or auto\./);
    // The CLI: exit 2 with that message — the relay (where nothing listens) is never dialled (that would be exit 3).
    const c = capture();
    expect(await runCli(['join', '--relay', RELAY, '--connect-timeout', '1', '--device', 'gpu'], c.io)).toBe(2);
    expect(c.err()).toMatch(/^masha join: error: --device: gpu: no usable GPU — cuda: .+; webgpu: .+\. Use --device cpu or auto\.$/m);
    const j = capture();
    expect(await runCli(['join', '--relay', RELAY, '--device', 'gpu', '--json'], j.io)).toBe(2);
    expect(j.out()).toBe('');
  });

  it('--device cpu, the wasm backend and TypeScript runs: the CPU without a probe; gpu for them is refused', async () => {
    const cpu = await deviceForRun('cpu', { kind: 'onnx', backend: 'node' }, RUN, null);
    expect(statusDevice(cpu)).toEqual({ provider: 'cpu', gpu: false, requested: 'cpu' });
    expect(cpu.probes).toEqual([]);
    expect(await probeBeforeJoin('cpu', 'node')).toBeNull();
    expect(await probeBeforeJoin('auto', 'node')).toBeNull();
    const wasm = await deviceForRun('auto', { kind: 'onnx', backend: 'wasm' }, RUN, null);
    expect(statusDevice(wasm)).toEqual({ provider: 'wasm', gpu: false, requested: 'auto' });
    expect(deviceWords(wasm)).toBe('the CPU (wasm)');
    await expect(probeBeforeJoin('gpu', 'wasm')).rejects.toThrow(/--device: gpu: the wasm backend computes on the CPU/);
    const ts = await deviceForRun('auto', { kind: 'typescript', what: 'a synthetic problem' }, RUN, null);
    expect(statusDevice(ts)).toEqual({ provider: 'cpu', gpu: false, requested: 'auto' });
    expect(ts.reason).toBe('the CPU (this run computes a synthetic problem in TypeScript)');
    expect(ts.probes).toEqual([]);
    // Even when a GPU passed the probe before joining, a TypeScript run cannot use it.
    const early = { requested: 'gpu' as const, provider: 'webgpu' as const, probes: [], reason: 'the GPU' };
    await expect(deviceForRun('gpu', { kind: 'typescript', what: 'a softmax model' }, RUN, early)).rejects.toThrow(
      /--device: gpu: run abababababab… computes a softmax model in TypeScript, on the CPU; join it with --device auto or cpu\./,
    );
    // …and a transformer run takes the early choice as it is.
    expect(statusDevice(await deviceForRun('gpu', { kind: 'onnx', backend: 'node' }, RUN, early))).toEqual({ provider: 'webgpu', gpu: true, requested: 'gpu' });
  });

  it('masha join --help names the device choice', async () => {
    const c = capture();
    expect(await runCli(['join', '--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/--device <name>\s+where model runs compute: auto/);
  });
});

/**
 * Which device computes a Node peer's gradients (issue 17). onnxruntime-node 1.31 ships a WebGPU
 * execution provider (Dawn: Vulkan on Linux, Metal on macOS, D3D12 on Windows) and can use CUDA
 * where CUDA's libraries are already on the machine (nothing is downloaded: its install script is
 * denied). At start `auto` probes them, best first (CUDA, then WebGPU), by running a small graph
 * with the model's op mix — MatMul/Gemm, LayerNormalization, GELU (tanh), LogSoftmax and their
 * vector-Jacobian products — on the GPU provider and on the CPU provider, and takes the first GPU
 * provider whose every output agrees with the CPU's within a float32 tolerance. Otherwise the CPU.
 *
 * The probe runs in a child process (device-probe-child.cjs) with a time limit: a driver that
 * hangs, crashes or prints its warnings while it initialises does so there, not in the peer, and
 * its messages become the reason the probe reports.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Graph, gradients, ops, toOnnx } from '@masha/protocol/model';
import { UsageError } from '@masha/protocol';
import { z } from 'zod';

/** What the user asks for (`--device`). */
export type DeviceFlag = 'auto' | 'cpu' | 'gpu';
export const DEVICE_FLAGS: readonly DeviceFlag[] = ['auto', 'cpu', 'gpu'];

/** onnxruntime-node's GPU execution providers, in the order `auto` tries them. */
export type GpuProvider = 'cuda' | 'webgpu';
export const GPU_PROVIDERS: readonly GpuProvider[] = ['cuda', 'webgpu'];

/** The execution provider that computes. */
export type ExecutionProvider = 'cpu' | GpuProvider;

export interface ProviderProbe {
  readonly provider: GpuProvider;
  /** The provider ran the probe graph and agreed with the CPU. */
  readonly ok: boolean;
  /** Why not (or 'agrees with the CPU'), in words. */
  readonly reason: string;
  /** Largest |gpu − cpu| / (atol + rtol·|cpu|) over every output element (≤ 1 passes). */
  readonly worstError: number | null;
  /** One run of the probe graph on this provider (ms), after a warm-up run. */
  readonly ms: number | null;
}

export interface DeviceChoice {
  readonly requested: DeviceFlag;
  readonly provider: ExecutionProvider;
  /** GPU providers tried (empty for `--device cpu`). */
  readonly probes: readonly ProviderProbe[];
  /** One line for the user: which device, and why. */
  readonly reason: string;
}

/** Float32 agreement of a provider's outputs with the CPU's: |a − b| ≤ ATOL + RTOL·|b|. */
export const PROBE_ATOL = 1e-4;
export const PROBE_RTOL = 1e-3;

export interface ProbeGraph {
  readonly model: Uint8Array;
  readonly inputs: Readonly<Record<string, { readonly dims: readonly number[]; readonly data: readonly number[] }>>;
}

/** Deterministic, well-scaled test values (no randomness needed: any non-degenerate data will do). */
function fill(n: number, phase: number, scale: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sin(0.7 * i + phase) * Math.cos(0.13 * i * i + phase);
  return out;
}

/**
 * The probe graph: a two-layer block with the transformer's ops, its loss and the loss's gradient
 * with respect to every weight and the input — forward and backward, as training runs them.
 */
export function probeGraph(): ProbeGraph {
  const N = 8;
  const D = 32;
  const H = 64;
  const C = 8;
  const g = new Graph('float32');
  const x = g.input('x', [N, D], 'float32', true);
  const w1 = g.input('w1', [D, H], 'float32', true);
  const b1 = g.input('b1', [H], 'float32', true);
  const gamma = g.input('gamma', [H], 'float32', true);
  const beta = g.input('beta', [H], 'float32', true);
  const w2 = g.input('w2', [H, C], 'float32', true);
  const h = ops.gelu(g, ops.layerNorm(g, ops.linear(g, x, w1, b1), gamma, beta, 1e-5), 'tanh');
  const logits = ops.matmul(g, h, w2);
  const logp = ops.logSoftmax(g, logits);
  const target = g.constant(
    fill(N * C, 2.1, 1).map((v) => Math.abs(v) / C),
    [N, C],
  );
  const loss = ops.mul(g, ops.sumAll(g, ops.mul(g, logp, target)), g.scalar(-1 / N, 'float32'));
  const wrt = [x, w1, b1, gamma, beta, w2];
  const grads = gradients(g, loss, wrt);
  g.output('loss', loss);
  grads.forEach((gr, i) => {
    if (gr === null) throw new Error(`probe graph: no gradient for input ${i}`);
    g.output(`grad_${wrt[i].name}`, gr);
  });
  const inputs = {
    x: { dims: [N, D], data: fill(N * D, 0.3, 1) },
    w1: { dims: [D, H], data: fill(D * H, 1.1, 0.2) },
    b1: { dims: [H], data: fill(H, 0.5, 0.1) },
    gamma: { dims: [H], data: fill(H, 0.9, 0.2).map((v) => 1 + v) },
    beta: { dims: [H], data: fill(H, 1.7, 0.1) },
    w2: { dims: [H, C], data: fill(H * C, 2.3, 0.2) },
  };
  return { model: toOnnx(g, 'masha-device-probe'), inputs };
}

/**
 * Largest scaled error of `got` against `want` (same output names and lengths); Infinity when an
 * output is missing, has another length, or is not finite — a provider that returns garbage fails.
 */
export function worstScaledError(got: Readonly<Record<string, readonly number[]>>, want: Readonly<Record<string, readonly number[]>>): number {
  let worst = 0;
  for (const [name, ref] of Object.entries(want)) {
    const out = got[name];
    if (!out || out.length !== ref.length) return Infinity;
    for (let i = 0; i < ref.length; i++) {
      const a = out[i];
      const b = ref[i];
      if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
      const e = Math.abs(a - b) / (PROBE_ATOL + PROBE_RTOL * Math.abs(b));
      if (e > worst) worst = e;
    }
  }
  return worst;
}

const childResults = z.object({
  results: z.array(
    z.object({
      provider: z.string(),
      ok: z.boolean(),
      outputs: z.record(z.string(), z.array(z.number())).optional(),
      ms: z.number().optional(),
      error: z.string().optional(),
    }),
  ),
});

export interface ProbeOptions {
  /** Providers to try (default: every GPU provider). */
  readonly providers?: readonly GpuProvider[];
  /** Time limit of the probe process (default 60 s: a first GPU initialisation can take seconds). */
  readonly timeoutMs?: number;
}

/** Runs the probe graph on the CPU and on each GPU provider in a child process; judges each. */
export async function probeGpuProviders(opts: ProbeOptions = {}): Promise<ProviderProbe[]> {
  const providers = opts.providers ?? GPU_PROVIDERS;
  const graph = probeGraph();
  const request = JSON.stringify({
    ort: createRequire(import.meta.url).resolve('onnxruntime-node/package.json'),
    model: Buffer.from(graph.model).toString('base64'),
    inputs: graph.inputs,
    providers: ['cpu', ...providers],
  });
  const child = await runChild(request, opts.timeoutMs ?? 60_000);
  const fail = (reason: string): ProviderProbe[] => providers.map((provider) => ({ provider, ok: false, reason, worstError: null, ms: null }));
  if (child.timedOut) return fail(`the probe did not finish within ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s`);
  let parsed: z.infer<typeof childResults>;
  try {
    parsed = childResults.parse(JSON.parse(child.stdout));
  } catch {
    return fail(`the probe process ended without a result (exit ${child.code ?? child.signal}${child.stderr ? `: ${firstLine(child.stderr)}` : ''})`);
  }
  const cpu = parsed.results.find((r) => r.provider === 'cpu');
  if (!cpu?.ok || !cpu.outputs) return fail(`the CPU provider failed the probe: ${cpu?.error ?? 'no result'}`);
  return providers.map((provider): ProviderProbe => {
    const r = parsed.results.find((x) => x.provider === provider);
    if (!r) return { provider, ok: false, reason: 'not tried (the probe process stopped before it)', worstError: null, ms: null };
    if (!r.ok || !r.outputs) return { provider, ok: false, reason: describeFailure(provider, r.error ?? 'failed', child.stderr), worstError: null, ms: null };
    const worst = worstScaledError(r.outputs, cpu.outputs as Record<string, number[]>);
    const ms = r.ms ?? null;
    if (worst <= 1) return { provider, ok: true, reason: 'agrees with the CPU', worstError: worst, ms };
    return {
      provider,
      ok: false,
      reason: `its results differ from the CPU's beyond float32 tolerance (worst ${Number.isFinite(worst) ? worst.toFixed(1) : 'non-finite'}× the allowed |Δ| ≤ ${PROBE_ATOL} + ${PROBE_RTOL}·|x|)`,
      worstError: Number.isFinite(worst) ? worst : null,
      ms,
    };
  });
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  ).slice(0, 200);
}

/** onnxruntime's messages, said in the user's terms where we recognise them. */
export function describeFailure(provider: GpuProvider, error: string, stderr = ''): string {
  if (provider === 'webgpu' && /adapter/i.test(error)) {
    const vulkan = /libvulkan/i.test(stderr) ? ' (no Vulkan loader: libvulkan.so.1 is not installed)' : '';
    return `no WebGPU adapter on this machine${vulkan}`;
  }
  if (provider === 'cuda' && /shared library|providers_shared|libcudart|libcublas|cudnn/i.test(error)) {
    return "CUDA's libraries are not installed (onnxruntime-node's CUDA provider needs them on the machine)";
  }
  return error.slice(0, 300);
}

interface ChildOutcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

function runChild(input: string, timeoutMs: number): Promise<ChildOutcome> {
  const script = fileURLToPath(new URL('../../src/model/device-probe-child.cjs', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-8192)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal, timedOut });
    });
    child.stdin.end(input);
  });
}

/**
 * The device for `flag`: `cpu` without probing; `auto` the first GPU provider that passes the probe,
 * else the CPU; `gpu` the same but a UsageError (naming every provider's reason) when none passes.
 */
export async function chooseDevice(flag: DeviceFlag, opts: ProbeOptions = {}): Promise<DeviceChoice> {
  switch (flag) {
    case 'cpu':
      return { requested: flag, provider: 'cpu', probes: [], reason: 'the CPU, as asked (--device cpu)' };
    case 'auto':
    case 'gpu': {
      const probes = await probeGpuProviders(opts);
      const found = probes.find((p) => p.ok);
      const why = probes.map((p) => `${p.provider}: ${p.reason}`).join('; ');
      if (found)
        return { requested: flag, provider: found.provider, probes, reason: `the GPU through onnxruntime's ${found.provider} provider (${found.reason})` };
      if (flag === 'gpu') throw new UsageError('--device', `gpu: no usable GPU — ${why}. Use --device cpu or auto.`);
      return { requested: flag, provider: 'cpu', probes, reason: `the CPU (no usable GPU — ${why})` };
    }
    default: {
      const never: never = flag;
      throw new UsageError('--device', `unknown device ${String(never)}`);
    }
  }
}

/**
 * Where a volunteer of the swarm computes (issue 17): `masha join --device auto|cpu|gpu`.
 *
 * With `--device gpu` the GPU probe (device.ts) runs before the peer connects, so that a machine
 * without a usable GPU fails at once, before anything is joined; with `auto` it runs once the run
 * is known, and only when the run computes with onnxruntime-node (a transformer run): onnxruntime-web's
 * wasm backend and the pure-TypeScript models (softmax, synthetic problems) compute on the CPU —
 * `--device gpu` for such a run is refused, naming why.
 *
 * The result is what the peer reports: its status (`device`), `masha join`'s output and one
 * `device` line of its events.jsonl.
 */
import type { ModelRun } from '@masha/protocol';
import { UsageError } from '@masha/protocol';
import type { StatusDevice } from '@masha/protocol/swarm';
import { chooseDevice, type DeviceChoice, type DeviceFlag, type ProbeOptions, type ProviderProbe } from './device.js';
import type { NodeBackend } from './runtimes.js';
import type { LogFields } from '../peer/event-log.js';

/** What the run computes with: an ONNX model on one of Node's backends, or TypeScript. */
export type RunCompute = { readonly kind: 'onnx'; readonly backend: NodeBackend } | { readonly kind: 'typescript'; readonly what: string };

/** The device a volunteer computes on, as reported. */
export interface SwarmDevice {
  readonly requested: DeviceFlag;
  /** onnxruntime's execution provider (`wasm`: onnxruntime-web in Node, on the CPU). */
  readonly provider: StatusDevice['provider'];
  readonly gpu: boolean;
  /** One line for the user: which device, and why. */
  readonly reason: string;
  readonly probes: readonly ProviderProbe[];
}

/**
 * Before connecting, for `--device gpu` only: probes the GPU providers and throws a UsageError
 * (exit 2) naming each provider's reason when none passes — the volunteer learns at once, before
 * anything is joined. `auto` waits for the run (a run that computes in TypeScript needs no probe).
 */
export async function probeBeforeJoin(flag: DeviceFlag, backend: NodeBackend, opts: ProbeOptions = {}): Promise<DeviceChoice | null> {
  if (flag !== 'gpu') return null;
  if (backend === 'wasm') throw new UsageError('--device', 'gpu: the wasm backend computes on the CPU; use the node backend to compute on a GPU.');
  return chooseDevice('gpu', opts);
}

/** What a run's evaluations compute with (`null`: a synthetic problem). */
export function computeOf(run: ModelRun | null, backend: NodeBackend): RunCompute {
  if (run === null) return { kind: 'typescript', what: 'a synthetic problem' };
  switch (run.task.kind) {
    case 'softmax':
      return { kind: 'typescript', what: 'a softmax model' };
    case 'model':
      return { kind: 'onnx', backend };
    default: {
      const never: never = run.task;
      throw new UsageError('--device', `unknown model kind ${String((never as { kind: string }).kind)}`);
    }
  }
}

/**
 * The device for this run: `early` is probeBeforeJoin's choice (for `--device gpu`). `auto` probes
 * now when the run computes with onnxruntime-node. Throws a UsageError for `--device gpu` when the
 * run cannot compute on a GPU.
 */
export async function deviceForRun(
  flag: DeviceFlag,
  compute: RunCompute,
  runId: string,
  early: DeviceChoice | null,
  opts: ProbeOptions = {},
): Promise<SwarmDevice> {
  const none = { requested: flag, probes: [] };
  if (compute.kind === 'typescript') {
    if (flag === 'gpu')
      throw new UsageError(
        '--device',
        `gpu: run ${runId.slice(0, 12)}… computes ${compute.what} in TypeScript, on the CPU; join it with --device auto or cpu.`,
      );
    return { ...none, provider: 'cpu', gpu: false, reason: `the CPU (this run computes ${compute.what} in TypeScript)` };
  }
  if (compute.backend === 'wasm') {
    if (flag === 'gpu') throw new UsageError('--device', 'gpu: the wasm backend computes on the CPU; use the node backend to compute on a GPU.');
    return { ...none, provider: 'wasm', gpu: false, reason: "the CPU (onnxruntime-web's wasm backend)" };
  }
  const choice = early ?? (await chooseDevice(flag, opts));
  return { requested: flag, probes: choice.probes, provider: choice.provider, gpu: choice.provider !== 'cpu', reason: choice.reason };
}

/** The `device` field of the peer's status reports. */
export function statusDevice(d: SwarmDevice): StatusDevice {
  return { provider: d.provider, gpu: d.gpu, requested: d.requested };
}

/** The fields of the `device` line of events.jsonl (protocol/src/swarm/events.ts). */
export function deviceEventFields(peer: string, d: SwarmDevice): LogFields {
  return {
    peer,
    requested: d.requested,
    provider: d.provider,
    gpu: d.gpu,
    reason: d.reason.slice(0, 2000),
    probes: d.probes.slice(0, 8).map((p) => ({ provider: p.provider, ok: p.ok, reason: p.reason.slice(0, 500), worstError: p.worstError, ms: p.ms })),
  };
}

/** "the GPU (webgpu)" / "the CPU" — for one-line summaries. */
export function deviceWords(d: SwarmDevice): string {
  return d.gpu ? `the GPU (${d.provider})` : d.provider === 'wasm' ? 'the CPU (wasm)' : 'the CPU';
}

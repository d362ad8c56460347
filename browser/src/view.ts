/**
 * The volunteer's view: plain DOM, no framework. `render` takes the latest network state (main
 * thread) and live state (worker) and updates text in place; the chart is drawn here from the worker's series.
 * Errors are said in the volunteer's terms (`explain`).
 */
import type { ComputeView, LiveState, NetState, RunProblem, SelfView } from './worker-protocol.js';
import { isBackendChoice, type BackendChoice } from './worker/gpu-backend.js';
import { plotLineChartSvg } from './chart.js';

export type PageProblem = RunProblem | 'relay-unreachable' | 'relay-lost' | 'no-webrtc' | 'left' | 'engine-error';

/** This tab's state in a few words. */
export function describeSelf(me: SelfView): string {
  switch (me.state) {
    case 'following':
      return 'waiting for the run';
    case 'starting':
      return 'joining the swarm…';
    case 'computing':
      return me.isAggregator ? 'computing — and aggregating this epoch' : me.shardsHeld.length > 0 ? 'computing' : 'in sync, waiting for shards';
    case 'paused':
      return 'paused (your shards went to other volunteers)';
    case 'done':
      return 'the run reached its end; serving the last state to others';
    case 'finished':
      return 'finished';
    case 'left':
      return 'left the run';
    case 'error':
      return `stopped: ${me.error ?? 'unknown error'}`;
    default: {
      const never: never = me.state;
      return String(never);
    }
  }
}

/** What to tell the volunteer, by problem. */
export function explain(p: PageProblem): string {
  switch (p) {
    case 'relay-unreachable':
      return 'Cannot reach the relay. Check that the address is right and the relay is running, then reload the page.';
    case 'relay-lost':
      return 'Lost the connection to the relay; trying again…';
    case 'run-not-found':
      return 'This run was not found: nobody is announcing it. The link may be old, or the run has not started yet.';
    case 'run-finished':
      return 'This run has finished. Thank you! Nothing is left to compute.';
    case 'no-runs':
      return 'No run is open right now. The page will join the next one that starts.';
    case 'no-webrtc':
      return 'This browser has no WebRTC: it can watch the run through the relay but cannot link to other volunteers.';
    case 'left':
      return 'You left the run. Reload the page to join again.';
    case 'engine-error':
      return 'This tab stopped computing because of an error; reload the page to try again.';
    default: {
      const never: never = p;
      return String(never);
    }
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

function short(id: string | null): string {
  if (id === null) return '—';
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

function fmtMetric(x: number | null): string {
  return x === null ? '—' : x.toExponential(2);
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page lacks #${id}`);
  return el as T;
};

export interface Controls {
  onPause(paused: boolean): void;
  onCpuShare(share: number): void;
  onLeave(): void;
  /** The volunteer picked onnxruntime-web's backend (auto | wasm | webgpu). */
  onBackend(choice: BackendChoice): void;
}

/** "WebGPU (…)" / "wasm (the CPU): …" and the pending switch, for the page. */
export function describeCompute(c: ComputeView): string {
  const using = c.modelRun ? c.reason : `${c.reason} (for model runs; this run computes in TypeScript)`;
  return c.pending !== null && !c.reason.includes('next evaluation') ? `${using} — switching to ${c.pending} at the next evaluation` : using;
}

export class View {
  private paused = false;
  private readonly problems = new Set<PageProblem>();
  private lastChart: string | null = null;

  constructor(controls: Controls, cpuShare: number, backend: BackendChoice = 'auto') {
    const select = $<HTMLSelectElement>('backend');
    select.value = backend;
    select.addEventListener('change', () => {
      if (isBackendChoice(select.value)) controls.onBackend(select.value);
    });
    const pause = $<HTMLButtonElement>('pause');
    pause.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? 'Resume' : 'Pause';
      controls.onPause(this.paused);
    });
    const share = $<HTMLInputElement>('cpu-share');
    share.value = String(Math.round(cpuShare * 100));
    $('cpu-share-value').textContent = `${share.value} %`;
    share.addEventListener('input', () => {
      $('cpu-share-value').textContent = `${share.value} %`;
    });
    share.addEventListener('change', () => controls.onCpuShare(Number(share.value) / 100));
    $<HTMLButtonElement>('leave').addEventListener('click', () => {
      pause.disabled = true;
      $<HTMLButtonElement>('leave').disabled = true;
      controls.onLeave();
    });
  }

  setProblem(p: PageProblem, on: boolean): void {
    if (on) this.problems.add(p);
    else this.problems.delete(p);
    const box = $('problems');
    box.replaceChildren(
      ...[...this.problems].map((q) => {
        const li = document.createElement('p');
        li.className = `problem problem-${q}`;
        li.dataset.problem = q;
        li.textContent = explain(q);
        return li;
      }),
    );
    box.hidden = this.problems.size === 0;
  }

  renderNet(net: NetState): void {
    $('relay-state').textContent = net.relay;
    $('relay-state').dataset.state = net.relay;
    $('peers').textContent = String(net.peers);
    $('webrtc-links').textContent = String(net.webrtcLinks);
    $('bytes-up').textContent = formatBytes(net.bytesUp);
    $('bytes-down').textContent = formatBytes(net.bytesDown);
    this.setProblem('relay-lost', net.relay === 'lost');
  }

  renderLive(s: LiveState): void {
    for (const p of ['run-not-found', 'run-finished', 'no-runs'] as const) this.setProblem(p, s.problem === p);
    const r = s.run;
    $('run-name').textContent = r?.name ?? 'waiting for a run…';
    $('run-method').textContent = r ? `${r.method} with ${r.compressor}` : '—';
    $('run-problem').textContent = r?.problem ?? '—';
    $('run-launcher').textContent = short(r?.launcher ?? null);
    $('run-launcher').title = r?.launcher ?? '';
    $('run-id').textContent = r ? short(r.runId) : '—';
    $('run-target').textContent = r?.target != null ? String(r.target) : '—';
    const w = s.swarm;
    $('aggregator').title = w?.aggregator ?? '';
    $('epoch').textContent = w ? String(w.epoch) : '—';
    $('round').textContent = w ? `${w.round} (iteration ${w.iteration})` : '—';
    $('metric').textContent = fmtMetric(w?.metric ?? null);
    $('volunteers').textContent = w ? String(w.volunteers) : '—';
    $('shards-by-peer').textContent = w && w.shards.length > 0 ? w.shards.map((x) => `${short(x.peer)}: ${x.held}`).join(', ') : '—';
    const me = s.self;
    $('computing').textContent = describeSelf(me);
    $('computing').dataset.state = me.state;
    $('self-id').textContent = short(s.peer);
    $('self-id').title = s.peer;
    const engine = me.state !== 'following' && me.state !== 'error';
    $('shards').textContent = engine ? (me.shardsHeld.length > 0 ? me.shardsHeld.join(', ') : 'none') : '—';
    $('rounds').textContent = engine ? String(me.roundsContributed) : '—';
    $('compute-ms').textContent = me.computeMsPerRound !== null ? `${me.computeMsPerRound.toFixed(1)} ms` : '—';
    $('simd').textContent = s.wasmSimd ? 'WebAssembly SIMD' : 'no WebAssembly SIMD: the slower JavaScript path';
    const backend = $('backend-state');
    backend.textContent = describeCompute(s.compute);
    backend.dataset.backend = s.compute.backend;
    backend.dataset.webgpu = s.compute.webgpu === null ? 'checking' : s.compute.webgpu.usable ? 'usable' : s.compute.webgpu.fallback ? 'fallback' : 'none';
    // WebGPU can be chosen only with a hardware adapter; the option says why not otherwise.
    const gpuOption = $<HTMLSelectElement>('backend').querySelector<HTMLOptionElement>('option[value="webgpu"]');
    if (gpuOption !== null && s.compute.webgpu !== null) {
      gpuOption.disabled = !s.compute.webgpu.usable;
      gpuOption.title = s.compute.webgpu.reason;
    }
    $('aggregator').textContent = w?.aggregator != null && w.aggregator === s.peer ? `you (${short(s.peer)})` : short(w?.aggregator ?? null);
    this.setProblem('engine-error', me.state === 'error');
    const c = s.chart;
    const key = c === null ? '' : `${c.iteration.length}:${c.iteration[c.iteration.length - 1]}:${c.metric[c.metric.length - 1]}:${c.target}`;
    if (key !== this.lastChart) {
      this.lastChart = key;
      const chart = $('chart');
      if (c === null) chart.textContent = 'The chart appears after the first reports.';
      else chart.innerHTML = plotLineChartSvg(c, c.target);
    }
  }
}

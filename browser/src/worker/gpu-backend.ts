/**
 * Which onnxruntime-web backend a tab's model runs compute with (issue 17): WebGPU when
 * `navigator.gpu` gives an adapter that is a real GPU, the wasm backend (the CPU) otherwise. A
 * software adapter — `adapter.info.isFallbackAdapter`, or Chromium's SwiftShader, which is what a
 * headless browser or a machine without a GPU driver offers behind `--enable-unsafe-webgpu` — is
 * refused: it emulates the GPU on the CPU, far slower than the wasm kernels.
 *
 * The volunteer may choose (`auto`, `wasm`, `webgpu`) on the page; `webgpu` without a usable
 * adapter computes on wasm all the same, and says why. Pure logic plus one adapter request: it
 * runs in the page and in its worker (navigator.gpu exists in both).
 */

/** The backends of onnxruntime-web a tab uses. */
export type TabBackend = 'wasm' | 'webgpu';
export const TAB_BACKENDS: readonly TabBackend[] = ['wasm', 'webgpu'];
/** What the volunteer asks for. */
export type BackendChoice = 'auto' | TabBackend;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu'];

export function isBackendChoice(v: unknown): v is BackendChoice {
  return v === 'auto' || v === 'wasm' || v === 'webgpu';
}

/** The result of asking the browser for a WebGPU adapter. */
export interface WebGpuCheck {
  /** A hardware adapter: WebGPU may be used. */
  readonly usable: boolean;
  /** Why (not), in the volunteer's terms. */
  readonly reason: string;
  /** The adapter's vendor and architecture (as the browser tells them), or null. */
  readonly adapter: string | null;
  /** The adapter is a software fallback (isFallbackAdapter, or SwiftShader). */
  readonly fallback: boolean;
}

/** The parts of the WebGPU API used here (the page's lib has no WebGPU types). */
export interface GpuAdapterLike {
  readonly info?: {
    readonly isFallbackAdapter?: boolean;
    readonly vendor?: string;
    readonly architecture?: string;
    readonly description?: string;
    readonly device?: string;
  };
  /** Older browsers: on the adapter itself. */
  readonly isFallbackAdapter?: boolean;
}
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

/**
 * Asks `gpu` (navigator.gpu, or undefined) for a high-performance adapter and judges it. `secure`:
 * the page's isSecureContext — browsers expose WebGPU only to https:// pages and localhost.
 */
export async function checkWebGpu(gpu: GpuLike | undefined, secure = true): Promise<WebGpuCheck> {
  if (gpu === undefined || gpu === null) {
    const reason = secure ? 'this browser has no WebGPU' : 'WebGPU needs a secure page (https:// or localhost); this page came over plain http';
    return { usable: false, reason, adapter: null, fallback: false };
  }
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { usable: false, reason: `WebGPU failed: ${String((e as Error)?.message ?? e).slice(0, 200)}`, adapter: null, fallback: false };
  }
  if (adapter === null) return { usable: false, reason: 'no WebGPU adapter (no GPU, or WebGPU is turned off in this browser)', adapter: null, fallback: false };
  const info = adapter.info ?? {};
  const label = [info.vendor, info.architecture].filter((x) => typeof x === 'string' && x.length > 0).join(' ') || 'unnamed adapter';
  const software = /swiftshader|llvmpipe|software/i.test([info.vendor, info.architecture, info.description, info.device].join(' '));
  const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true || software;
  if (fallback)
    return {
      usable: false,
      reason: `only a software WebGPU adapter (${label}): it emulates a GPU on the CPU, slower than wasm`,
      adapter: label,
      fallback: true,
    };
  return { usable: true, reason: `WebGPU adapter ${label}`, adapter: label, fallback: false };
}

/** The backend for the volunteer's choice, and why. */
export function backendFor(choice: BackendChoice, check: WebGpuCheck | null): { readonly backend: TabBackend; readonly reason: string } {
  switch (choice) {
    case 'wasm':
      return { backend: 'wasm', reason: 'wasm (the CPU), as chosen' };
    case 'auto':
    case 'webgpu': {
      if (check === null) return { backend: 'wasm', reason: 'wasm (the CPU): WebGPU not checked yet' };
      if (check.usable) return { backend: 'webgpu', reason: `WebGPU (${check.adapter ?? 'GPU'})` };
      return { backend: 'wasm', reason: `wasm (the CPU): ${check.reason}` };
    }
    default: {
      const never: never = choice;
      throw new Error(`unknown backend choice ${String(never)}`);
    }
  }
}

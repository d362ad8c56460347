import { float32Up } from '../bitio.js';
import { FLOAT32_MAX } from '../checks.js';
import type { Vec } from '../../vec/kernels.js';
import { KERNELS_WASM_HEX } from './kernels-bytes.js';

/**
 * The WebAssembly SIMD kernels of kernels.wat behind a typed interface: each call walks the
 * vector in chunks, copying a chunk into the module's memory, running the kernel and copying the
 * codes out. The kernels draw their random bits as `lanes.ts` describes and return tie positions;
 * the compressors settle ties. `simdKernels()` is null where WebAssembly or its SIMD extension is
 * missing (the compressors then take their plain-JS paths, which give the same codes).
 */
export interface SimdKernels {
  /**
   * Natural compression (codes per `natural.ts`, float32 or float64 input); true if some |x_i| is
   * beyond 2^127 or not finite.
   */
  natural(x: Vec, seed: Int32Array, codes: Uint16Array, ties: number[]): boolean;
  /**
   * Σ x_i² with partial sums over i mod 8 added as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)),
   * and max|x_i| (exact when every x_i is finite; a NaN makes the sum NaN).
   */
  sumSquares(x: Vec): { sum: number; max: number };
  /** Natural dithering with s levels and t = min(|x_i|·k, 2^(s−1)) (see kernels.wat). */
  dither(x: Vec, seed: Int32Array, k: number, s: number, signBit: number, codes: Uint8Array, ties: number[]): void;
  /**
   * 8-bit blockwise codes and scales (float32Up of each block's max|x_i|); the block size must be
   * a multiple of 8. Stochastic rounding when `seed` is given. Returns −1, or the index of the
   * first block whose maximum is not a finite float32 (codes and scales are then incomplete).
   */
  int8(x: Vec, block: number, seed: Int32Array | null, scales: Float32Array, codes: Int8Array, ties: number[]): number;
  /** bitio.ts packCodes (1 ≤ width ≤ 16), from a byte-aligned position. */
  pack(codes: Uint8Array | Uint16Array, n: number, width: number, bytes: Uint8Array, startByte: number): void;
  /**
   * bitio.ts unpackCodes (1 ≤ width ≤ 16), from a byte-aligned position; true if some code has
   * (code & vmask) > vmax (the codes are all written regardless).
   */
  unpack(bytes: Uint8Array, startByte: number, n: number, width: number, out: Uint8Array | Uint16Array, vmask: number, vmax: number): boolean;
}

/** Elements per chunk for the element-wise kernels; int8 uses whole blocks (see `int8Chunk`). */
const CHUNK = 32768;
// Byte offsets of kernels.wat's memory layout.
const ACC = 64;
const FLAG = 128;
const BLOCK = 1024;
const TIES = 16384;
const IN = 147456;
const OUT = 409600;
const IN_BYTES = OUT - IN;
/** Per-block values that fit at BLOCK. */
const BLOCKS = (TIES - BLOCK) / 8;

interface KernelExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  natural(this: void, n: number): number;
  natural64(this: void, n: number): number;
  sumsq(n: number, f64: number): void;
  dither(n: number, f64: number, k16: number, s: number, signBit: number): number;
  int8max(n: number, block: number, f64: number): void;
  int8(n: number, block: number, f64: number, stochastic: number): number;
  pack(n: number, width: number, u16: number): number;
  unpack(n: number, width: number, u16: number, vmask: number, vmax: number): number;
}

/** The part of the WebAssembly API used here (protocol/ is built without DOM or Node types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
}

let loaded: SimdKernels | null | undefined;

/** The kernels, instantiated on first use; null where WebAssembly SIMD is not available. */
export function simdKernels(): SimdKernels | null {
  if (loaded === undefined) loaded = instantiate();
  return loaded;
}

function instantiate(): SimdKernels | null {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return null;
  const bytes = new Uint8Array(KERNELS_WASM_HEX.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(KERNELS_WASM_HEX.slice(2 * i, 2 * i + 2), 16);
  try {
    // validate() is false where the engine lacks SIMD. Browsers compile modules over 4 KiB
    // synchronously only off the main thread (the volunteer page computes in a Web Worker); on a
    // main thread the constructor throws and the compressors take their JS paths.
    if (!api.validate(bytes)) return null;
    const instance = new api.Instance(new api.Module(bytes), {});
    return new Kernels(instance.exports as KernelExports);
  } catch {
    return null;
  }
}

function ceil8(n: number): number {
  return (n + 7) & ~7;
}

/** Elements per int8 chunk: whole blocks, at most CHUNK elements and BLOCKS blocks. */
function int8Chunk(block: number): number {
  return block * Math.max(1, Math.min(Math.floor(CHUNK / block), BLOCKS));
}

class Kernels implements SimdKernels {
  private readonly k: KernelExports;
  private readonly i32: Int32Array;
  private readonly u8in: Uint8Array;
  private readonly u16in: Uint16Array;
  private readonly f32in: Float32Array;
  private readonly f64in: Float64Array;
  private readonly acc: Float64Array;
  private readonly block: Float64Array;
  private readonly ties: Int32Array;
  private readonly out: Uint8Array;
  /**
   * The codes pass through this small JS buffer on their way out: V8 copies out of a wasm memory
   * into a large cold array several times slower than between ordinary arrays (measured: 10 MB in
   * 3.5 ms directly, 0.7 ms through a 32 KiB staging buffer).
   */
  private readonly stage = new ArrayBuffer(65536);
  private readonly stage16 = new Uint16Array(this.stage);
  private readonly stage8 = new Uint8Array(this.stage);
  private readonly stageI8 = new Int8Array(this.stage);

  constructor(k: KernelExports) {
    this.k = k;
    const buf = k.memory.buffer; // fixed size: the views stay valid
    this.i32 = new Int32Array(buf, 0, 64);
    this.u8in = new Uint8Array(buf, IN, IN_BYTES);
    this.u16in = new Uint16Array(buf, IN, IN_BYTES / 2);
    this.f32in = new Float32Array(buf, IN, IN_BYTES / 4);
    this.f64in = new Float64Array(buf, IN, IN_BYTES / 8);
    this.acc = new Float64Array(buf, ACC, 12); // 8 partial sums, FLAG, unused, 2 maxima
    this.block = new Float64Array(buf, BLOCK, BLOCKS);
    this.ties = new Int32Array(buf, TIES, (IN - TIES) / 4);
    this.out = new Uint8Array(buf, OUT, 65536);
  }

  /** STATE: vector k holds word k of the four lanes. */
  private seed(seed: Int32Array): void {
    for (let k = 0; k < 4; k++) for (let l = 0; l < 4; l++) this.i32[4 * k + l] = seed[4 * l + k];
  }

  /** Copies x[lo, hi) to IN, zero-padded to a multiple of 8; returns whether it is float64. */
  private load(x: Vec, lo: number, hi: number): number {
    const n = hi - lo;
    if (x instanceof Float64Array) {
      this.f64in.set(x.subarray(lo, hi));
      this.f64in.fill(0, n, ceil8(n));
      return 1;
    }
    this.f32in.set(x.subarray(lo, hi));
    this.f32in.fill(0, n, ceil8(n));
    return 0;
  }

  /** Stages the chunk's `bytes` bytes of codes (see `stage`). */
  private unload(bytes: number): void {
    this.stage8.set(this.out.subarray(0, bytes));
  }

  private collect(count: number, lo: number, ties: number[]): void {
    for (let t = 0; t < count; t++) ties.push(lo + this.ties[t]);
  }

  natural(x: Vec, seed: Int32Array, codes: Uint16Array, ties: number[]): boolean {
    this.seed(seed);
    this.i32[FLAG / 4] = 0;
    const kernel = x instanceof Float64Array ? this.k.natural64 : this.k.natural;
    const d = x.length;
    for (let lo = 0; lo < d; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, d);
      this.load(x, lo, hi);
      this.collect(kernel(hi - lo), lo, ties);
      this.unload(2 * (hi - lo));
      codes.set(this.stage16.subarray(0, hi - lo), lo);
    }
    return this.i32[FLAG / 4] !== 0;
  }

  sumSquares(x: Vec): { sum: number; max: number } {
    this.acc.fill(0);
    const d = x.length;
    for (let lo = 0; lo < d; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, d);
      this.k.sumsq(hi - lo, this.load(x, lo, hi));
    }
    const a = this.acc;
    return { sum: a[0] + a[1] + (a[2] + a[3]) + (a[4] + a[5] + (a[6] + a[7])), max: Math.max(a[10], a[11]) };
  }

  dither(x: Vec, seed: Int32Array, k: number, s: number, signBit: number, codes: Uint8Array, ties: number[]): void {
    this.seed(seed);
    const d = x.length;
    for (let lo = 0; lo < d; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, d);
      const f64 = this.load(x, lo, hi);
      this.collect(this.k.dither(hi - lo, f64, k * 65536, s, signBit), lo, ties);
      this.unload(hi - lo);
      codes.set(this.stage8.subarray(0, hi - lo), lo);
    }
  }

  int8(x: Vec, block: number, seed: Int32Array | null, scales: Float32Array, codes: Int8Array, ties: number[]): number {
    if (block % 8 !== 0) throw new RangeError(`int8 kernel: block ${block} is not a multiple of 8`);
    if (seed) this.seed(seed);
    const d = x.length;
    const chunk = int8Chunk(block);
    const stochastic = seed ? 1 : 0;
    for (let lo = 0; lo < d; lo += chunk) {
      const hi = Math.min(lo + chunk, d);
      const n = hi - lo;
      const f64 = this.load(x, lo, hi);
      this.k.int8max(n, block, f64);
      const b0 = lo / block;
      const nb = Math.ceil(n / block);
      const m = this.block;
      for (let b = 0; b < nb; b++) {
        const max = m[b];
        if (!(max <= FLOAT32_MAX)) return b0 + b;
        const scale = max === 0 ? 0 : float32Up(max);
        scales[b0 + b] = scale;
        // the kernel's multiplier: 127/scale, times 2^16 for stochastic rounding (see kernels.wat)
        m[b] = scale === 0 ? 0 : (127 / scale) * (seed ? 65536 : 1);
      }
      this.collect(this.k.int8(n, block, f64, stochastic), lo, ties);
      this.unload(n);
      codes.set(this.stageI8.subarray(0, n), lo);
    }
    return -1;
  }

  pack(codes: Uint8Array | Uint16Array, n: number, width: number, bytes: Uint8Array, startByte: number): void {
    const u16 = codes instanceof Uint16Array ? 1 : 0;
    for (let lo = 0; lo < n; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, n);
      if (u16) this.u16in.set(codes.subarray(lo, hi));
      else this.u8in.set(codes.subarray(lo, hi));
      const len = this.k.pack(hi - lo, width, u16);
      this.unload(len);
      bytes.set(this.stage8.subarray(0, len), startByte + (lo * width) / 8);
    }
  }

  unpack(bytes: Uint8Array, startByte: number, n: number, width: number, out: Uint8Array | Uint16Array, vmask: number, vmax: number): boolean {
    const u16 = out instanceof Uint16Array ? 1 : 0;
    let bad = 0;
    for (let lo = 0; lo < n; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, n);
      const from = startByte + (lo * width) / 8;
      const len = Math.ceil(((hi - lo) * width) / 8);
      this.u8in.set(bytes.subarray(from, from + len));
      bad |= this.k.unpack(hi - lo, width, u16, vmask, vmax);
      if (u16) {
        this.unload(2 * (hi - lo));
        out.set(this.stage16.subarray(0, hi - lo), lo);
      } else {
        this.unload(hi - lo);
        out.set(this.stage8.subarray(0, hi - lo), lo);
      }
    }
    return bad !== 0;
  }
}

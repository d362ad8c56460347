/**
 * PermK (Szlendak, Tyurin, Richtárik 2021): correlated sparsifiers built on one shared random
 * permutation per round, so that the n devices' outputs tile the coordinates. Unbiased per device;
 * applied by all devices to the same vector their average reproduces it exactly.
 *
 * The shared draws come from the stream (round, `<purpose>/permk`, SHARED): every device and the
 * aggregator regenerate them, so a payload carries only the kept values (float32, 32 bits each).
 *
 * Regime d ≥ n (blocks). Draw a permutation π of [0, d) and an offset o uniform in [0, n). With
 * q = ⌊d/n⌋ and r = d mod n, the positions of π are cut into n consecutive blocks, block t having
 * q + 1 entries for t < r and q entries otherwise. Device m takes block t = (m + o) mod n and sends
 * x at those coordinates; the receiver multiplies by n. The random offset makes every device equally
 * likely to hold a long block, so P(j ∈ block of m) = E|block|/d = (q + r/n)/d = 1/n for every
 * coordinate j and device m: each output is unbiased with the single scale n, and since the blocks
 * partition [0, d), (1/n) Σ_m C_m(x) = x exactly. Per device E‖C_m(x)‖² = n‖x‖² (q = n); the AB
 * inequality holds with equality for A = B = 1: coordinate j of (1/n)ΣC_m(a_m) is a_{I,j} with I
 * uniform over devices, whose variance is (1/n)Σ_m (a_{m,j} − ā_j)².
 * None of these facts needs π to be uniform over all d! permutations — the offset alone makes the
 * block of each coordinate uniform over devices, and the blocks partition [0, d) for any bijection —
 * so π is a keyed pseudorandom bijection with fresh keys each round (`KeyedPermutation`: a Feistel
 * network over chunks of up to 16 consecutive coordinates), which a device evaluates at its own
 * block's positions only: O(d/n) per device instead of drawing all of π (O(d) time and memory per
 * round at every device), and reading its coordinates a cache line at a time.
 *
 * Regime d < n (slots). Draw a permutation s of the n devices into n slots and a permutation σ of
 * [0, d). Slot t serves residue u = t mod d, so residue u has c_u = ⌊n/d⌋ + [u < n mod d] slots;
 * device m keeps the single coordinate σ(u) of its slot's residue and the receiver scales it by
 * n/c_u. Then (1/n) Σ_m C_m(x) = Σ_u c_u·(n/c_u)/n · x_{σ(u)} e_{σ(u)} = x exactly, and each device
 * is unbiased: P(m serves u) = c_u/n, σ(u) uniform, so E C_m(x)_j = Σ_u (c_u/n)(1/d)(n/c_u) x_j = x_j.
 * When d divides n every c_u = n/d and the scale is d, the paper's PermK. Coordinate j is averaged
 * over a uniform c-subset of the devices (sampling without replacement), so with
 * κ(c) = (n − c)/(c(n − 1)) the AB inequality holds with equality for A = B = (1/d) Σ_u κ(c_u)
 * (= (d − 1)/(n − 1) when d | n); per device q = (n/d) Σ_u 1/c_u (= d when d | n).
 *
 * d = n falls in both regimes and they agree (one coordinate each, scale n, A = B = 1).
 */
import { PayloadError, ValidationError } from '../errors.js';
import { SHARED, type Streams } from '../rng/streams.js';
import type { Vec } from '../vec/kernels.js';
import { BitReader, BitWriter, expectDimension } from './bitio.js';
import { expectOut, FLOAT32_MAX, rejectValue } from './checks.js';
import type { CompressContext, Compressor, CompressorConstants, Payload, SharedContext } from './types.js';

export interface PermKPayload extends Payload {
  readonly codec: 'permk';
  /** The kept values, unscaled, in the order of the shared permutation. */
  readonly values: Float32Array;
}

/** One round's shared draws for (d, n). */
export type PermKLayout =
  | { readonly regime: 'blocks'; readonly d: number; readonly n: number; readonly perm: KeyedPermutation; readonly offset: number }
  | { readonly regime: 'slots'; readonly d: number; readonly n: number; readonly slotOf: Uint32Array; readonly coord: Uint32Array };

/** The coordinates device m keeps this round and the scale the receiver applies to them. */
export interface PermKSupport {
  readonly indices: Uint32Array;
  readonly gain: number;
}

/**
 * A bijection of [0, d) chosen by four 32-bit keys, in chunks of `chunk` consecutive coordinates:
 * position p < F·chunk (F = ⌊d/chunk⌋ whole chunks) maps to σ(⌊p/chunk⌋)·chunk + p mod chunk, and
 * the last d mod chunk positions map to themselves. σ, a bijection of [0, F), is a balanced
 * four-round Feistel network on the smallest even number of bits 2h with 2^(2h) ≥ F (round
 * function: murmur3's 32-bit finalizer of the right half xor the round key), cycle-walked —
 * applied again until the value falls below F, which terminates because a permutation's cycle
 * through x < F returns to x. Expected walk length 2^(2h)/F < 4.
 * Chunks of 16 float32 (one 64-byte cache line) let a device read its coordinates a cache line at
 * a time instead of one random access each; PermK's guarantees hold for any bijection (see the
 * module comment), and `permkChunk` keeps chunk = 1 unless every block spans ≥ 64 chunks.
 */
export class KeyedPermutation {
  readonly d: number;
  readonly chunk: number;
  /** Whole chunks, σ's domain. */
  private readonly chunks: number;
  private readonly half: number;
  private readonly mask: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;

  constructor(d: number, keys: readonly [number, number, number, number], chunk = 1) {
    if (!(Number.isSafeInteger(d) && d >= 1 && d <= 0xffffffff)) throw new RangeError(`KeyedPermutation: bad size ${d}`);
    if (!(Number.isSafeInteger(chunk) && chunk >= 1 && chunk <= d)) throw new RangeError(`KeyedPermutation: bad chunk ${chunk} for size ${d}`);
    this.d = d;
    this.chunk = chunk;
    this.chunks = Math.floor(d / chunk);
    const bits = this.chunks <= 1 ? 0 : 32 - Math.clz32(this.chunks - 1);
    this.half = Math.max(1, Math.ceil(bits / 2));
    this.mask = (1 << this.half) - 1;
    [this.k0, this.k1, this.k2, this.k3] = keys.map((k) => k | 0) as [number, number, number, number];
  }

  /** π(p) for p in [0, d). */
  at(p: number): number {
    const c = this.chunk;
    const t = Math.floor(p / c);
    if (t >= this.chunks) return p;
    return this.sigma(t) * c + (p - t * c);
  }

  /** out[j] = π(from + j) for j < out.length (from + out.length ≤ d). */
  range(from: number, out: Uint32Array): Uint32Array {
    const c = this.chunk;
    const n = out.length;
    if (c === 1) {
      for (let j = 0; j < n; j++) out[j] = this.sigma(from + j);
      return out;
    }
    let j = 0;
    let p = from;
    while (j < n) {
      const t = Math.floor(p / c);
      const within = p - t * c;
      const len = Math.min(c - within, n - j);
      const base = t >= this.chunks ? t * c : this.sigma(t) * c;
      for (let i = 0; i < len; i++) out[j + i] = base + within + i;
      j += len;
      p += len;
    }
    return out;
  }

  /** σ(t) for t in [0, chunks): the Feistel network, cycle-walked into range. */
  private sigma(t: number): number {
    const f = this.chunks;
    let y = t;
    do y = this.feistel(y);
    while (y >= f);
    return y;
  }

  private feistel(x: number): number {
    const h = this.half;
    const mask = this.mask;
    let l = (x >>> h) & mask;
    let r = x & mask;
    let t = l ^ (mix(r ^ this.k0) & mask);
    l = r;
    r = t;
    t = l ^ (mix(r ^ this.k1) & mask);
    l = r;
    r = t;
    t = l ^ (mix(r ^ this.k2) & mask);
    l = r;
    r = t;
    t = l ^ (mix(r ^ this.k3) & mask);
    l = r;
    r = t;
    return l * (mask + 1) + r;
  }
}

/**
 * Chunk length of the blocks regime's permutation for (d, n): 16 coordinates when every device's
 * block spans at least 64 chunks (d ≥ 1024·n), halving down to 1 as blocks get shorter.
 */
export function permkChunk(d: number, n: number): number {
  let c = 16;
  while (c > 1 && d < 64 * c * n) c >>= 1;
  return c;
}

/** murmur3's 32-bit finalizer. */
function mix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Draws the round's layout from the shared stream (O(1) for d ≥ n, O(n + d) for d < n). */
export function permkLayout(d: number, n: number, streams: Streams, round: number, purpose: string): PermKLayout {
  checkShape(d, n);
  const rng = streams.rng(round, `${purpose}/permk`, SHARED);
  if (d >= n) {
    const perm = new KeyedPermutation(d, [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()], permkChunk(d, n));
    const offset = rng.nextInt(n);
    return { regime: 'blocks', d, n, perm, offset };
  }
  const slotOf = rng.permutation(n);
  const coord = rng.permutation(d);
  return { regime: 'slots', d, n, slotOf, coord };
}

/** Device m's kept coordinates and scale under a layout. */
export function permkSupport(layout: PermKLayout, m: number): PermKSupport {
  const { d, n } = layout;
  if (!(Number.isInteger(m) && m >= 0 && m < n)) {
    throw new ValidationError('device', `permk: device must be an integer in [0, ${n}), got ${m}`);
  }
  if (layout.regime === 'blocks') {
    const q = Math.floor(d / n);
    const r = d - q * n;
    const t = (m + layout.offset) % n;
    const start = t * q + Math.min(t, r);
    const len = q + (t < r ? 1 : 0);
    return { indices: layout.perm.range(start, new Uint32Array(len)), gain: n };
  }
  const u = layout.slotOf[m] % d;
  const c = holders(n, d, u);
  return { indices: layout.coord.subarray(u, u + 1), gain: n / c };
}

/** Number of slots serving residue u when n slots are dealt over d residues. */
function holders(n: number, d: number, u: number): number {
  return Math.floor(n / d) + (u < n % d ? 1 : 0);
}

function checkShape(d: number, n: number): void {
  if (!(Number.isSafeInteger(d) && d >= 1 && d <= 0xffffffff)) throw new ValidationError('d', `permk: dimension must be a positive integer, got ${d}`);
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= 0xffffffff)) throw new ValidationError('devices', `permk: devices must be a positive integer, got ${n}`);
}

/** PermK constants for dimension d and n devices (see the module comment for the derivations). */
export function permkConstants(d: number, n: number): CompressorConstants {
  checkShape(d, n);
  if (d >= n) return { kind: 'unbiased', q: n, beta: 1 / n, ab: { A: 1, B: 1 } };
  let invSum = 0;
  let kappa = 0;
  for (const [c, count] of [
    [Math.floor(n / d), d - (n % d)],
    [Math.floor(n / d) + 1, n % d],
  ] as const) {
    if (count === 0) continue;
    invSum += count / c;
    kappa += (count * (n - c)) / (c * (n - 1));
  }
  const A = kappa / d;
  return { kind: 'unbiased', q: (n / d) * invSum, beta: 1 / d, ab: { A, B: A } };
}

const CACHE_SIZE = 8;

export class PermKCompressor implements Compressor<PermKPayload> {
  readonly spec = 'permk';
  readonly kind = 'unbiased' as const;
  /** Recent layouts: every device of a single-process run shares one permutation per (round, purpose). */
  private readonly cache = new Map<string, PermKLayout>();

  constants(d: number, devices: number): CompressorConstants {
    return permkConstants(d, devices);
  }

  /** Kept values (float32) are scaled by n/c ≤ n (c ≥ 1 devices share a coordinate). */
  maxGain(_d: number, devices: number): number {
    return Math.max(1, devices) * (1 + 2 ** -23);
  }

  /** The last layout handed out and its key: every device of a round hits it without building a key string. */
  private last: { seed: number; round: number; purpose: string; layout: PermKLayout } | null = null;

  /** The round's shared layout (cached per seed, round, purpose, d, n). */
  layout(d: number, ctx: SharedContext): PermKLayout {
    const last = this.last;
    const seed = ctx.streams.seed;
    if (
      last !== null &&
      last.round === ctx.round &&
      last.seed === seed &&
      last.purpose === ctx.purpose &&
      last.layout.d === d &&
      last.layout.n === ctx.devices
    ) {
      return last.layout;
    }
    const key = `${seed}|${ctx.round}|${ctx.purpose}|${d}|${ctx.devices}`;
    let l = this.cache.get(key);
    if (!l) {
      l = permkLayout(d, ctx.devices, ctx.streams, ctx.round, ctx.purpose);
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, l);
    }
    this.last = { seed, round: ctx.round, purpose: ctx.purpose, layout: l };
    return l;
  }

  private lastSupport: { layout: PermKLayout; device: number; support: PermKSupport } | null = null;

  /** Coordinates the sender ctx.device keeps this round (a function of the shared context only) and their scale. */
  support(d: number, ctx: SharedContext): PermKSupport {
    const layout = this.layout(d, ctx);
    const last = this.lastSupport;
    if (last !== null && last.layout === layout && last.device === ctx.device) return last.support;
    const support = permkSupport(layout, ctx.device);
    this.lastSupport = { layout, device: ctx.device, support };
    return support;
  }

  /** Reads x only at `support(x.length, ctx).indices`. */
  compress(x: Vec, ctx: CompressContext): PermKPayload {
    const d = x.length;
    const { indices } = this.support(d, ctx);
    const k = indices.length;
    const values = new Float32Array(k);
    for (let j = 0; j < k; j++) {
      const v = x[indices[j]];
      if (!(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) rejectValue(v, indices[j], this.spec);
      values[j] = v;
    }
    return { codec: 'permk', d, bits: 32 * k, values };
  }

  decompress(p: PermKPayload, ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    out.fill(0);
    return this.accumulate(p, ctx, 1, out);
  }

  accumulate(p: PermKPayload, ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    const { indices, gain } = this.support(p.d, ctx);
    const k = indices.length;
    if (p.values.length !== k) {
      throw new PayloadError('range', `permk: device ${ctx.device} keeps ${k} coordinates in round ${ctx.round}, payload carries ${p.values.length}`);
    }
    const s = a * gain;
    const v = p.values;
    for (let j = 0; j < k; j++) out[indices[j]] += s * v[j];
    return out;
  }

  encode(p: PermKPayload): Uint8Array {
    const bytes = new Uint8Array(4 * p.values.length);
    new BitWriter(bytes).writeFloat32Array(p.values);
    return bytes;
  }

  /**
   * Parses 4k bytes as k finite float32 values, 1 ≤ k ≤ d. How many values the sender must have
   * kept depends on the round's shared draws, so that is checked by `decompress`/`accumulate`.
   */
  decode(bytes: Uint8Array, d: number): PermKPayload {
    expectDimension(d, this.spec);
    if (bytes.length % 4 !== 0) throw new PayloadError('length', `permk payload must be a whole number of float32 values, got ${bytes.length} bytes`);
    const k = bytes.length / 4;
    if (k < 1 || k > d) throw new PayloadError('range', `permk payload carries ${k} values, must be in [1, ${d}]`);
    const values = new BitReader(bytes).readFiniteFloat32Array(k, 'permk.values');
    return { codec: 'permk', d, bits: 32 * k, values };
  }
}

export function permk(): PermKCompressor {
  return new PermKCompressor();
}

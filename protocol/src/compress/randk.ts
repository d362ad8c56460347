import { PayloadError } from '../errors.js';
import type { BitReader, BitWriter } from './bitio.js';
import { sampleIndices } from './sample.js';
import { SparseCompressor, type Sparsifier, type Support } from './sparse.js';
import type { CompressContext, CompressorConstants, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/** How many coordinates to keep: a fraction of d, or a fixed count. */
export type KeepRule = { readonly fraction: number } | { readonly k: number };

export function validateKeepRule(rule: KeepRule, name: string): void {
  if ('fraction' in rule) {
    const f = rule.fraction;
    if (!(f > 0 && f <= 1)) throw new RangeError(`${name}: fraction must be in (0, 1], got ${f}`);
  } else if (!Number.isSafeInteger(rule.k) || rule.k < 1) {
    throw new RangeError(`${name}: k must be a positive integer, got ${rule.k}`);
  }
}

/** K for dimension d: round(f·d) clamped to [1, d], or min(k, d). */
export function keepCount(rule: KeepRule, d: number): number {
  if (d === 0) return 0;
  if ('fraction' in rule) return Math.min(d, Math.max(1, Math.round(rule.fraction * d)));
  return Math.min(d, rule.k);
}

/** `0.1` or `k=100`, the argument part of the spec. */
export function keepRuleSpec(rule: KeepRule): string {
  return 'fraction' in rule ? String(rule.fraction) : `k=${rule.k}`;
}

/**
 * RandK: K coordinates uniformly without replacement, scaled by d/K. Unbiased, q = d/K.
 * The indices come from the shared stream (round, `<purpose>/randk`, device): the receiver draws
 * the same ones, so the payload is only the K values (32K bits as float32).
 */
export class RandKSparsifier implements Sparsifier {
  readonly spec: string;
  readonly kind = 'unbiased' as const;
  readonly rule: KeepRule;

  constructor(rule: KeepRule) {
    validateKeepRule(rule, 'randk');
    this.rule = rule;
    this.spec = `randk:${keepRuleSpec(rule)}`;
  }

  keep(d: number): number {
    return keepCount(this.rule, d);
  }

  keepOnWire(d: number): number {
    return keepCount(this.rule, d);
  }

  gain(d: number): number {
    const k = this.keep(d);
    return k === 0 ? 0 : d / k;
  }

  maxGain(d: number, _devices: number): number {
    return this.gain(d);
  }

  constants(d: number, devices: number): CompressorConstants {
    const k = this.keep(d);
    const q = k === 0 ? 1 : d / k;
    return { kind: 'unbiased', q, beta: d === 0 ? 0 : k / d, ab: { A: (q - 1) / devices, B: 0 } };
  }

  /** The shared indices of (round, purpose, device): what both ends draw (a new array). */
  indices(d: number, ctx: SharedContext): Uint32Array {
    return sampleIndices(ctx.streams.rng(ctx.round, `${ctx.purpose}/randk`, ctx.device), d, this.keep(d));
  }

  /** Reused by `select`/`resolve`, whose callers use the indices before the next call. */
  private scratch = new Uint32Array(0);

  /** The key (seed, round, purpose, device, d) of what the scratch buffer holds (d = −1: nothing). */
  private heldSeed = 0;
  private heldRound = 0;
  private heldPurpose = '';
  private heldDevice = 0;
  private heldD = -1;

  /**
   * The draws of one (seed, round, purpose, d), per device (shard): `byDevice` holds device m's
   * indices at [m·k, (m+1)·k) once `drawnFor[m]` = 1. In one process every peer of a simulated
   * swarm shares this sparsifier: a device compressing its answer, the aggregator bounding it and
   * then adding it (often later, out of order) draw the same indices once instead of three times.
   * Only while devices·k ≤ DEVICE_DRAWS_MAX; otherwise (and for the server's draws) the one-key
   * scratch above.
   */
  private byDevice = new Uint32Array(0);
  private views: Uint32Array[] = [];
  private drawnFor = new Uint8Array(0);
  private drawsSeed = 0;
  private drawsRound = 0;
  private drawsPurpose = '';
  private drawsD = -1;

  /**
   * The shared indices: valid until the next select or resolve. The same key twice in a row draws
   * once (an aggregator bounds an answer, then adds it: two resolves); so does a key drawn before
   * for another device of the same round (see `byDevice`).
   */
  private transientIndices(d: number, ctx: SharedContext): Uint32Array {
    const seed = ctx.streams.seed;
    const m = ctx.device;
    const k = this.keep(d);
    if (m >= 0 && m < ctx.devices && ctx.devices * k <= DEVICE_DRAWS_MAX) {
      if (
        d !== this.drawsD ||
        ctx.round !== this.drawsRound ||
        seed !== this.drawsSeed ||
        ctx.purpose !== this.drawsPurpose ||
        this.drawnFor.length !== ctx.devices
      ) {
        if (this.drawnFor.length !== ctx.devices || this.byDevice.length !== ctx.devices * k) {
          this.byDevice = new Uint32Array(ctx.devices * k);
          this.drawnFor = new Uint8Array(ctx.devices);
          this.views = [];
        } else this.drawnFor.fill(0);
        this.drawsD = d;
        this.drawsRound = ctx.round;
        this.drawsSeed = seed;
        this.drawsPurpose = ctx.purpose;
      }
      const view = (this.views[m] ??= this.byDevice.subarray(m * k, (m + 1) * k));
      if (this.drawnFor[m] === 0) {
        sampleIndices(ctx.streams.rng(ctx.round, `${ctx.purpose}/randk`, m), d, k, view);
        this.drawnFor[m] = 1;
      }
      return view;
    }
    if (d === this.heldD && ctx.round === this.heldRound && ctx.device === this.heldDevice && seed === this.heldSeed && ctx.purpose === this.heldPurpose) {
      return this.scratch;
    }
    if (this.scratch.length !== k) this.scratch = new Uint32Array(k);
    this.heldD = -1;
    sampleIndices(ctx.streams.rng(ctx.round, `${ctx.purpose}/randk`, ctx.device), d, k, this.scratch);
    this.heldSeed = seed;
    this.heldRound = ctx.round;
    this.heldPurpose = ctx.purpose;
    this.heldDevice = ctx.device;
    this.heldD = d;
    return this.scratch;
  }

  /** The indices are valid until the next `select` or `resolve` on this sparsifier. */
  select(x: Vec, ctx: CompressContext): Support & { readonly indices: Uint32Array } {
    const indices = this.transientIndices(x.length, ctx);
    return { k: indices.length, indices, coding: 0 };
  }

  wireSupport(s: Support): Support {
    return { k: s.k, indices: null, coding: 0 };
  }

  supportBits(): number {
    return 0;
  }

  writeSupport(_s: Support, _d: number, _w: BitWriter): void {
    // Nothing travels: the receiver regenerates the indices.
  }

  readSupport(_r: BitReader, d: number): Support {
    return { k: this.keep(d), indices: null, coding: 0 };
  }

  resolve(s: Support, d: number, ctx: SharedContext): Uint32Array {
    if (s.k !== this.keep(d)) throw new PayloadError('range', `${this.spec}: support has ${s.k} coordinates, expected ${this.keep(d)}`);
    return s.indices ?? this.transientIndices(d, ctx);
  }
}

/** Largest per-device draw table (indices) a RandK sparsifier keeps: 4 MiB. */
const DEVICE_DRAWS_MAX = 1 << 20;

export function randkSparsifier(rule: KeepRule): RandKSparsifier {
  return new RandKSparsifier(rule);
}

/** RandK with float32 values: `randk:0.1` / `randk:k=100`. */
export function randk(rule: KeepRule): SparseCompressor {
  return new SparseCompressor(new RandKSparsifier(rule));
}

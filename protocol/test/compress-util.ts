import { Rng, Streams } from './internals.js';
import type { CompressContext, Compressor, SharedContext } from './internals.js';

/** A sender context for draw `draw` of a test: fresh shared indices and private randomness per draw. */
export function sendCtx(seed: number, draw: number, device = 0, purpose = 'up:diff', devices = 4): CompressContext {
  const streams = new Streams(seed);
  return { streams, round: draw, purpose, device, devices, local: streams.rng(draw, 'test/local', device) };
}

/** The receiver's view of a sender context (no private randomness). */
export function recvCtx(c: CompressContext): SharedContext {
  return { streams: c.streams, round: c.round, purpose: c.purpose, device: c.device, devices: c.devices };
}

/** A reproducible test vector with mixed signs, magnitudes over several octaves, and a few zeros. */
export function testVector(d: number, seed: number, f32 = false): Float64Array | Float32Array {
  const r = new Rng(seed, 1, 2, 3);
  const x = f32 ? new Float32Array(d) : new Float64Array(d);
  for (let i = 0; i < d; i++) x[i] = i % 7 === 3 ? 0 : r.nextGaussian() * 2 ** (r.nextInt(9) - 4);
  return x;
}

export interface Moments {
  /** Per-coordinate sample mean of Q(x). */
  mean: Float64Array;
  /** Per-coordinate standard error of the mean. */
  se: Float64Array;
  /** Sample mean of ‖Q(x)‖² and its standard error. */
  sq: number;
  sqSe: number;
  /** Sample mean of ‖Q(x) − x‖² and its standard error. */
  err: number;
  errSe: number;
}

/** Runs `draws` independent compressions of x and collects first and second moments of Q(x). */
export function moments(c: Compressor, x: Float64Array | Float32Array, draws: number, seed: number): Moments {
  const d = x.length;
  const s1 = new Float64Array(d);
  const s2 = new Float64Array(d);
  const out = new Float64Array(d);
  let q1 = 0;
  let q2 = 0;
  let e1 = 0;
  let e2 = 0;
  for (let t = 0; t < draws; t++) {
    const ctx = sendCtx(seed, t);
    const p = c.compress(x, ctx);
    c.decompress(p, recvCtx(ctx), out);
    let n2 = 0;
    let err = 0;
    for (let i = 0; i < d; i++) {
      const v = out[i];
      s1[i] += v;
      s2[i] += v * v;
      n2 += v * v;
      err += (v - x[i]) ** 2;
    }
    q1 += n2;
    q2 += n2 * n2;
    e1 += err;
    e2 += err * err;
  }
  const mean = new Float64Array(d);
  const se = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    mean[i] = s1[i] / draws;
    se[i] = Math.sqrt(Math.max(0, s2[i] / draws - mean[i] ** 2) / draws);
  }
  const sq = q1 / draws;
  const err = e1 / draws;
  return {
    mean,
    se,
    sq,
    sqSe: Math.sqrt(Math.max(0, q2 / draws - sq * sq) / draws),
    err,
    errSe: Math.sqrt(Math.max(0, e2 / draws - err * err) / draws),
  };
}

export function normSq(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

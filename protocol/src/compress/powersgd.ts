import { BitReader, BitWriter, bytesFor, expectDimension, expectLength } from './bitio.js';
import { expectOut, expectSendable, type FixedRateCompressor } from './checks.js';
import type { CompressContext, CompressorConstants, Payload, SharedContext } from './types.js';
import type { Vec } from '../vec/kernels.js';

/**
 * PowerSGD rank r (Vogels et al.), one power iteration, stateless: the flat vector is laid out
 * row-major as an n×m matrix M, n = ⌈√d⌉, m = ⌈d/n⌉, zero padded. From a Gaussian m×r matrix Q₀
 * drawn from the shared stream (round, `<purpose>/powersgd`, device) — so a replay is identical —
 * P = M Q₀, P̂ = orthonormalised P (Gram–Schmidt, twice), Q = Mᵀ P̂. The receiver rebuilds
 * M ≈ P̂ Qᵀ. Biased (use with error feedback); 32(n+m)r bits, r = min(rank, n, m).
 */
export interface PowerSgdPayload extends Payload {
  readonly codec: string;
  /** n×r, row-major, orthonormal columns (float32). */
  readonly p: Float32Array;
  /** m×r, row-major (float32). */
  readonly q: Float32Array;
}

/** Matrix shape used for dimension d. */
export function powerSgdShape(d: number, rank: number): { n: number; m: number; r: number } {
  if (d === 0) return { n: 0, m: 0, r: 0 };
  const n = Math.ceil(Math.sqrt(d));
  const m = Math.ceil(d / n);
  return { n, m, r: Math.min(rank, n, m) };
}

export class PowerSgdCompressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind = 'biased' as const;
  readonly rank: number;

  constructor(rank: number) {
    if (!Number.isInteger(rank) || rank < 1 || rank > 1024) throw new RangeError(`powersgd: rank must be an integer in [1, 1024], got ${rank}`);
    this.rank = rank;
    this.spec = `powersgd:rank=${rank}`;
  }

  payloadBits(d: number): number {
    const { n, m, r } = powerSgdShape(d, this.rank);
    return 32 * (n + m) * r;
  }

  constants(d: number, _devices: number): CompressorConstants {
    return { kind: 'biased', beta: d === 0 ? 0 : this.payloadBits(d) / (32 * d) };
  }

  compress(x: Vec, ctx: CompressContext): PowerSgdPayload {
    const d = x.length;
    expectSendable(x, this.spec);
    const { n, m, r } = powerSgdShape(d, this.rank);
    const rng = ctx.streams.rng(ctx.round, `${ctx.purpose}/powersgd`, ctx.device);
    const q0 = new Float64Array(m * r);
    for (let i = 0; i < q0.length; i++) q0[i] = rng.nextGaussian();
    // P = M Q₀ (n×r)
    const p = new Float64Array(n * r);
    for (let i = 0; i < n; i++) {
      const row = i * m;
      const cols = Math.min(m, d - row);
      const pi = i * r;
      for (let j = 0; j < cols; j++) {
        const v = x[row + j];
        if (v === 0) continue;
        const qj = j * r;
        for (let c = 0; c < r; c++) p[pi + c] += v * q0[qj + c];
      }
    }
    orthonormalise(p, n, r);
    orthonormalise(p, n, r);
    const pf = new Float32Array(p);
    // Q = Mᵀ P̂ with the float32 P̂ that travels.
    const q = new Float64Array(m * r);
    for (let i = 0; i < n; i++) {
      const row = i * m;
      const cols = Math.min(m, d - row);
      const pi = i * r;
      for (let j = 0; j < cols; j++) {
        const v = x[row + j];
        if (v === 0) continue;
        const qj = j * r;
        for (let c = 0; c < r; c++) q[qj + c] += v * pf[pi + c];
      }
    }
    const qf = new Float32Array(q);
    expectSendable(qf, this.spec);
    return { codec: this.spec, d, bits: this.payloadBits(d), p: pf, q: qf };
  }

  decompress(p: PowerSgdPayload, ctx: SharedContext, out: Vec): Vec {
    expectOut(out, p.d, this.spec);
    out.fill(0);
    return this.accumulate(p, ctx, 1, out);
  }

  accumulate(pl: PowerSgdPayload, _ctx: SharedContext, a: number, out: Vec): Vec {
    expectOut(out, pl.d, this.spec);
    const d = pl.d;
    const { n, m, r } = powerSgdShape(d, this.rank);
    const { p, q } = pl;
    const pa = new Float64Array(r);
    for (let i = 0; i < n; i++) {
      const row = i * m;
      const cols = Math.min(m, d - row);
      for (let c = 0; c < r; c++) pa[c] = a * p[i * r + c];
      for (let j = 0; j < cols; j++) {
        let s = 0;
        const qj = j * r;
        for (let c = 0; c < r; c++) s += pa[c] * q[qj + c];
        out[row + j] += s;
      }
    }
    return out;
  }

  encode(pl: PowerSgdPayload): Uint8Array {
    const bytes = new Uint8Array(bytesFor(pl.bits));
    const w = new BitWriter(bytes);
    w.writeFloat32Array(pl.p);
    w.writeFloat32Array(pl.q);
    return bytes;
  }

  decode(bytes: Uint8Array, d: number): PowerSgdPayload {
    expectDimension(d, this.spec);
    const bits = this.payloadBits(d);
    expectLength(bytes, bits, this.spec);
    const { n, m, r } = powerSgdShape(d, this.rank);
    const rd = new BitReader(bytes);
    const p = rd.readFiniteFloat32Array(n * r, 'powersgd.p');
    const q = rd.readFiniteFloat32Array(m * r, 'powersgd.q');
    return { codec: this.spec, d, bits, p, q };
  }
}

/** Modified Gram–Schmidt on the r columns of a row-major n×r matrix; null columns become 0. */
function orthonormalise(a: Float64Array, n: number, r: number): void {
  for (let c = 0; c < r; c++) {
    for (let b = 0; b < c; b++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[i * r + c] * a[i * r + b];
      for (let i = 0; i < n; i++) a[i * r + c] -= dot * a[i * r + b];
    }
    let ss = 0;
    for (let i = 0; i < n; i++) ss += a[i * r + c] * a[i * r + c];
    const norm = Math.sqrt(ss);
    const inv = norm > 1e-300 && Number.isFinite(norm) ? 1 / norm : 0;
    for (let i = 0; i < n; i++) a[i * r + c] *= inv;
  }
}

export function powersgd(rank: number): PowerSgdCompressor {
  return new PowerSgdCompressor(rank);
}

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

/**
 * Matrix shape used for dimension d: ⌈√d⌉ rows, or, with `cols`, the tensor's own n×cols shape
 * (d a multiple of cols; the per-tensor compressor passes each parameter matrix's shape).
 */
export function powerSgdShape(d: number, rank: number, cols?: number): { n: number; m: number; r: number } {
  if (d === 0) return { n: 0, m: 0, r: 0 };
  if (cols !== undefined) {
    const rows = Math.ceil(d / cols);
    return { n: rows, m: cols, r: Math.min(rank, rows, cols) };
  }
  const n = Math.ceil(Math.sqrt(d));
  const m = Math.ceil(d / n);
  return { n, m, r: Math.min(rank, n, m) };
}

export class PowerSgdCompressor implements FixedRateCompressor {
  readonly spec: string;
  readonly kind = 'biased' as const;
  readonly rank: number;
  /** Fixed number of matrix columns (a tensor's shape), or undefined for the ⌈√d⌉ layout. */
  readonly cols: number | undefined;

  constructor(rank: number, cols?: number) {
    if (!Number.isInteger(rank) || rank < 1 || rank > 1024) throw new RangeError(`powersgd: rank must be an integer in [1, 1024], got ${rank}`);
    if (cols !== undefined && !(Number.isSafeInteger(cols) && cols >= 1)) throw new RangeError(`powersgd: cols must be a positive integer, got ${cols}`);
    this.rank = rank;
    this.cols = cols;
    this.spec = `powersgd:rank=${rank}${cols === undefined ? '' : `,cols=${cols}`}`;
  }

  payloadBits(d: number): number {
    const { n, m, r } = powerSgdShape(d, this.rank, this.cols);
    return 32 * (n + m) * r;
  }

  constants(d: number, _devices: number): CompressorConstants {
    return { kind: 'biased', beta: d === 0 ? 0 : this.payloadBits(d) / (32 * d) };
  }

  compress(x: Vec, ctx: CompressContext): PowerSgdPayload {
    const d = x.length;
    expectSendable(x, this.spec);
    const { n, m, r } = powerSgdShape(d, this.rank, this.cols);
    const rng = ctx.streams.rng(ctx.round, `${ctx.purpose}/powersgd`, ctx.device);
    const q0 = new Float64Array(m * r);
    for (let i = 0; i < q0.length; i++) q0[i] = rng.nextGaussian();
    // P = M Q₀ (n×r), then Q = Mᵀ P̂ with the float32 P̂ that travels.
    const p = new Float64Array(n * r);
    multiplyRows(x, m, r, q0, p);
    orthonormalise(p, n, r);
    orthonormalise(p, n, r);
    const pf = new Float32Array(p);
    const q = new Float64Array(m * r);
    multiplyRowsTransposed(x, m, r, pf, q);
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
    const { m, r } = powerSgdShape(d, this.rank, this.cols);
    const { p, q } = pl;
    // Per row i: out[i·m + j] += Σ_c (a·P[i][c])·Q[j][c], summed over c in order, four columns at a
    // time from locals into a row of partial sums.
    const acc = new Float64Array(m);
    for (let row = 0, pi = 0; row < d; row += m, pi += r) {
      const cols = Math.min(m, d - row);
      acc.fill(0, 0, cols);
      let c = 0;
      for (; c + 4 <= r; c += 4) {
        const a0 = a * p[pi + c];
        const a1 = a * p[pi + c + 1];
        const a2 = a * p[pi + c + 2];
        const a3 = a * p[pi + c + 3];
        for (let j = 0, qj = c; j < cols; j++, qj += r) {
          let s = acc[j];
          s += a0 * q[qj];
          s += a1 * q[qj + 1];
          s += a2 * q[qj + 2];
          s += a3 * q[qj + 3];
          acc[j] = s;
        }
      }
      for (; c < r; c++) {
        const a0 = a * p[pi + c];
        for (let j = 0, qj = c; j < cols; j++, qj += r) acc[j] += a0 * q[qj];
      }
      for (let j = 0; j < cols; j++) out[row + j] += acc[j];
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
    const { n, m, r } = powerSgdShape(d, this.rank, this.cols);
    const rd = new BitReader(bytes);
    const p = rd.readFiniteFloat32Array(n * r, 'powersgd.p');
    const q = rd.readFiniteFloat32Array(m * r, 'powersgd.q');
    return { codec: this.spec, d, bits, p, q };
  }
}

/**
 * P = M A for the row-major n×m matrix M laid over x (zero padded) and a row-major m×r A:
 * P[i][c] = Σ_j M[i][j]·A[j][c], summed over j in order. Four columns at a time, each in its own
 * local, so that four independent additions are in flight and P is written once per entry (the
 * order of every sum is unchanged, so is the result).
 */
function multiplyRows(x: Vec, m: number, r: number, a: Float64Array, p: Float64Array): void {
  const d = x.length;
  for (let row = 0, pi = 0; row < d; row += m, pi += r) {
    const cols = Math.min(m, d - row);
    let c = 0;
    for (; c + 4 <= r; c += 4) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0, aj = c; j < cols; j++, aj += r) {
        const v = x[row + j];
        s0 += v * a[aj];
        s1 += v * a[aj + 1];
        s2 += v * a[aj + 2];
        s3 += v * a[aj + 3];
      }
      p[pi + c] = s0;
      p[pi + c + 1] = s1;
      p[pi + c + 2] = s2;
      p[pi + c + 3] = s3;
    }
    for (; c < r; c++) {
      let s0 = 0;
      for (let j = 0, aj = c; j < cols; j++, aj += r) s0 += x[row + j] * a[aj];
      p[pi + c] = s0;
    }
  }
}

/**
 * Q = Mᵀ P (m×r, row-major, zeroed by the caller): Q[j][c] = Σ_i M[i][j]·P[i][c], summed over i in
 * order (row by row). Four columns of P at a time from locals.
 */
function multiplyRowsTransposed(x: Vec, m: number, r: number, p: Float32Array, q: Float64Array): void {
  const d = x.length;
  for (let row = 0, pi = 0; row < d; row += m, pi += r) {
    const cols = Math.min(m, d - row);
    let c = 0;
    for (; c + 4 <= r; c += 4) {
      const p0 = p[pi + c];
      const p1 = p[pi + c + 1];
      const p2 = p[pi + c + 2];
      const p3 = p[pi + c + 3];
      for (let j = 0, qj = c; j < cols; j++, qj += r) {
        const v = x[row + j];
        q[qj] += v * p0;
        q[qj + 1] += v * p1;
        q[qj + 2] += v * p2;
        q[qj + 3] += v * p3;
      }
    }
    for (; c < r; c++) {
      const p0 = p[pi + c];
      for (let j = 0, qj = c; j < cols; j++, qj += r) q[qj] += x[row + j] * p0;
    }
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

export function powersgd(rank: number, cols?: number): PowerSgdCompressor {
  return new PowerSgdCompressor(rank, cols);
}

/**
 * A tight single-process MARINA loop for quadratic problems, for the PermK reproduction: the same
 * algorithm, shared draws and payloads as the generic `Marina` method instance of @masha/protocol
 * (coin from the stream (seed, k, 'coin', SERVER), device compression context (k, 'up:diff', m),
 * float32 uplinks of full gradients, float32 broadcasts), but exploiting the problem's structure:
 *
 * - a compressed difference is linear in the step: ∇f_m(x^{k+1}) − ∇f_m(x^k) = A_m (x^{k+1} − x^k),
 *   so no per-device gradient memory is needed;
 * - when the compressor's kept coordinates depend only on the shared draws (PermK, RandK), only
 *   those coordinates of A_m δ are computed — O(1) each for tridiagonal A_m — and the real
 *   compressor then reads exactly those (O(K) per device); other compressors (TopK) get the dense
 *   difference (O(d) per device);
 * - ‖∇f(x^k)‖² is measured with the mean bands in O(d);
 * - with a deterministic, context-free compressor (the scanning TopK), consecutive devices with
 *   identical matrices (all of them at s = 0) send identical payloads, computed once.
 *
 * A test checks that the iterates agree with the generic method instance to rounding.
 */
import { SERVER, Streams, type CompressContext, type Compressor, type Payload, type QuadraticProblem, type SharedContext } from '@masha/protocol';
import { identity, PermKCompressor, RandKSparsifier, SparseCompressor } from '@masha/protocol/compress';
import { type Rng } from '@masha/protocol/rng';
import { ScanTopKSparsifier } from './scan-topk.js';

export interface MarinaQuadraticOptions {
  readonly problem: QuadraticProblem;
  readonly compressor: Compressor;
  readonly gamma: number;
  /** Probability of a full round. */
  readonly p: number;
  readonly seed: number;
  /** Stop once ‖∇f(x^k)‖² ≤ this (absolute). */
  readonly targetGradNormSq: number;
  /** Stop (as not reached) once uplink bits per node (initial exchange excluded) exceed this. */
  readonly maxBitsPerNode: number;
  /** Stop (as diverged) once ‖∇f(x^k)‖² exceeds this or becomes non-finite. */
  readonly divergeGradNormSq: number;
  /** Hard iteration cap. */
  readonly maxIterations: number;
  /**
   * Optional structure A_m = alpha[m]·tridiag(−1, 2, −1) + shift·I (the PermK generator's): the
   * differences are then formed from one T·δ per iteration instead of every device's bands, which
   * keeps the inner loop in cache at n = 1000. Must describe `problem` exactly.
   */
  readonly structure?: { readonly alpha: Float64Array; readonly shift: number };
  /** Keep the curve (bits per node, ‖∇f‖²) of every iteration (default true). */
  readonly keepCurve?: boolean;
}

export interface MarinaQuadraticResult {
  readonly iterations: number;
  readonly reached: boolean;
  readonly diverged: boolean;
  /**
   * Uplink payload bits per node (total over devices / n) spent by the iterations until the target
   * was met. The initial exchange g⁰ = ∇f(x⁰) (32d bits per node, the same for every compressor)
   * is not included: it is `initBitsPerNode`.
   */
  readonly bitsPerNodeToTarget: number | null;
  /** Uplink bits per node of all iterations run (initial exchange excluded). */
  readonly bitsPerNode: number;
  readonly initBitsPerNode: number;
  readonly finalGradNormSq: number;
  readonly fullRounds: number;
  /** Iteration k ↦ (bits per node spent to form x^k, initial exchange excluded; ‖∇f(x^k)‖²); empty if not kept. */
  readonly curve: { readonly bits: Float64Array; readonly gradNormSq: Float64Array };
}

/**
 * The compression context of the uplinks of one run, re-pointed at each (round, device) in turn
 * (compressors read it during the call and keep nothing), with the private generator derived only
 * if a compressor asks for it.
 */
class UplinkContext implements CompressContext {
  round = 0;
  device = 0;
  private rng: Rng | null = null;
  constructor(
    readonly streams: Streams,
    readonly purpose: string,
    readonly devices: number,
  ) {}
  at(round: number, device: number): this {
    this.round = round;
    this.device = device;
    this.rng = null;
    return this;
  }
  get local(): Rng {
    if (!this.rng) this.rng = this.streams.rng(this.round, `local:${this.purpose}`, this.device);
    return this.rng;
  }
}

/** Coordinates a payload will carry when they are fixed by the shared draws alone, else null. */
export function sharedSupport(c: Compressor, d: number, ctx: SharedContext): Uint32Array | null {
  if (c instanceof PermKCompressor) return c.support(d, ctx).indices;
  if (c instanceof SparseCompressor && c.sparsifier instanceof RandKSparsifier) return c.sparsifier.indices(d, ctx);
  return null;
}

/** Mean bands (Ā) and b̄ for O(d) gradients of f. */
export function meanGradient(problem: QuadraticProblem): (x: Float64Array, out: Float64Array) => number {
  const d = problem.dim;
  const mean = problem.meanMatrix();
  const bbar = problem.meanB();
  if (mean.kind === 'bands') {
    const { diag, off } = mean;
    return (x, out) => {
      let s = 0;
      for (let i = 0; i < d; i++) {
        let t = diag[i] * x[i] - bbar[i];
        if (i > 0) t += off[i - 1] * x[i - 1];
        if (i < d - 1) t += off[i] * x[i + 1];
        out[i] = t;
        s += t * t;
      }
      return s;
    };
  }
  const a = mean.a;
  return (x, out) => {
    let s = 0;
    for (let i = 0; i < d; i++) {
      let t = -bbar[i];
      for (let j = 0; j < d; j++) t += a[i * d + j] * x[j];
      out[i] = t;
      s += t * t;
    }
    return s;
  };
}

/** Compressors whose payload is a function of the input vector alone (no shared or private draws). */
function isDeterministic(c: Compressor): boolean {
  return c instanceof SparseCompressor && c.sparsifier instanceof ScanTopKSparsifier && c.inner.spec === 'identity';
}

/** Marks the devices whose A_m equals A_{m−1} exactly (identical devices compute identical differences). */
function identicalToPrevious(problem: QuadraticProblem): Uint8Array {
  const n = problem.shards;
  const d = problem.dim;
  const same = new Uint8Array(n);
  const s = problem.storage;
  for (let m = 1; m < n; m++) {
    let eq = true;
    if (s.kind === 'bands') {
      for (let i = 0; i < d && eq; i++) eq = s.diag[m * d + i] === s.diag[(m - 1) * d + i];
      for (let i = 0; i < d - 1 && eq; i++) eq = s.off[m * (d - 1) + i] === s.off[(m - 1) * (d - 1) + i];
    } else {
      for (let i = 0; i < d * d && eq; i++) eq = s.a[m * d * d + i] === s.a[(m - 1) * d * d + i];
    }
    same[m] = eq ? 1 : 0;
  }
  return same;
}

class Growable {
  data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

const DIFF = 'up:diff';
const FULL = identity();

/**
 * One MARINA run advanced an iteration at a time (`step`), so that several stepsizes can be raced
 * against each other by bits spent.
 */
export class MarinaQuadraticRun {
  readonly options: MarinaQuadraticOptions;
  private readonly d: number;
  private readonly n: number;
  private readonly streams: Streams;
  private readonly ctx: UplinkContext;
  private readonly grad: (x: Float64Array, out: Float64Array) => number;
  private readonly x: Float64Array;
  private readonly xnext: Float64Array;
  private readonly delta: Float64Array;
  private readonly u: Float64Array;
  private readonly g: Float64Array;
  private readonly agg: Float64Array;
  private readonly scratch: Float64Array;
  private readonly gtrue: Float64Array;
  private readonly bitsCurve = new Growable();
  private readonly normCurve = new Growable();
  /** Total uplink bits over all devices, the initial exchange excluded. */
  private bits = 0;
  private fullRounds = 0;
  private k = 0;
  private normSq: number;
  private reached: boolean;
  private diverged = false;
  private bitsToTarget: number | null;
  /** sameAsPrevious[m] = 1 when device m's matrix equals device m − 1's (deterministic compressors only). */
  private readonly sameAsPrevious: Uint8Array | null;
  /** Set when the run was stopped from outside (a race it cannot win). */
  private stopped = false;
  /** Uplink bits per node of the initial exchange g⁰ = ∇f(x⁰) (32d), common to every method. */
  readonly initBitsPerNode: number;

  constructor(options: MarinaQuadraticOptions) {
    this.options = options;
    const { problem } = options;
    const d = problem.dim;
    this.d = d;
    this.n = problem.shards;
    this.streams = new Streams(options.seed);
    this.ctx = new UplinkContext(this.streams, DIFF, this.n);
    this.grad = meanGradient(problem);
    this.x = problem.initialPoint();
    this.xnext = new Float64Array(d);
    this.delta = new Float64Array(d);
    this.u = new Float64Array(d);
    this.g = new Float64Array(d);
    this.agg = new Float64Array(d);
    this.scratch = new Float64Array(d);
    this.gtrue = new Float64Array(d);
    this.sameAsPrevious = isDeterministic(options.compressor) ? identicalToPrevious(problem) : null;
    this.initBitsPerNode = this.fullRound(this.x) / this.n;
    this.normSq = this.grad(this.x, this.gtrue);
    this.reached = this.normSq <= options.targetGradNormSq;
    this.bitsToTarget = this.reached ? 0 : null;
    this.record();
  }

  /** Uplink bits per node so far (the initial exchange excluded). */
  get bitsPerNode(): number {
    return this.bits / this.n;
  }

  get iterations(): number {
    return this.k;
  }

  /** A copy of the current iterate x^k. */
  iterate(): Float64Array {
    return Float64Array.from(this.x);
  }

  /** True once the run has reached the target, diverged, exhausted its budget or been stopped. */
  get done(): boolean {
    return this.reached || this.diverged || this.stopped || this.k >= this.options.maxIterations || this.bits / this.n > this.options.maxBitsPerNode;
  }

  stop(): void {
    this.stopped = true;
  }

  private record(): void {
    if (this.options.keepCurve ?? true) {
      this.bitsCurve.push(this.bits / this.n);
      this.normCurve.push(this.normSq);
    }
  }

  /** g ← float32(mean of float32(∇f_m(point))): the 'init' / 'full' exchange. Returns its bits. */
  private fullRound(point: Float64Array): number {
    const { problem } = this.options;
    const { d, n, agg, scratch, g } = this;
    agg.fill(0);
    const inv = 1 / n;
    for (let m = 0; m < n; m++) {
      problem.operator(m, point, scratch);
      for (let i = 0; i < d; i++) agg[i] += inv * Math.fround(scratch[i]);
    }
    for (let i = 0; i < d; i++) g[i] = Math.fround(agg[i]);
    return n * FULL.payloadBits(d);
  }

  /** One MARINA iteration. */
  step(): void {
    if (this.done) return;
    const { problem, compressor, gamma, p } = this.options;
    const { d, n, x, xnext, delta, g, agg, scratch } = this;
    const k = this.k;
    for (let i = 0; i < d; i++) xnext[i] = x[i] - gamma * g[i];
    if (this.streams.rng(k, 'coin', SERVER).nextBool(p)) {
      this.bits += this.fullRound(xnext);
      this.fullRounds++;
    } else {
      for (let i = 0; i < d; i++) delta[i] = xnext[i] - x[i];
      const structure = this.options.structure;
      const u = this.u;
      if (structure) {
        // u = T δ with T = tridiag(−1, 2, −1): then A_m δ = α_m u + shift·δ for every device.
        u[0] = 2 * delta[0] - (d > 1 ? delta[1] : 0);
        for (let i = 1; i < d - 1; i++) u[i] = 2 * delta[i] - delta[i - 1] - delta[i + 1];
        if (d > 1) u[d - 1] = 2 * delta[d - 1] - delta[d - 2];
      }
      agg.fill(0);
      const inv = 1 / n;
      let previous: Payload | null = null;
      for (let m = 0; m < n; m++) {
        const ctx = this.ctx.at(k, m);
        if (this.sameAsPrevious !== null && this.sameAsPrevious[m] === 1 && previous !== null) {
          // Same matrix as device m − 1 and a deterministic, context-free compressor: same payload.
          this.bits += previous.bits;
          compressor.accumulate(previous, ctx, inv, agg);
          continue;
        }
        const support = sharedSupport(compressor, d, ctx);
        if (support) {
          if (structure) {
            const a = structure.alpha[m];
            const c = structure.shift;
            for (let j = 0; j < support.length; j++) {
              const i = support[j];
              scratch[i] = a * u[i] + c * delta[i];
            }
          } else {
            for (let j = 0; j < support.length; j++) scratch[support[j]] = problem.hessianVecEntry(m, delta, support[j]);
          }
        } else if (structure) {
          const a = structure.alpha[m];
          const c = structure.shift;
          for (let i = 0; i < d; i++) scratch[i] = a * u[i] + c * delta[i];
        } else {
          problem.hessianVec(m, delta, scratch);
        }
        const payload = compressor.compress(scratch, ctx);
        previous = payload;
        this.bits += payload.bits;
        compressor.accumulate(payload, ctx, inv, agg);
      }
      for (let i = 0; i < d; i++) g[i] += Math.fround(agg[i]);
    }
    x.set(xnext);
    this.k = k + 1;
    this.normSq = this.grad(x, this.gtrue);
    this.record();
    if (!(this.normSq <= this.options.divergeGradNormSq)) {
      this.diverged = true;
    } else if (this.normSq <= this.options.targetGradNormSq) {
      this.reached = true;
      this.bitsToTarget = this.bits / n;
    }
  }

  result(): MarinaQuadraticResult {
    return {
      iterations: this.k,
      reached: this.reached,
      diverged: this.diverged,
      bitsPerNodeToTarget: this.bitsToTarget,
      bitsPerNode: this.bits / this.n,
      initBitsPerNode: this.initBitsPerNode,
      finalGradNormSq: this.normSq,
      fullRounds: this.fullRounds,
      curve: { bits: this.bitsCurve.view(), gradNormSq: this.normCurve.view() },
    };
  }
}

/** Runs MARINA until the target, divergence, the bit budget or the iteration cap. */
export function runMarinaQuadratic(o: MarinaQuadraticOptions): MarinaQuadraticResult {
  const run = new MarinaQuadraticRun(o);
  while (!run.done) run.step();
  return run.result();
}

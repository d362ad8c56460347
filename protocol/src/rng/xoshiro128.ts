/**
 * xoshiro128** (Blackman & Vigna), a small fast PRNG on 32-bit integer arithmetic.
 *
 * We write our own instead of using a library because (a) it sits in the hot loops of the
 * compressors (one draw per element for natural compression / dithering) where a method call per
 * draw on an immutable generator is too slow, and (b) every peer must derive bit-identical draws
 * on every JS engine: 32-bit integer ops (`Math.imul`, shifts) are exactly specified, so they are.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareGaussian = Number.NaN;

  /** Seeds from four 32-bit words (not all zero; an all-zero state is replaced by a fixed one). */
  constructor(a: number, b: number, c: number, d: number) {
    this.s0 = a | 0;
    this.s1 = b | 0;
    this.s2 = c | 0;
    this.s3 = d | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9 | 0;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    const t = s1 << 9;
    let r = Math.imul(s1, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return r >>> 0;
  }

  /** Uniform double in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() * 2.3283064365386963e-10;
  }

  /** Uniform double in [0, 1) with 53 bits of randomness. */
  nextFloat53(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) * 1.1102230246251565e-16;
  }

  /** Uniform integer in [0, n), exactly unbiased (Lemire's nearly-divisionless method), n ≤ 2^32. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= 4294967296) || n !== Math.floor(n)) {
      throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 4294967296) return this.nextU32();
    if (n > 2097152) {
      // x·n would exceed 2^53 and lose exactness: masked rejection instead (≤ 2 draws expected).
      const mask = 2 ** Math.ceil(Math.log2(n)) - 1;
      for (;;) {
        const v = mask >= 4294967295 ? this.nextU32() : this.nextU32() & mask;
        if (v >>> 0 < n) return v >>> 0;
      }
    }
    // Lemire's method; x·n < 2^53 here, so float arithmetic is exact.
    let x = this.nextU32();
    let m = x * n;
    let l = m % 4294967296;
    if (l < n) {
      const t = (4294967296 - n) % n;
      while (l < t) {
        x = this.nextU32();
        m = x * n;
        l = m % 4294967296;
      }
    }
    return Math.floor(m / 4294967296);
  }

  /** Bernoulli(p). */
  nextBool(p: number): boolean {
    return this.nextFloat53() < p;
  }

  /** Standard normal (Box–Muller, caches the second value). */
  nextGaussian(): number {
    const spare = this.spareGaussian;
    if (spare === spare) {
      this.spareGaussian = Number.NaN;
      return spare;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat53();
    const v = this.nextFloat53();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareGaussian = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher–Yates shuffle of `a[0..n)`. */
  shuffle(a: Uint32Array | Int32Array | number[], n: number = a.length): void {
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number, out: Uint32Array = new Uint32Array(n)): Uint32Array {
    for (let i = 0; i < n; i++) out[i] = i;
    this.shuffle(out, n);
    return out;
  }
}

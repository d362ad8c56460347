/** The typed arrays payloads are made of. */
export type PooledArray = Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Uint32Array | Int32Array;

/**
 * Recycles large payload buffers between messages (see `Compressor.release`). Arrays come back
 * with arbitrary contents: callers overwrite every element or clear what they skip. Each
 * compressor owns its pool; at most `cap` free arrays are kept per (type, length).
 */
export class ArrayPool {
  private readonly free = new Map<string, PooledArray[]>();
  private readonly cap: number;
  /** Arrays shorter than this are not worth pooling. */
  private readonly minLength: number;

  constructor(cap = 2, minLength = 4096) {
    this.cap = cap;
    this.minLength = minLength;
  }

  private static key(a: { readonly constructor: { readonly name: string } }, n: number): string {
    return `${a.constructor.name}:${n}`;
  }

  /** An array of length n (recycled when one is free; contents arbitrary then). */
  take<T extends PooledArray>(ctor: new (n: number) => T, n: number): T {
    if (n >= this.minLength) {
      const list = this.free.get(`${ctor.name}:${n}`);
      const a = list?.pop();
      if (a) return a as T;
    }
    return new ctor(n);
  }

  /** Hands an array back for reuse (ignored when it is small, a view into a larger buffer, or already free). */
  give(a: PooledArray): void {
    if (a.length < this.minLength || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) return;
    const key = ArrayPool.key(a, a.length);
    let list = this.free.get(key);
    if (!list) {
      list = [];
      this.free.set(key, list);
    }
    if (list.length < this.cap && !list.includes(a)) list.push(a);
  }
}

/** Bytes of free small arrays a pool keeps per (type, length) beyond `cap`. */
const SMALL_POOL_BYTES = 64 * 1024;

/** The typed arrays payloads are made of. */
export type PooledArray = Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Uint32Array | Int32Array;

/**
 * Recycles payload buffers between messages (see `Compressor.release`). Arrays come back with
 * arbitrary contents: callers overwrite every element or clear what they skip. Each compressor
 * owns its pool; at most max(`cap`, 64 KiB worth) free arrays are kept per (type, length) (an
 * aggregator holds a round's out-of-order answers of a few values each), and a view into a larger
 * buffer is never taken. Free lists are found by
 * constructor and length without building a key: a small array is taken and given back in a few
 * nanoseconds, less than allocating it (a simulator sends ~10^5 payloads of ten values a second).
 */
export class ArrayPool {
  private readonly free = new Map<new (n: number) => PooledArray, Map<number, PooledArray[]>>();
  /** Arrays in the free lists now. */
  private readonly idle = new Set<PooledArray>();
  private readonly cap: number;
  /** Arrays shorter than this are not pooled. */
  private readonly minLength: number;

  /** The free list used last and its (type, length): a compressor mostly takes one shape. */
  private lastCtor: (new (n: number) => PooledArray) | null = null;
  private lastLength = -1;
  private lastList: PooledArray[] | undefined = undefined;

  constructor(cap = 2, minLength = 4096) {
    this.cap = cap;
    this.minLength = minLength;
  }

  /** The free list of (ctor, n), if there is one yet. */
  private listOf(ctor: new (n: number) => PooledArray, n: number): PooledArray[] | undefined {
    if (ctor === this.lastCtor && n === this.lastLength) return this.lastList;
    const list = this.free.get(ctor)?.get(n);
    if (list !== undefined) {
      this.lastCtor = ctor;
      this.lastLength = n;
      this.lastList = list;
    }
    return list;
  }

  /** An array of length n (recycled when one is free; contents arbitrary then). */
  take<T extends PooledArray>(ctor: new (n: number) => T, n: number): T {
    if (n < this.minLength) return new ctor(n);
    const a = this.listOf(ctor, n)?.pop();
    if (a !== undefined) {
      this.idle.delete(a);
      return a as T;
    }
    return new ctor(n);
  }

  /** Hands an array back for reuse (ignored when it is small, a view into a larger buffer, or already free). */
  give(a: PooledArray): void {
    if (a.length < this.minLength || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) return;
    const ctor = a.constructor as new (n: number) => PooledArray;
    let list = this.listOf(ctor, a.length);
    if (list === undefined) {
      let byLength = this.free.get(ctor);
      if (byLength === undefined) {
        byLength = new Map();
        this.free.set(ctor, byLength);
      }
      list = [];
      byLength.set(a.length, list);
    }
    if (list.length < Math.max(this.cap, SMALL_POOL_BYTES / a.byteLength) && !this.idle.has(a)) {
      list.push(a);
      this.idle.add(a);
    }
  }
}

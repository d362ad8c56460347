/**
 * Carves short-lived byte buffers out of shared blocks (64 KiB by default): one ArrayBuffer per
 * block instead of one per buffer. In V8 every ArrayBuffer beyond 64 bytes lives off the JS heap
 * and costs about a microsecond to create and reclaim; a view of a block costs a few nanoseconds.
 *
 * Every buffer handed out is zero-filled, 8-byte aligned within its block and handed out once; a
 * block is freed when the last view into it is. Requests above a quarter block get a buffer of
 * their own. Buffers share their `.buffer` with others: users must respect `byteOffset` and
 * `byteLength` (as with any view).
 */
export class ByteSlab {
  readonly blockBytes: number;
  private block: Uint8Array;
  private pos: number;
  /** Start, in the current block, of the last buffer carved from it (−1: none). */
  private lastAt = -1;

  constructor(blockBytes = 64 * 1024) {
    if (!(Number.isSafeInteger(blockBytes) && blockBytes >= 64)) throw new RangeError(`blockBytes must be an integer ≥ 64, got ${blockBytes}`);
    this.blockBytes = blockBytes;
    this.block = new Uint8Array(0);
    this.pos = 0;
  }

  /** A zero-filled buffer of n bytes. */
  take(n: number): Uint8Array {
    if (n > this.blockBytes >>> 2) return new Uint8Array(n);
    let at = this.pos;
    if (at + n > this.block.length) {
      this.block = new Uint8Array(this.blockBytes);
      at = 0;
    }
    this.pos = (at + n + 7) & ~7;
    this.lastAt = at;
    return this.block.subarray(at, at + n);
  }

  /**
   * `buf` (the last buffer taken) cut to its first `used` bytes; the rest goes back to the block
   * when `buf` was the last buffer taken from it. Bytes past `used` must not have been written.
   */
  shrinkLast(buf: Uint8Array, used: number): Uint8Array {
    if (!(Number.isInteger(used) && used >= 0 && used <= buf.length)) throw new RangeError(`used must be in [0, ${buf.length}], got ${used}`);
    const b = this.block;
    if (this.lastAt >= 0 && buf.buffer === b.buffer && buf.byteOffset === b.byteOffset + this.lastAt) {
      this.pos = (this.lastAt + used + 7) & ~7;
    }
    return buf.subarray(0, used);
  }
}

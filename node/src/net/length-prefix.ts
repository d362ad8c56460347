/**
 * Length-prefixed framing for direct protocol streams: each frame travels as a 4-byte big-endian
 * unsigned length followed by that many bytes. The reader enforces `1 <= length <= maxFrameBytes`
 * as soon as a header is complete, before buffering the body, so a peer announcing an oversized
 * frame costs us four bytes, not the frame.
 */
import { NetError } from './errors.js';

export const LENGTH_PREFIX_BYTES = 4;

/** The wire form of one frame: header + body in one buffer (one write, one muxer message). */
export function encodeLengthPrefixed(frame: Uint8Array, maxFrameBytes: number): Uint8Array {
  if (frame.byteLength === 0) throw new NetError('empty-frame', 'cannot send an empty frame');
  if (frame.byteLength > maxFrameBytes) {
    throw new NetError('frame-too-large', `frame of ${frame.byteLength} bytes exceeds the ${maxFrameBytes}-byte frame size`);
  }
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + frame.byteLength);
  new DataView(out.buffer).setUint32(0, frame.byteLength, false);
  out.set(frame, LENGTH_PREFIX_BYTES);
  return out;
}

/**
 * Incremental decoder. `push` accepts chunks of any size (as the muxer delivers them) and returns
 * the frames they complete. After it throws (oversized or empty frame) the reader is poisoned:
 * the stream it reads must be reset, since nothing after a bad header can be trusted.
 */
export class LengthPrefixedReader {
  private chunks: Uint8Array[] = [];
  /** Bytes already consumed from chunks[0]. */
  private head = 0;
  private buffered = 0;
  /** Body length of the frame being read, or -1 while waiting for a header. */
  private want = -1;
  private failed: NetError | null = null;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed !== null) throw this.failed;
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.want < 0) {
        if (this.buffered < LENGTH_PREFIX_BYTES) break;
        const header = this.take(LENGTH_PREFIX_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, LENGTH_PREFIX_BYTES).getUint32(0, false);
        if (length === 0) {
          this.failed = new NetError('empty-frame', 'peer sent an empty frame');
          throw this.failed;
        }
        if (length > this.maxFrameBytes) {
          this.failed = new NetError('frame-too-large', `peer announced a ${length}-byte frame; the limit is ${this.maxFrameBytes}`);
          throw this.failed;
        }
        this.want = length;
      }
      if (this.buffered < this.want) break;
      frames.push(this.take(this.want));
      this.want = -1;
    }
    return frames;
  }

  /** Removes and returns the next n buffered bytes (a view when they lie in one chunk, else a copy). */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    const avail = first.byteLength - this.head;
    if (avail >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
      this.buffered -= n;
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(c.byteLength - this.head, n - filled);
      out.set(c.subarray(this.head, this.head + k), filled);
      filled += k;
      this.head += k;
      if (this.head === c.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.buffered -= n;
    return out;
  }
}

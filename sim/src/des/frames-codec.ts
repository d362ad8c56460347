import { ByteSlab, decodeFrame, encodeFrames, Reassembler, type EngineMessage, type Frame, type ReassemblerLimits } from '@masha/protocol';
import type { WireCodec, WireReceiver } from './wire.js';

export interface FramesCodecOptions {
  /** Largest frame in bytes, header included (default: the frame format's default, 64 KiB). */
  readonly frameSize?: number;
  /** Reassembly limits of every peer (maxMessageBytes is required: derive it from the run's dimension). */
  readonly limits: ReassemblerLimits;
}

/**
 * The protocol's real frame format on the simulated wire: `encodeFrames`, `decodeFrame`, `Reassembler`.
 * The swarm never modifies frame bytes once encoded (relays forward the same bytes), so reassemblers
 * run with `immutableFrames` unless the limits say otherwise: a one-frame body is a view of its frame.
 */
export function framesCodec(options: FramesCodecOptions): WireCodec<Frame> {
  // Frames are carved from shared blocks (one ArrayBuffer per 64 KiB, not per frame).
  const slab = new ByteSlab();
  const alloc = (n: number): Uint8Array => slab.take(n);
  const encodeOptions = options.frameSize === undefined ? { alloc } : { frameSize: options.frameSize, alloc };
  const limits: ReassemblerLimits = { ...options.limits, immutableFrames: options.limits.immutableFrames ?? true };
  return {
    encode: (message: EngineMessage) => encodeFrames(message, encodeOptions),
    decode: (bytes: Uint8Array) => decodeFrame(bytes),
    receiver(): WireReceiver<Frame> {
      const r = new Reassembler(limits);
      return {
        accept: (frame, now, from) => r.accept(frame, now, from),
        expire: (now) => r.expire(now),
      };
    },
  };
}

import { decodeFrame, encodeFrames, Reassembler, type EngineMessage, type Frame, type ReassemblerLimits } from '@masha/protocol';
import type { WireCodec, WireReceiver } from './wire.js';

export interface FramesCodecOptions {
  /** Largest frame in bytes, header included (default: the frame format's default, 64 KiB). */
  readonly frameSize?: number;
  /** Reassembly limits of every peer (maxMessageBytes is required: derive it from the run's dimension). */
  readonly limits: ReassemblerLimits;
}

/** The protocol's real frame format on the simulated wire: `encodeFrames`, `decodeFrame`, `Reassembler`. */
export function framesCodec(options: FramesCodecOptions): WireCodec<Frame> {
  const encodeOptions = options.frameSize === undefined ? {} : { frameSize: options.frameSize };
  return {
    encode: (message: EngineMessage) => encodeFrames(message, encodeOptions),
    decode: (bytes: Uint8Array) => decodeFrame(bytes),
    receiver(): WireReceiver<Frame> {
      const r = new Reassembler(options.limits);
      return {
        accept: (frame, now, from) => r.accept(frame, now, from),
        expire: (now) => r.expire(now),
      };
    },
  };
}

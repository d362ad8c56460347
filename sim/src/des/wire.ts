import type { EngineMessage } from '@masha/protocol';

/**
 * How the simulator puts engine messages on the (simulated) wire. The production codec is the
 * protocol's frame format (`frames-codec.ts`: `encodeFrames` / `decodeFrame` / `Reassembler`);
 * the interface exists so the discrete-event core does not depend on one implementation and so
 * tests can substitute a codec that mangles bytes.
 *
 * `F` is the decoded form of one frame.
 */
export interface WireCodec<F> {
  /** Splits a message into wire frames. */
  encode(message: EngineMessage): Uint8Array[];
  /** Parses and integrity-checks one frame; throws on anything malformed (a rejected frame). */
  decode(bytes: Uint8Array): F;
  /** A fresh per-peer reassembler. */
  receiver(): WireReceiver<F>;
}

export interface WireReceiver<F> {
  /** Adds a decoded frame; returns the complete message once every chunk is in, else null. Throws on conflicts/limits. */
  accept(frame: F, now: number, from: string): EngineMessage | null;
  /** Drops partial messages older than the receiver's age limit; returns how many were dropped. */
  expire(now: number): number;
}

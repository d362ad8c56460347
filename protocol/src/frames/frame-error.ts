import { MashaError } from '../errors.js';

/**
 * Why a frame or a message was refused. Decoding codes come from `decodeFrame`; the others from
 * `encodeFrames` (bad input from our own side) and the `Reassembler` (limits and conflicts).
 */
export type FrameErrorCode =
  // decodeFrame
  | 'too-short'
  | 'bad-magic'
  | 'bad-version'
  | 'bad-header'
  | 'bad-checksum'
  | 'too-large'
  | 'bad-length'
  // encodeFrames
  | 'bad-message'
  | 'bad-options'
  // Reassembler
  | 'wrong-run'
  | 'sender-mismatch'
  | 'message-too-large'
  | 'too-many-chunks'
  | 'too-many-partials'
  | 'buffer-full'
  | 'sender-budget'
  // PeerHost
  | 'wrong-path'
  | 'conflict'
  | 'bad-digest';

/** The only error `decodeFrame`, `encodeFrames` and `Reassembler.accept` throw. */
export class FrameError extends MashaError {
  declare readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string) {
    super(code, message);
  }
}

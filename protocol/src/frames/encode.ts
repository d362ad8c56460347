import type { EngineMessage } from '../engine/types.js';
import { crc32c } from './crc32c.js';
import { FrameError } from './frame-error.js';
import {
  chunkCount,
  chunkLength,
  DEFAULT_FRAME_BYTES,
  FIXED_HEADER_BYTES,
  FRAME_MAGIC,
  FRAME_VERSION,
  frameHeaderBytes,
  getU32,
  isRunIdHex,
  isValidSender,
  MAX_CODEC,
  MAX_FRAME_BYTES,
  MAX_KIND,
  MAX_PHASE,
  MAX_SENDER_BYTES,
  MAX_U32,
  messageDigest,
  MIN_FRAME_BYTES,
  OFF,
  putU16,
  putU32,
  singleChunkDigest,
  writeRunId,
} from './format.js';

export interface EncodeOptions {
  /** Largest frame in bytes, header included: an integer in [MIN_FRAME_BYTES, MAX_FRAME_BYTES]; default 64 KiB. */
  readonly frameSize?: number;
  /**
   * Message id (u32). Default: the message digest (a CRC-32C over the header fields and every
   * chunk's CRC), so re-sending the same message yields the same frames. The reassembler keys
   * partial messages by (run, sender, epoch, round, phase, kind, id): two different bodies with
   * the same key collide and are refused as a conflict, never mixed.
   */
  readonly messageId?: number;
  /**
   * Where each frame's bytes come from (n bytes, every one of which the encoder writes); default a
   * fresh Uint8Array per frame. A simulator passes `ByteSlab.take` to carve frames out of shared blocks.
   */
  readonly alloc?: (n: number) => Uint8Array;
}

function isUint(x: unknown, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
}

function bad(field: string, what: string): never {
  throw new FrameError('bad-message', `message.${field}: ${what}`);
}

function validateMessage(m: EngineMessage): void {
  if (typeof m !== 'object' || m === null) bad('', 'must be an object');
  if (!isUint(m.kind, MAX_KIND)) bad('kind', `must be an integer in [0, ${MAX_KIND}]`);
  if (!isUint(m.phase, MAX_PHASE)) bad('phase', `must be an integer in [0, ${MAX_PHASE}]`);
  if (!isUint(m.codec, MAX_CODEC)) bad('codec', `must be an integer in [0, ${MAX_CODEC}]`);
  if (!isUint(m.epoch, MAX_U32)) bad('epoch', `must be an integer in [0, ${MAX_U32}]`);
  if (!isUint(m.round, MAX_U32)) bad('round', `must be an integer in [0, ${MAX_U32}]`);
  if (typeof m.runId !== 'string' || !isRunIdHex(m.runId)) bad('runId', 'must be 64 lower-case hex digits (a 32-byte hash)');
  if (typeof m.sender !== 'string' || !isValidSender(m.sender)) {
    bad('sender', `must be 1..${MAX_SENDER_BYTES} printable ASCII characters`);
  }
  if (!(m.body instanceof Uint8Array)) bad('body', 'must be a Uint8Array');
  if (m.body.length > MAX_U32) bad('body', `is longer than ${MAX_U32} bytes`);
}

/**
 * Cuts `message` into self-describing frames of at most `options.frameSize` bytes. Chunk i
 * carries body bytes [i·stride, min((i+1)·stride, L)) with stride = frameSize − header size, so
 * the wire size is exactly ⌈L / stride⌉ · header + L (one header for an empty body). Each frame
 * is its own Uint8Array. Throws FrameError('bad-message' | 'bad-options') on invalid input.
 */
export function encodeFrames(message: EngineMessage, options: EncodeOptions = {}): Uint8Array[] {
  validateMessage(message);
  const frameSize = options.frameSize ?? DEFAULT_FRAME_BYTES;
  if (!isUint(frameSize, MAX_FRAME_BYTES) || frameSize < MIN_FRAME_BYTES) {
    throw new FrameError('bad-options', `frameSize must be an integer in [${MIN_FRAME_BYTES}, ${MAX_FRAME_BYTES}], got ${String(frameSize)}`);
  }
  if (options.messageId !== undefined && !isUint(options.messageId, MAX_U32)) {
    throw new FrameError('bad-options', `messageId must be an integer in [0, ${MAX_U32}]`);
  }
  const body = message.body;
  const total = body.length;
  const senderLength = message.sender.length;
  const header = frameHeaderBytes(senderLength);
  const stride = frameSize - header;
  const count = chunkCount(total, stride);
  const fields = { kind: message.kind, phase: message.phase, codec: message.codec, epoch: message.epoch, round: message.round, totalLength: total, stride };

  // Chunk CRCs first: they go into the headers and the message digest.
  let crcs: Uint8Array | null = null;
  let singleCrc = 0;
  let digest: number;
  if (count === 1) {
    singleCrc = crc32c(body, 0, total);
    digest = singleChunkDigest(fields, singleCrc);
  } else {
    crcs = new Uint8Array(4 * count);
    for (let i = 0; i < count; i++) {
      const start = i * stride;
      putU32(crcs, 4 * i, crc32c(body, start, start + chunkLength(total, stride, i, count)));
    }
    digest = messageDigest(fields, crcs);
  }
  const messageId = options.messageId ?? digest;
  const alloc = options.alloc;

  const frames: Uint8Array[] = new Array<Uint8Array>(count);
  const crcAt = FIXED_HEADER_BYTES + senderLength;
  for (let i = 0; i < count; i++) {
    const start = i * stride;
    const len = chunkLength(total, stride, i, count);
    const f = alloc === undefined ? new Uint8Array(header + len) : alloc(header + len);
    if (f.length !== header + len) throw new FrameError('bad-options', `alloc returned ${f.length} bytes for a ${header + len}-byte frame`);
    putU32(f, OFF.magic, FRAME_MAGIC);
    f[OFF.version] = FRAME_VERSION;
    f[OFF.kind] = message.kind;
    putU16(f, OFF.phase, message.phase);
    putU16(f, OFF.codec, message.codec);
    f[OFF.senderLength] = senderLength;
    f[OFF.flags] = 0;
    putU32(f, OFF.epoch, message.epoch);
    putU32(f, OFF.round, message.round);
    putU32(f, OFF.messageId, messageId);
    putU32(f, OFF.index, i);
    putU32(f, OFF.count, count);
    putU32(f, OFF.totalLength, total);
    putU32(f, OFF.stride, stride);
    putU32(f, OFF.chunkLength, len);
    if (crcs === null) f.set(body, header);
    else f.set(body.subarray(start, start + len), header);
    putU32(f, OFF.payloadCrc, crcs === null ? singleCrc : getU32(crcs, 4 * i));
    putU32(f, OFF.digest, digest);
    writeRunId(message.runId, f, OFF.runId);
    for (let k = 0; k < senderLength; k++) f[OFF.sender + k] = message.sender.charCodeAt(k);
    putU32(f, crcAt, crc32c(f, 0, crcAt));
    frames[i] = f;
  }
  return frames;
}

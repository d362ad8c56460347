import { crc32c } from './crc32c.js';
import type { Frame } from './frame.js';
import { FrameError } from './frame-error.js';
import {
  chunkCount,
  chunkLength,
  FIXED_HEADER_BYTES,
  FRAME_MAGIC,
  FRAME_VERSION,
  frameHeaderBytes,
  getU16,
  getU32,
  HEADER_OVERHEAD_BYTES,
  MAX_FRAME_BYTES,
  MAX_SENDER_BYTES,
  OFF,
  readRunId,
} from './format.js';

/** Largest payload one frame can carry (smallest header, largest frame). */
const MAX_STRIDE = MAX_FRAME_BYTES - frameHeaderBytes(1);

/**
 * Sender ids decoded lately, by a hash of their bytes (direct-mapped): the frames of one peer yield
 * one string object instead of a new string built per frame, so the maps keyed by peer id hash it
 * once and compare it by reference. A slot holds the last id that hashed to it (bounded memory).
 */
const SENDER_SLOTS = 4096;
const senders = new Array<string>(SENDER_SLOTS).fill('');

/** The printable-ASCII sender id at bytes[from, to) (FrameError otherwise). */
function readSender(bytes: Uint8Array, from: number, to: number): string {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    const c = bytes[i];
    if (c < 0x21 || c > 0x7e) throw new FrameError('bad-header', `sender id byte ${i - from} is not printable ASCII`);
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h >>> 0) & (SENDER_SLOTS - 1);
  const known = senders[slot];
  const n = to - from;
  if (known.length === n) {
    let i = 0;
    while (i < n && known.charCodeAt(i) === bytes[from + i]) i++;
    if (i === n) return known;
  }
  const id = String.fromCharCode.apply(null, bytes.subarray(from, to) as unknown as number[]);
  senders[slot] = id;
  return id;
}

/**
 * Parses and verifies one frame. Throws only `FrameError`; allocates nothing proportional to any
 * declared length (the payload is a view into `bytes`). Checks, in order: size bounds, magic,
 * version, header CRC, header fields and chunk geometry, frame length, payload CRC.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (!(bytes instanceof Uint8Array)) throw new FrameError('bad-header', 'frame must be a Uint8Array');
  const size = bytes.length;
  if (size < HEADER_OVERHEAD_BYTES + 1) {
    throw new FrameError('too-short', `frame of ${size} bytes is shorter than the smallest header (${HEADER_OVERHEAD_BYTES + 1})`);
  }
  if (size > MAX_FRAME_BYTES) {
    throw new FrameError('too-large', `frame of ${size} bytes exceeds the ${MAX_FRAME_BYTES}-byte maximum`);
  }
  if (getU32(bytes, OFF.magic) !== FRAME_MAGIC) throw new FrameError('bad-magic', 'not a Masha frame (bad magic)');
  const version = bytes[OFF.version];
  if (version !== FRAME_VERSION) {
    throw new FrameError('bad-version', `unsupported frame format version ${version} (expected ${FRAME_VERSION})`);
  }
  const senderLength = bytes[OFF.senderLength];
  if (senderLength < 1 || senderLength > MAX_SENDER_BYTES) {
    throw new FrameError('bad-header', `sender length ${senderLength} outside [1, ${MAX_SENDER_BYTES}]`);
  }
  const headerCrcAt = FIXED_HEADER_BYTES + senderLength;
  const headerBytes = headerCrcAt + 4;
  if (size < headerBytes) {
    throw new FrameError('too-short', `frame of ${size} bytes is shorter than its ${headerBytes}-byte header`);
  }
  if (crc32c(bytes, 0, headerCrcAt) !== getU32(bytes, headerCrcAt)) {
    throw new FrameError('bad-checksum', 'header checksum mismatch');
  }
  if (bytes[OFF.flags] !== 0) throw new FrameError('bad-header', `reserved flags byte is ${bytes[OFF.flags]}, expected 0`);

  const sender = readSender(bytes, OFF.sender, headerCrcAt);

  const index = getU32(bytes, OFF.index);
  const count = getU32(bytes, OFF.count);
  const totalLength = getU32(bytes, OFF.totalLength);
  const stride = getU32(bytes, OFF.stride);
  const declaredChunk = getU32(bytes, OFF.chunkLength);
  if (stride < 1 || stride > MAX_STRIDE) throw new FrameError('bad-header', `stride ${stride} outside [1, ${MAX_STRIDE}]`);
  const expectedCount = chunkCount(totalLength, stride);
  if (count !== expectedCount) {
    throw new FrameError('bad-header', `chunk count ${count} does not match length ${totalLength} at stride ${stride} (${expectedCount})`);
  }
  if (index >= count) throw new FrameError('bad-header', `chunk index ${index} not below chunk count ${count}`);
  const expectedChunk = chunkLength(totalLength, stride, index, count);
  if (declaredChunk !== expectedChunk) {
    throw new FrameError('bad-header', `chunk ${index} declares ${declaredChunk} payload bytes, geometry requires ${expectedChunk}`);
  }
  if (size !== headerBytes + declaredChunk) {
    throw new FrameError('bad-length', `frame has ${size - headerBytes} payload bytes, header declares ${declaredChunk}`);
  }
  const payloadCrc = getU32(bytes, OFF.payloadCrc);
  if (crc32c(bytes, headerBytes, size) !== payloadCrc) throw new FrameError('bad-checksum', 'payload checksum mismatch');

  return {
    version,
    runId: readRunId(bytes, OFF.runId),
    epoch: getU32(bytes, OFF.epoch),
    round: getU32(bytes, OFF.round),
    phase: getU16(bytes, OFF.phase),
    kind: bytes[OFF.kind],
    sender,
    messageId: getU32(bytes, OFF.messageId),
    index,
    count,
    codec: getU16(bytes, OFF.codec),
    totalLength,
    stride,
    payload: bytes.subarray(headerBytes, size),
    payloadCrc,
    digest: getU32(bytes, OFF.digest),
    frameBytes: size,
  };
}

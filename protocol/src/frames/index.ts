export * from './crc32c.js';
export * from './frame-error.js';
export type * from './frame.js';
export {
  FRAME_MAGIC,
  FRAME_VERSION,
  FIXED_HEADER_BYTES,
  HEADER_OVERHEAD_BYTES,
  MAX_SENDER_BYTES,
  RUN_ID_BYTES,
  MIN_FRAME_BYTES,
  DEFAULT_FRAME_BYTES,
  MAX_FRAME_BYTES,
  frameHeaderBytes,
  chunkCount,
  chunkLength,
  encodedBytes,
  wireOverhead,
} from './format.js';
export * from './encode.js';
export * from './decode.js';
export * from './reassembler.js';

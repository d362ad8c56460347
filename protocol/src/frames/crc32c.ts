/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven: slicing-by-16 over aligned
 * 32-bit words on little-endian hosts, slicing-by-8 over bytes otherwise and for short inputs.
 *
 * This is the frame layer's only per-byte loop. Check value: crc32c("123456789") = 0xE3069283.
 */

const POLY = 0x82f63b78;

/** TABLES[k * 256 + b]: CRC of byte b followed by k zero bytes (slicing-by-16 tables). */
const TABLES: Int32Array = (() => {
  const t = new Int32Array(16 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    let c = t[b];
    for (let k = 1; k < 16; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + b] = c;
    }
  }
  return t;
})();

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Below this many bytes the word path's view allocation is not worth it (frame headers and
 * small payloads: the byte path is faster up to ~160 bytes and allocates nothing).
 */
const WORD_PATH_MIN = 192;

/** Slicing-by-16 over 32-bit words read through an Int32Array view (little-endian hosts only). */
function words16(c: number, bytes: Uint8Array, start: number, end: number): number {
  const t = TABLES;
  const nw = ((end - start) >>> 4) << 2;
  const w = new Int32Array(bytes.buffer, bytes.byteOffset + start, nw);
  for (let k = 0; k < nw; k += 4) {
    const a = c ^ w[k];
    const b = w[k + 1];
    const d = w[k + 2];
    const e = w[k + 3];
    c =
      t[3840 + (a & 0xff)] ^
      t[3584 + ((a >>> 8) & 0xff)] ^
      t[3328 + ((a >>> 16) & 0xff)] ^
      t[3072 + (a >>> 24)] ^
      t[2816 + (b & 0xff)] ^
      t[2560 + ((b >>> 8) & 0xff)] ^
      t[2304 + ((b >>> 16) & 0xff)] ^
      t[2048 + (b >>> 24)] ^
      t[1792 + (d & 0xff)] ^
      t[1536 + ((d >>> 8) & 0xff)] ^
      t[1280 + ((d >>> 16) & 0xff)] ^
      t[1024 + (d >>> 24)] ^
      t[768 + (e & 0xff)] ^
      t[512 + ((e >>> 8) & 0xff)] ^
      t[256 + ((e >>> 16) & 0xff)] ^
      t[e >>> 24];
  }
  return c;
}

/** Slicing-by-8 over bytes[start, end) (length a multiple of 8). */
function bytes8(c: number, bytes: Uint8Array, start: number, end: number): number {
  const t = TABLES;
  for (let i = start; i < end; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  return c;
}

/**
 * Continues a CRC-32C over bytes[start, end). `crc` is a finished CRC value (start a fresh one
 * with 0), so `crc32cUpdate(crc32c(a), b) === crc32c(a ‖ b)`.
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  if (LITTLE_ENDIAN && end - start >= WORD_PATH_MIN) {
    while ((bytes.byteOffset + i) & 3) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
    const n = (end - i) & ~15;
    c = words16(c, bytes, i, i + n);
    i += n;
  } else {
    const n = (end - i) & ~7;
    c = bytes8(c, bytes, i, i + n);
    i += n;
  }
  while (i < end) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of bytes[start, end) as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cUpdate(0, bytes, start, end);
}

/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven with slicing-by-8.
 *
 * This is the frame layer's only per-byte loop. Check value: crc32c("123456789") = 0xE3069283.
 */

const POLY = 0x82f63b78;

/** TABLES[k * 256 + b]: CRC of byte b followed by k zero bytes (slicing-by-8 tables). */
const TABLES: Int32Array = (() => {
  const t = new Int32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[b] = c;
  }
  for (let b = 0; b < 256; b++) {
    let c = t[b]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + b] = c;
    }
  }
  return t;
})();

/**
 * Continues a CRC-32C over bytes[start, end). `crc` is a finished CRC value (start a fresh one
 * with 0), so `crc32cUpdate(crc32c(a), b) === crc32c(a ‖ b)`.
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  while (i < end8) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of bytes[start, end) as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cUpdate(0, bytes, start, end);
}

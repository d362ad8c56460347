/** Base64 (RFC 4648) without DOM or Node APIs: `url` uses the URL-safe alphabet without padding. */
const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function base64Encode(bytes: Uint8Array, url = false): string {
  const A = url ? URL : STD;
  let s = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += A[n >> 18] + A[(n >> 12) & 63] + A[(n >> 6) & 63] + A[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    s += A[n >> 18] + A[(n >> 12) & 63] + (url ? '' : '==');
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += A[n >> 18] + A[(n >> 12) & 63] + A[(n >> 6) & 63] + (url ? '' : '=');
  }
  return s;
}

/** Decodes either alphabet, padding optional; null for anything else. */
export function base64Decode(text: string): Uint8Array | null {
  const t = text.replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/_-]*$/.test(t) || t.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((t.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    const v = c === '-' ? 62 : c === '_' ? 63 : STD.indexOf(c);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * The Ed25519 public key a libp2p peer id names. A libp2p Ed25519 peer id ("12D3KooW…") is the
 * base58btc text of an identity multihash (0x00, length 36) of the protobuf `PublicKey { Type =
 * Ed25519 (1), Data = 32 bytes }`, so the key is read from the id itself: no lookup, no I/O.
 */

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;

/** Base58btc decoding (Bitcoin alphabet); null for a character outside it. */
export function base58Decode(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 128) return null;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? INDEX[c] : -1;
    if (v < 0) return null;
    let carry = v;
    for (let j = 0; j < bytes.length; j++) {
      carry += bytes[j] * 58;
      bytes[j] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  const out = new Uint8Array(zeros + bytes.length);
  for (let i = 0; i < bytes.length; i++) out[out.length - 1 - i] = bytes[i];
  return out;
}

/** Base58btc encoding. */
export function base58Encode(bytes: Uint8Array): string {
  const digits: number[] = [];
  for (const b of bytes) {
    let carry = b;
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j] << 8;
      digits[j] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let s = '';
  for (let i = 0; i < bytes.length && bytes[i] === 0; i++) s += '1';
  for (let i = digits.length - 1; i >= 0; i--) s += ALPHABET[digits[i]];
  return s;
}

const PREFIX = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/** The 32-byte Ed25519 public key of a libp2p Ed25519 peer id, or null when `peer` is not one. */
export function ed25519KeyOfPeerId(peer: string): Uint8Array | null {
  const b = base58Decode(peer);
  if (b === null || b.length !== PREFIX.length + 32) return null;
  for (let i = 0; i < PREFIX.length; i++) if (b[i] !== PREFIX[i]) return null;
  return b.subarray(PREFIX.length);
}

/** The libp2p peer id of an Ed25519 public key (the inverse of `ed25519KeyOfPeerId`). */
export function peerIdOfEd25519Key(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new RangeError('an Ed25519 public key has 32 bytes');
  const b = new Uint8Array(PREFIX.length + 32);
  b.set(PREFIX, 0);
  b.set(publicKey, PREFIX.length);
  return base58Encode(b);
}

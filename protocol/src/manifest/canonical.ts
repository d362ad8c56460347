/**
 * Canonical JSON and the run id.
 *
 * Canonical form: object keys sorted by UTF-16 code unit order at every level, no whitespace,
 * numbers as ECMAScript's shortest round-trip text (`JSON.stringify`), `undefined` members
 * omitted. Non-finite numbers, functions, symbols, bigints and typed arrays are refused: a
 * manifest is plain JSON data. The same manifest value gives the same bytes on every engine.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { ValidationError } from '../errors.js';
import type { Manifest } from './schema.js';

export function canonicalJson(value: unknown): string {
  return write(value, '');
}

function write(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new ValidationError(path, `non-finite number ${v} has no JSON form`);
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + write(v[i] === undefined ? null : v[i], `${path}[${i}]`);
        return s + ']';
      }
      if (ArrayBuffer.isView(v)) throw new ValidationError(path, 'typed arrays have no canonical JSON form');
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      let s = '{';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        s += (i > 0 ? ',' : '') + JSON.stringify(k) + ':' + write(obj[k], path === '' ? k : `${path}.${k}`);
      }
      return s + '}';
    }
    default:
      throw new ValidationError(path, `a ${typeof v} has no JSON form`);
  }
}

/** Lower-case hex SHA-256 of a string's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** The run id: SHA-256 (hex, 64 digits) of the canonical JSON of the validated manifest. */
export function runIdOf(manifest: Manifest): string {
  return sha256Hex(canonicalJson(manifest));
}

import fc from 'fast-check';
import type { EngineMessage } from './internals.js';

export const RUN_ID = 'a3'.repeat(32);
/** A libp2p Ed25519 peer id is 52 base58 characters. */
export const PEER_A = '12D3KooWA1b2C3d4E5f6G7h8J9k1L2m3N4p5Q6r7S8t9U1v2W3x4';
export const PEER_B = '12D3KooWB9z8Y7x6W5v4U3t2S1r9Q8p7N6m5L4k3J2h1G9f8E7d6';

export function bytesOf(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function message(body: Uint8Array, over: Partial<EngineMessage> = {}): EngineMessage {
  return { kind: 3, runId: RUN_ID, epoch: 2, round: 17, phase: 1, sender: PEER_A, codec: 5, body, ...over };
}

const hexDigit = fc.constantFrom(...'0123456789abcdef'.split(''));
const printable = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));

export const arbMessage = (maxBody: number): fc.Arbitrary<EngineMessage> =>
  fc.record({
    kind: fc.integer({ min: 0, max: 255 }),
    runId: fc.array(hexDigit, { minLength: 64, maxLength: 64 }).map((a) => a.join('')),
    epoch: fc.nat({ max: 0xffffffff }),
    round: fc.nat({ max: 0xffffffff }),
    phase: fc.integer({ min: 0, max: 0xffff }),
    sender: fc.array(printable, { minLength: 1, maxLength: 128 }).map((a) => a.join('')),
    codec: fc.integer({ min: 0, max: 0xffff }),
    body: fc.uint8Array({ minLength: 0, maxLength: maxBody }),
  });

/** Byte equality without the per-element cost of a deep-equality matcher. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when two messages agree in every field and every body byte. */
export function sameMessage(a: EngineMessage | null | undefined, b: EngineMessage): boolean {
  return (
    a !== null &&
    a !== undefined &&
    a.kind === b.kind &&
    a.runId === b.runId &&
    a.epoch === b.epoch &&
    a.round === b.round &&
    a.phase === b.phase &&
    a.sender === b.sender &&
    a.codec === b.codec &&
    sameBytes(a.body, b.body)
  );
}

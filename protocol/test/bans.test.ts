// Swarm-wide bans (engine/bans.ts): the ban list's decoder refuses malformed input with
// MessageError only, and a receiver takes an entry only with its issuer's signature, the issuer's
// authority, within the caps, and drops every entry of an issuer proven to lie.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MessageError } from '../src/engine/bytes.js';
import { banStatement, type BanEntry, decodeBans, encodeBans, MAX_BANS, MAX_BANS_BYTES, SwarmBans } from '../src/engine/bans.js';
import { Outbox } from '../src/engine/outbox.js';
import type { RunContext } from '../src/engine/context.js';
import { EpochBook } from '../src/trust/certs.js';
import { SimKeyring } from '../src/trust/sim-keyring.js';

const RUN = 'ab'.repeat(32);
const keys = new SimKeyring('bans-test');
const entry = (peer: string, issuer: string, epoch: number): BanEntry => ({
  peer,
  issuer,
  epoch,
  sig: keys.signerOf(issuer).sign(banStatement(RUN, epoch, issuer, peer)),
});

function receiver(id = 'me') {
  const identity = keys.signerOf(id);
  const book = new EpochBook(RUN, identity);
  const outbox = new Outbox(id, {} as RunContext, 'volunteer');
  outbox.begin(0);
  const proven = new Set<string>();
  const bans = new SwarmBans(RUN, identity, book, outbox, (p) => proven.has(p));
  return { bans, book, outbox, proven, count: (n: string) => (outbox.counters as Record<string, number>)[n] ?? 0 };
}

describe('ban list codec', () => {
  it('round-trips and refuses oversized, over-long, self-bans, duplicates, bad epochs and trailing bytes', () => {
    const list = [entry('p1', 'agg', 3), entry('p2', 'agg', 3)];
    expect(decodeBans(encodeBans(list))).toEqual(list);
    expect(() => decodeBans(new Uint8Array(MAX_BANS_BYTES + 1))).toThrow(MessageError);
    const many = Array.from({ length: MAX_BANS + 1 }, (_, i) => entry(`p${i}`, 'agg', 1));
    expect(() => decodeBans(encodeBans(many))).toThrow(/count/);
    expect(() => decodeBans(encodeBans([{ ...entry('p1', 'agg', 1), peer: 'agg' }]))).toThrow(/cannot ban itself/);
    expect(() => decodeBans(encodeBans([entry('p1', 'agg', 1), entry('p1', 'agg2', 1)]))).toThrow(/twice/);
    expect(() => decodeBans(encodeBans([{ ...entry('p1', 'agg', 1), epoch: 0 }]))).toThrow(/epoch/);
    expect(() => decodeBans(encodeBans([{ ...entry('p1', 'agg', 1), sig: new Uint8Array(0) }]))).toThrow(/signature/);
    expect(() => decodeBans(Uint8Array.of(...encodeBans(list), 0))).toThrow(/trailing/);
  });

  it('random bytes and mutations raise only MessageError', () => {
    const only = (b: Uint8Array): boolean => {
      try {
        decodeBans(b);
        return true;
      } catch (e) {
        return e instanceof MessageError;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), only), { numRuns: 500, seed: 4 });
    const base = encodeBans([entry('p1', 'agg', 3), entry('p2', 'agg', 4)]);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: base.length }), (at, byte, cut) => {
        const b = base.slice();
        b[at % b.length] = byte;
        return only(b) && only(base.subarray(0, cut));
      }),
      { numRuns: 500, seed: 5 },
    );
  });
});

describe('a receiver takes a ban only from an issuer with authority, within the caps', () => {
  it("takes the commit signer's own entry for its epoch, and bans the peer in the epoch book", () => {
    const r = receiver();
    r.bans.onCommit(5, 'agg', encodeBans([entry('liar', 'agg', 5)]), 8);
    expect(r.bans.has('liar')).toBe(true);
    expect(r.book.banned.has('liar')).toBe(true);
    expect(r.count('ban-learned')).toBe(1);
  });

  it('refuses a forged issuer signature, a ban of the signer, and an entry from a later epoch', () => {
    const r = receiver();
    const forged = { ...entry('p1', 'agg', 5), sig: keys.signerOf('mallory').sign(banStatement(RUN, 5, 'agg', 'p1')) };
    r.bans.onCommit(5, 'agg', encodeBans([forged]), 8);
    // An entry in another aggregator's name that it never signed.
    r.bans.onCommit(5, 'mallory', encodeBans([{ ...entry('p2', 'agg', 4), sig: keys.signerOf('mallory').sign(banStatement(RUN, 4, 'agg', 'p2')) }]), 8);
    r.bans.onCommit(5, 'agg', encodeBans([entry('agg', 'old', 4)]), 8);
    r.bans.onCommit(5, 'agg', encodeBans([entry('p3', 'agg', 6)]), 8);
    expect(r.bans.size).toBe(0);
    expect(r.count('ban-refused')).toBe(4);
    expect(r.book.banned.size).toBe(0);
  });

  it('caps an issuer at ⌊n/4⌋ (at least 1) bans per epoch, and the list at its size', () => {
    const r = receiver();
    r.bans.onCommit(2, 'agg', encodeBans(['a', 'b', 'c'].map((p) => entry(p, 'agg', 2))), 8);
    expect([...r.bans.entries()].map((e) => e.peer)).toEqual(['a', 'b']);
    expect(r.count('ban-refused')).toBe(1);
    // Unknown member count: one.
    r.bans.onCommit(3, 'agg2', encodeBans(['d', 'e'].map((p) => entry(p, 'agg2', 3))), null);
    expect(r.bans.has('d') && !r.bans.has('e')).toBe(true);
    const small = new SwarmBans(RUN, keys.signerOf('me'), new EpochBook(RUN, keys.signerOf('me')), r.outbox, () => false, 2);
    small.onCommit(2, 'agg', encodeBans(['a', 'b', 'c'].map((p) => entry(p, 'agg', 2))), 100);
    expect(small.size).toBe(2);
  });

  it('an undecodable section is counted and changes nothing', () => {
    const r = receiver();
    r.bans.onCommit(2, 'agg', Uint8Array.of(5, 1, 2), 8);
    expect(r.count('bad-bans')).toBe(1);
    expect(r.bans.size).toBe(0);
  });

  it('voids every entry a proven equivocator issued or vouched for, and refuses its later ones', () => {
    const r = receiver();
    const voided: string[] = [];
    r.bans.onVoided = (p) => voided.push(p);
    r.bans.onCommit(2, 'bad', encodeBans([entry('h1', 'bad', 2), entry('h2', 'bad', 2)]), 8);
    // 'bad' carries an older entry of 'other' the receiver cannot check (epoch 1 is not in its book): vouched by 'bad'.
    r.bans.onCommit(3, 'bad2', encodeBans([entry('liar', 'honest', 1), entry('x', 'bad2', 3)]), 8);
    r.proven.add('x');
    expect(r.bans.size).toBe(4);
    r.bans.voidIssuer('bad');
    expect(voided.sort()).toEqual(['h1', 'h2']);
    expect(r.book.banned.has('h1')).toBe(false);
    r.bans.voidIssuer('bad2');
    // 'liar' was taken on bad2's word: void with it; 'x' is a proven equivocator and stays banned in the book.
    expect(r.bans.size).toBe(0);
    expect(r.book.banned.has('x')).toBe(true);
    expect(r.book.banned.has('liar')).toBe(false);
    r.bans.onCommit(2, 'bad', encodeBans([entry('h3', 'bad', 2)]), 8);
    expect(r.bans.has('h3')).toBe(false);
    expect(r.count('ban-voided')).toBe(4);
  });

  it('an aggregator issues within its cap and carries the list (null when empty)', () => {
    const r = receiver('agg');
    expect(r.bans.wire()).toBeNull();
    expect(r.bans.issue('l1', 4, 4)).toBe(true);
    expect(r.bans.issue('l2', 4, 4)).toBe(false);
    const wire = r.bans.wire() as Uint8Array;
    expect(r.bans.changed).toBe(false);
    const other = receiver();
    other.bans.onCommit(4, 'agg', wire, 4);
    expect(other.bans.has('l1')).toBe(true);
  });
});

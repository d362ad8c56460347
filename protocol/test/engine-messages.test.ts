import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter, MessageError } from '../src/engine/bytes.js';
import { DIGEST_BYTES } from '../src/engine/digest.js';
import {
  type BodyLimits,
  decodeAnnounce,
  decodeCommit,
  decodeHeartbeat,
  decodeOpen,
  decodeStateInto,
  decodeStateRequest,
  decodeUplink,
  encodeAnnounce,
  encodeCommit,
  encodeHeartbeat,
  encodeOpen,
  encodeState,
  encodeStateRequest,
  encodeUplink,
  readShardSet,
  writeShardSet,
  type ReplicaShape,
} from '../src/engine/messages.js';

const M = 50;
const limits: BodyLimits = { shards: M, maxPayloadBytes: 64, allShards: Array.from({ length: M }, (_, i) => i) };
const shape: ReplicaShape = { names: ['Fw', 'w', 'z'], lengths: [4, 4, 3] };

const digest = fc.uint8Array({ minLength: DIGEST_BYTES, maxLength: DIGEST_BYTES });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ident = fc.stringMatching(/^[!-~]{1,20}$/);
const shardSet = fc.uniqueArray(fc.integer({ min: 0, max: M - 1 })).map((a) => a.sort((x, y) => x - y));
const delta = fc
  .uniqueArray(fc.record({ shard: fc.integer({ min: 0, max: M - 1 }), holder: fc.option(ident, { nil: null }) }), { selector: (e) => e.shard, maxLength: 12 })
  .map((a) => a.sort((x, y) => x.shard - y.shard));
const successors = fc.array(ident, { maxLength: 4 });

const heartbeat = fc.record({ round: u32, commitEpoch: u32, digest, flags: fc.integer({ min: 0, max: 3 }), held: shardSet });
const announce = fc.record({ round: u32, commitEpoch: u32, digest, flags: fc.integer({ min: 0, max: 3 }), successors });
const open = fc.record({
  attempt: u32,
  iteration: u32,
  phase: ident,
  baseEpoch: u32,
  baseDigest: digest,
  deadlineMs: u32,
  delta,
  wanted: shardSet,
  successors,
});
const uplink = fc.record({
  attempt: u32,
  entries: fc
    .uniqueArray(fc.record({ shard: fc.integer({ min: 0, max: M - 1 }), flags: fc.constant(0), payload: fc.uint8Array({ maxLength: 64 }) }), {
      selector: (e) => e.shard,
      maxLength: 6,
    })
    .map((a) => a.sort((x, y) => x.shard - y.shard)),
});
const commit = fc.record({
  iteration: u32,
  phase: ident,
  flags: fc.integer({ min: 0, max: 0xffff }),
  parentDigest: digest,
  digest,
  included: shardSet,
  payload: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
  successors,
  next: fc.option(fc.record({ delta }), { nil: null }),
});
const stateRequest = fc.record({ round: u32, digest, snapshot: fc.boolean() });

function plain<T>(x: T): unknown {
  return JSON.parse(JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v))) as unknown;
}

interface Codec {
  readonly name: string;
  readonly arb: fc.Arbitrary<unknown>;
  readonly encode: (v: never) => Uint8Array;
  readonly decode: (b: Uint8Array) => unknown;
}

const codecs: Codec[] = [
  { name: 'heartbeat', arb: heartbeat, encode: (v: never) => encodeHeartbeat(v, M), decode: (b) => decodeHeartbeat(b, limits) },
  { name: 'announce', arb: announce, encode: (v: never) => encodeAnnounce(v), decode: (b) => decodeAnnounce(b) },
  { name: 'open', arb: open, encode: (v: never) => encodeOpen(v, M), decode: (b) => decodeOpen(b, limits) },
  { name: 'uplink', arb: uplink, encode: (v: never) => encodeUplink(v), decode: (b) => decodeUplink(b, limits) },
  { name: 'commit', arb: commit, encode: (v: never) => encodeCommit(v, M), decode: (b) => decodeCommit(b, limits) },
  { name: 'state-request', arb: stateRequest, encode: (v: never) => encodeStateRequest(v), decode: (b) => decodeStateRequest(b) },
];

/** Runs `f`; true if it returned or threw a MessageError, false for any other throw. */
function onlyMessageError(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof MessageError;
  }
}

describe('engine message bodies', () => {
  for (const c of codecs) {
    it(`${c.name}: round-trips`, () => {
      fc.assert(
        fc.property(c.arb, (v) => {
          const bytes = c.encode(v as never);
          expect(plain(c.decode(bytes))).toEqual(plain(v));
        }),
        { numRuns: 200, seed: 1 },
      );
    });

    it(`${c.name}: random bytes and mutations raise only MessageError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyMessageError(() => c.decode(b))),
        { numRuns: 400, seed: 2 },
      );
      fc.assert(
        fc.property(c.arb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 }), (v, at, byte, kind) => {
          const bytes = c.encode(v as never).slice();
          let mutated: Uint8Array;
          if (kind === 0 && bytes.length > 0) {
            bytes[at % bytes.length] ^= 1 << (byte & 7);
            mutated = bytes;
          } else if (kind === 1) mutated = bytes.subarray(0, at % (bytes.length + 1));
          else if (kind === 2) mutated = Uint8Array.of(...bytes, byte);
          else {
            if (bytes.length > 0) bytes[at % bytes.length] = byte;
            mutated = bytes;
          }
          return onlyMessageError(() => c.decode(mutated));
        }),
        { numRuns: 600, seed: 3 },
      );
    });
  }

  it('names the offending field', () => {
    const hb = encodeHeartbeat({ round: 1, commitEpoch: 1, digest: new Uint8Array(16), flags: 0, held: [2, 3] }, M);
    expect(() => decodeHeartbeat(hb.subarray(0, 10), limits)).toThrow(/heartbeat\.digest/);
    const up = encodeUplink({ attempt: 0, entries: [{ shard: 60, flags: 0, payload: new Uint8Array(2) }] });
    expect(() => decodeUplink(up, limits)).toThrow(/uplink\.entries\[0\]\.shard/);
    const big = encodeUplink({ attempt: 0, entries: [{ shard: 1, flags: 0, payload: new Uint8Array(65) }] });
    expect(() => decodeUplink(big, limits)).toThrow(/entries\[0\]\.payload\.length/);
    const dup = encodeUplink({ attempt: 0, entries: [{ shard: 1, flags: 0, payload: new Uint8Array(1) }] });
    expect(() => decodeUplink(Uint8Array.of(...dup.subarray(0, 1), 2, ...dup.subarray(2), ...dup.subarray(2)), limits)).toThrow(/ascending/);
    try {
      decodeOpen(Uint8Array.of(0, 0, 3, 0x41, 0x0a, 0x42), limits);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MessageError);
      expect((e as MessageError).field).toBe('open.phase');
    }
  });

  it('reads back every identifier exactly, however many share a slot of the decoder cache', () => {
    // 5,000 distinct ids through a 1,024-entry cache, twice in different orders, plus near-twins.
    const ids = Array.from({ length: 5000 }, (_, i) => `p${i}`);
    ids.push('ab', 'ba', 'aab', 'aba', 'baa', 'x'.repeat(128), 'x'.repeat(127) + 'y', '!', '~');
    for (const order of [ids, [...ids].reverse(), ids]) {
      const w = new ByteWriter();
      for (const id of order) w.ident(id);
      w.ident('', true);
      const r = new ByteReader(w.finish(), 't');
      for (const id of order) expect(r.ident('id')).toBe(id);
      expect(r.ident('id', true)).toBe('');
      r.end();
    }
    // Names of failing fields are composed as before: field[index].leaf(.length).
    expect(() => new ByteReader(Uint8Array.of(), 'c').ident('f', false, 2, 'g')).toThrow(/c\.f\[2\]\.g\.length/);
    expect(() => new ByteReader(Uint8Array.of(3, 0x41), 'c').bytes('f', 9)).toThrow(/c\.f:/);
  });

  it('encodes shard sets at the cheaper of list and bitmap, exactly', () => {
    const size = (s: number[], m: number) => {
      const w = new ByteWriter();
      writeShardSet(w, s, m);
      const b = w.finish();
      expect(readShardSet(new ByteReader(b, 't'), 's', { ...limits, shards: m, allShards: Array.from({ length: m }, (_, i) => i) })).toEqual(s);
      return b.length;
    };
    expect(size([], 1000)).toBe(1); // "none"
    expect(size(Array.from({ length: 1000 }, (_, i) => i), 1000)).toBe(1); // "all"
    expect(size([3, 700], 1000)).toBe(1 + 1 + 1 + 2); // list: type, count, delta 3, delta 696 (2 bytes)
    const half = Array.from({ length: 500 }, (_, i) => 2 * i);
    expect(size(half, 1000)).toBe(1 + 125); // bitmap: 1000 bits
    // A bitmap with a padding bit set is refused.
    expect(() => readShardSet(new ByteReader(Uint8Array.of(3, 0xff, 0xff), 't'), 's', { ...limits, shards: 10 })).toThrow(MessageError);
  });

  it('has exact body sizes', () => {
    // heartbeat: round 1 B + epoch 1 B + digest 16 B + flags 1 B + held (list of 2: type, count, 2 deltas) 4 B
    expect(encodeHeartbeat({ round: 5, commitEpoch: 1, digest: new Uint8Array(16), flags: 0, held: [7, 9] }, M).length).toBe(23);
    // state request: round 2 B (300) + digest 16 B + flag 1 B
    expect(encodeStateRequest({ round: 300, digest: new Uint8Array(16), snapshot: true }).length).toBe(19);
  });

  it('snapshots: round-trip, and refuse wrong shapes and non-finite values', () => {
    const vectors = { Fw: Float64Array.of(1, 2, 3, 4), w: Float64Array.of(-1, 0.5, 1e-300, 7), z: Float64Array.of(9, 8, 7) };
    const header = { round: 12, commitEpoch: 3, digest: new Uint8Array(16).fill(7), iteration: 10, initialized: true, nextPhase: 'refresh' };
    const bytes = encodeState(header, vectors, shape);
    const out = { Fw: new Float64Array(4), w: new Float64Array(4), z: new Float64Array(3) };
    const h = decodeStateInto(bytes, shape, out);
    expect(plain(h)).toEqual(plain(header));
    expect(out).toEqual(vectors);
    const field = (b: Uint8Array, s: ReplicaShape = shape): string => {
      try {
        decodeStateInto(b, s, { Fw: new Float64Array(4), w: new Float64Array(4), z: new Float64Array(3) });
      } catch (e) {
        expect(e).toBeInstanceOf(MessageError);
        return (e as MessageError).field;
      }
      return 'accepted';
    };
    expect(field(bytes, { names: ['Fw', 'w'], lengths: [4, 4] })).toBe('state.vectors.count');
    expect(field(bytes, { names: ['Fw', 'x', 'z'], lengths: [4, 4, 3] })).toBe('state.vectors[1].name');
    expect(field(bytes, { names: ['Fw', 'w', 'z'], lengths: [4, 5, 3] })).toBe('state.vectors[1].length');
    const nan = encodeState(header, { ...vectors, w: Float64Array.of(1, Number.NaN, 2, 3) }, shape);
    expect(field(nan)).toBe('state.vectors.w[1]');
    const inf = encodeState(header, { ...vectors, z: Float64Array.of(1, 2, Number.POSITIVE_INFINITY) }, shape);
    expect(field(inf)).toBe('state.vectors.z[2]');
    expect(field(bytes.subarray(0, bytes.length - 1))).toBe('state.vectors.z');
    expect(field(Uint8Array.of(...bytes, 0))).toBe('state.end');
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (at, v) => {
        const b = bytes.slice();
        b[at % b.length] = v;
        return onlyMessageError(() => decodeStateInto(b, shape, { Fw: new Float64Array(4), w: new Float64Array(4), z: new Float64Array(3) }));
      }),
      { numRuns: 500, seed: 9 },
    );
  });
});

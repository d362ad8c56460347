import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ByteReader, ByteWriter, MessageError } from '../src/engine/bytes.js';
import { DIGEST_BYTES } from '../src/engine/digest.js';
import { PHASE_NAMES } from '../src/methods/types.js';
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
  DeltaView,
  readDelta,
  writeDelta,
  CM_BANS,
} from '../src/engine/messages.js';
import { COMMIT_STATEMENT_BYTES } from '../src/trust/certs.js';

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
const sig = fc.uint8Array({ minLength: 32, maxLength: 64 });
/** A successor list and its signed succession statement (present exactly when the list is not empty). */
const succ = fc
  .record({ successors: fc.array(ident, { maxLength: 4 }), members: fc.nat({ max: 100_000 }), sig })
  .map(({ successors, members, sig }) => ({ successors, succession: successors.length > 0 ? { members, sig } : null }));
const chain = fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null });
const cert = fc.option(fc.record({ statement: fc.uint8Array({ minLength: COMMIT_STATEMENT_BYTES, maxLength: COMMIT_STATEMENT_BYTES }), signer: ident, sig }), {
  nil: null,
});
const token = fc.option(fc.uint8Array({ maxLength: 100 }), { nil: null });

// Flags: reset, done, leaf; the rate flag (8) is set exactly when a rate follows.
const heartbeat = fc
  .record({
    round: u32,
    commitEpoch: u32,
    digest,
    flags: fc.integer({ min: 0, max: 7 }),
    held: shardSet,
    cert,
    token,
    upKbps: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100_000_000 })),
  })
  .map((h) => ({ ...h, flags: h.flags | (h.upKbps > 0 ? 8 : 0) }));
const announce = fc
  .record({ round: u32, commitEpoch: u32, digest, flags: fc.integer({ min: 0, max: 3 }), succ, chain })
  .map(({ succ: s, ...rest }) => ({ ...rest, ...s }));
const open = fc
  .record({
    attempt: u32,
    iteration: u32,
    phase: fc.constantFrom(...PHASE_NAMES),
    baseEpoch: u32,
    baseDigest: digest,
    deadlineMs: u32,
    delta,
    wanted: shardSet,
    succ,
    chain,
  })
  .map(({ succ: s, ...rest }) => ({ ...rest, ...s }));
const uplink = fc.record({
  attempt: u32,
  entries: fc
    .uniqueArray(fc.record({ shard: fc.integer({ min: 0, max: M - 1 }), flags: fc.constant(0), payload: fc.uint8Array({ maxLength: 64 }) }), {
      selector: (e) => e.shard,
      maxLength: 6,
    })
    .map((a) => a.sort((x, y) => x.shard - y.shard)),
});
const commit = fc
  .record({
    iteration: u32,
    phase: fc.constantFrom(...PHASE_NAMES),
    // The method's downlink flags leave CM_BANS to the ban list (engine/bans.ts), carried as bytes here.
    flags: fc.integer({ min: 0, max: 0xffff }).map((f) => f & ~CM_BANS),
    parentDigest: digest,
    digest,
    included: shardSet,
    payload: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
    bans: fc.option(fc.uint8Array({ maxLength: 48 }), { nil: null }),
    succ,
    chain,
    next: fc.option(fc.record({ delta }), { nil: null }),
  })
  .map(({ succ: s, ...rest }) => ({ ...rest, ...s }));
const SIGNER = { signer: 'p-agg', sig: new Uint8Array(64).fill(9) };
const stateRequest = fc.record({ round: u32, digest, snapshot: fc.boolean(), padding: fc.integer({ min: 0, max: 300 }) });

/** Offset of the delta in an OPEN body with a 4-character phase (attempt, iteration < 128, base epoch < 128, deadline < 128). */
function openDeltaOffset(body: Uint8Array): number {
  return 1 + 1 + 1 + body[2] + 1 + 32 + 1;
}

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
  {
    name: 'commit',
    arb: commit,
    encode: (v: never) => encodeCommit(v, M, () => SIGNER),
    decode: (b) => {
      const { signedLength: _n, sig: _g, ...rest } = decodeCommit(b, limits);
      return rest;
    },
  },
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
    const hb = encodeHeartbeat({ round: 1, commitEpoch: 1, digest: new Uint8Array(32), flags: 0, held: [2, 3], cert: null, token: null }, M);
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
    // A well-formed identifier that is no method's phase is refused at the wire, naming it.
    const alien = encodeOpen(
      {
        attempt: 0,
        iteration: 0,
        phase: 'teleport' as never,
        baseEpoch: 0,
        baseDigest: new Uint8Array(32),
        deadlineMs: 5,
        delta: [],
        wanted: [],
        successors: [],
        succession: null,
        chain: null,
      },
      M,
    );
    expect(() => decodeOpen(alien, limits)).toThrow(/open\.phase.*unknown phase 'teleport'/);
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

  it('decodes assignment deltas as a view: entries in order, peers by ref, refs of an id (duplicates included)', () => {
    const entries = [
      { shard: 0, holder: 'pa' },
      { shard: 3, holder: null },
      { shard: 4, holder: 'pb' },
      { shard: 9, holder: 'pa' },
      { shard: 49, holder: 'pc' },
    ];
    const body = encodeOpen(
      {
        attempt: 1,
        iteration: 2,
        phase: 'diff',
        baseEpoch: 1,
        baseDigest: new Uint8Array(32),
        deadlineMs: 5,
        delta: entries,
        wanted: [],
        successors: [],
        succession: null,
        chain: null,
      },
      M,
    );
    const d = decodeOpen(body, limits).delta;
    expect(d).toBeInstanceOf(DeltaView);
    expect(d.length).toBe(5);
    expect(d.peerCount).toBe(3);
    expect([d.peer(1), d.peer(2), d.peer(3)]).toEqual(['pa', 'pb', 'pc']);
    expect(() => d.peer(4)).toThrow(RangeError);
    expect(d.refsOf('pa')).toEqual([1]);
    expect(d.refsOf('pab')).toEqual([]);
    expect(d.refsOf('p')).toEqual([]);
    const seen: [number, number][] = [];
    d.forEach((shard, ref) => seen.push([shard, ref]));
    expect(seen).toEqual([
      [0, 1],
      [3, 0],
      [4, 2],
      [9, 1],
      [49, 3],
    ]);
    expect(d.toEntries()).toEqual(entries);
    // A hand-made delta listing one peer twice (peers, count, then shard gap and ref per entry): both refs are that peer's.
    const w = new ByteWriter();
    w.varint(2).ident('pa').ident('pa').varint(2).varint(1).varint(1).varint(0).varint(2);
    const twice = decodeOpen(Uint8Array.of(...body.subarray(0, openDeltaOffset(body)), ...w.finish(), 0, 0, 0), limits).delta;
    expect(twice.refsOf('pa')).toEqual([1, 2]);
    expect(twice.toEntries()).toEqual([
      { shard: 1, holder: 'pa' },
      { shard: 2, holder: 'pa' },
    ]);
  });

  it('validates deltas exactly as a field-by-field reader does, on valid and damaged bytes', () => {
    /** The straightforward decoder: every field through the reader, entries as objects. */
    const reference = (r: ByteReader, field: string): { shard: number; holder: string | null }[] => {
      const np = r.varint(`${field}.peers`, M, -1, 'count');
      const peers: string[] = [];
      for (let i = 0; i < np; i++) peers.push(r.ident(`${field}.peers`, false, i));
      const n = r.varint(field, M, -1, 'count');
      const out = [];
      let prev = -1;
      for (let i = 0; i < n; i++) {
        const shard = prev + 1 + r.varint(field, M, i, 'shard');
        if (shard >= M) r.fail(`${field}[${i}].shard`, `shard ${shard} out of range [0, ${M})`);
        const k = r.varint(field, peers.length, i, 'holder');
        out.push({ shard, holder: k === 0 ? null : peers[k - 1] });
        prev = shard;
      }
      return out;
    };
    const outcome = (f: () => { entries: unknown; end: number }): unknown => {
      try {
        return f();
      } catch (e) {
        if (e instanceof MessageError) return { error: e.field };
        throw e;
      }
    };
    fc.assert(
      fc.property(delta, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat({ max: 8 }), (d, edits, cut) => {
        const w = new ByteWriter();
        writeDelta(w, d);
        const bytes = w.finish().slice();
        for (const [at, v] of edits) if (bytes.length > 0) bytes[at % bytes.length] = v;
        const body = bytes.subarray(0, Math.max(0, bytes.length - (cut > 5 ? cut - 5 : 0)));
        const fast = outcome(() => {
          const r = new ByteReader(body, 't');
          const v = readDelta(r, body, 'delta', 'delta.peers', limits);
          return { entries: v.toEntries(), end: r.offset };
        });
        const slow = outcome(() => {
          const r = new ByteReader(body, 't');
          return { entries: reference(r, 'delta'), end: r.offset };
        });
        expect(fast).toEqual(slow);
      }),
      { numRuns: 2000, seed: 9 },
    );
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
    expect(
      size(
        Array.from({ length: 1000 }, (_, i) => i),
        1000,
      ),
    ).toBe(1); // "all"
    expect(size([3, 700], 1000)).toBe(1 + 1 + 1 + 2); // list: type, count, delta 3, delta 696 (2 bytes)
    const half = Array.from({ length: 500 }, (_, i) => 2 * i);
    expect(size(half, 1000)).toBe(1 + 125); // bitmap: 1000 bits
    // A bitmap with a padding bit set is refused.
    expect(() => readShardSet(new ByteReader(Uint8Array.of(3, 0xff, 0xff), 't'), 's', { ...limits, shards: 10 })).toThrow(MessageError);
  });

  it('has exact body sizes', () => {
    // heartbeat: round 1 B + epoch 1 B + digest 32 B + flags 1 B + held (list of 2: type, count, 2 deltas) 4 B + no cert 1 B + no token 1 B
    expect(encodeHeartbeat({ round: 5, commitEpoch: 1, digest: new Uint8Array(32), flags: 0, held: [7, 9], cert: null, token: null }, M).length).toBe(41);
    // … plus the upload rate as a varint when one is reported (20,000 kbit/s: 3 B)
    expect(
      encodeHeartbeat({ round: 5, commitEpoch: 1, digest: new Uint8Array(32), flags: 0, held: [7, 9], cert: null, token: null, upKbps: 20_000 }, M).length,
    ).toBe(44);
    // state request: round 2 B (300) + digest 32 B + flag 1 B + padding length 1 B (0); padded: a 2 B length and the padding
    expect(encodeStateRequest({ round: 300, digest: new Uint8Array(32), snapshot: true }).length).toBe(36);
    expect(encodeStateRequest({ round: 300, digest: new Uint8Array(32), snapshot: true, padding: 1000 }).length).toBe(1037);
  });

  it('snapshots: round-trip, and refuse wrong shapes and non-finite values', () => {
    const vectors = { Fw: Float64Array.of(1, 2, 3, 4), w: Float64Array.of(-1, 0.5, 1e-300, 7), z: Float64Array.of(9, 8, 7) };
    const header = { round: 12, commitEpoch: 3, digest: new Uint8Array(32).fill(7), iteration: 10, initialized: true, nextPhase: 'refresh' as const };
    const bytes = encodeState(header, vectors, shape, null);
    const out = { Fw: new Float64Array(4), w: new Float64Array(4), z: new Float64Array(3) };
    const h = decodeStateInto(bytes, shape, out);
    expect(plain(h)).toEqual(plain({ ...header, cert: null }));
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
    const nan = encodeState(header, { ...vectors, w: Float64Array.of(1, Number.NaN, 2, 3) }, shape, null);
    expect(field(nan)).toBe('state.vectors.w[1]');
    const inf = encodeState(header, { ...vectors, z: Float64Array.of(1, 2, Number.POSITIVE_INFINITY) }, shape, null);
    expect(field(inf)).toBe('state.vectors.z[2]');
    expect(field(bytes.subarray(0, bytes.length - 2))).toBe('state.vectors.z');
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

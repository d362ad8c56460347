import { utf8Encode } from '../src/utf8.js';
import { describe, expect, it } from 'vitest';
import { checkStatus, decodeStatus, encodeStatus, MAX_STATUS_BYTES, StatusError, type PeerStatus } from '../src/swarm/status.js';
import {
  decodeStatusQuery,
  encodeStatusQuery,
  isStatusQuery,
  STATUS_COUNTER_NAMES,
  STATUS_DICTIONARY_CHECK,
  STATUS_QUERY_FORMAT,
  STATUS_WIRE_FORMAT,
} from '../src/swarm/status-wire.js';

const RUN = 'a'.repeat(64);

function status(over: Partial<PeerStatus> = {}): PeerStatus {
  return {
    v: 1,
    runId: RUN,
    seq: 3,
    role: 'volunteer',
    epoch: 2,
    aggregator: '12D3KooWabc',
    isAggregator: false,
    round: 41,
    iteration: 35,
    digest: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    relDist: 1.5e-3,
    held: [0, 3, 7],
    heldCount: 3,
    done: null,
    uptimeMs: 1234,
    bytes: { direct: 10, broadcast: 0, received: 20, wireSent: 30, wireReceived: 40 },
    rejected: 0,
    counters: { 'stale-epoch': 2, 'net-uplinks-sent': 40 },
    ...over,
  };
}

const enc = (v: unknown): Uint8Array => utf8Encode(JSON.stringify(v));

/** Throws what `f` throws, or fails the test. */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('peer status reports', () => {
  it('round-trips a report exactly', () => {
    const s = status();
    expect(decodeStatus(encodeStatus(s))).toEqual(s);
  });

  it('carries where the peer computes (optional), and refuses a device that contradicts itself', () => {
    const cpu = status({ device: { provider: 'cpu', gpu: false, requested: 'auto' } });
    expect(decodeStatus(encodeStatus(cpu))).toEqual(cpu);
    const gpu = status({ device: { provider: 'webgpu', gpu: true, requested: 'gpu' } });
    expect(decodeStatus(encodeStatus(gpu)).device).toEqual({ provider: 'webgpu', gpu: true, requested: 'gpu' });
    expect(decodeStatus(encodeStatus(status())).device).toBeUndefined();
    const bad: [unknown, RegExp][] = [
      [{ ...status(), device: { provider: 'cpu', gpu: true, requested: 'auto' } }, /device.*gpu/],
      [{ ...status(), device: { provider: 'cuda', gpu: false, requested: 'auto' } }, /device.*gpu/],
      [{ ...status(), device: { provider: 'tpu', gpu: true, requested: 'auto' } }, /device\.provider/],
      [{ ...status(), device: { provider: 'cpu', gpu: false, requested: 'fast' } }, /device\.requested/],
      [{ ...status(), device: { provider: 'cpu', gpu: false, requested: 'auto', speed: 9 } }, /device/],
    ];
    for (const [value, field] of bad) {
      let err: unknown = null;
      try {
        checkStatus(value);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(value)).toBeInstanceOf(StatusError);
      expect((err as Error).message).toMatch(field);
    }
  });

  it('refuses empty, oversized and non-JSON input with StatusError', () => {
    expect(() => decodeStatus(new Uint8Array(0))).toThrow(StatusError);
    expect(() => decodeStatus(new Uint8Array(MAX_STATUS_BYTES + 1))).toThrow(/limit/);
    expect(() => decodeStatus(new Uint8Array([0xff, 0xfe, 0x00]))).toThrow(StatusError);
    expect(() => decodeStatus(enc('hello'))).toThrow(StatusError);
    // A JSON report (the old wire form) is refused by its first byte.
    expect(() => decodeStatus(enc(status()))).toThrow(/not a binary status report/);
  });

  it('refuses reports that break the schema, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...status(), round: -1 }, /round/],
      [{ ...status(), round: 1.5 }, /round/],
      [{ ...status(), runId: 'A'.repeat(64) }, /runId/],
      [{ ...status(), relDist: -1 }, /relDist/],
      [{ ...status(), digest: 'xyz' }, /digest/],
      [{ ...status(), held: Array.from({ length: 300 }, (_, i) => i) }, /held/],
      [{ ...status(), extra: 1 }, /root|extra|Unrecognized/i],
      [{ ...status(), v: 2 }, /v/],
      [{ ...status(), counters: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`c${i}`, 1])) }, /counters/],
      [{ ...status(), aggregator: 'bad id with spaces' }, /aggregator/],
    ];
    for (const [value, field] of cases) {
      let err: unknown = null;
      try {
        checkStatus(value);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StatusError);
      expect((err as Error).message).toMatch(field);
    }
  });

  it('refuses to encode an invalid report (a bug on our side)', () => {
    expect(() => encodeStatus({ ...status(), seq: -4 })).toThrow(StatusError);
  });

  it('encodes a report in exactly the bytes its layout gives', () => {
    // format 1 + dictionary check 2 + run 32 + seq 1 + flags 1 + epoch/round/iteration 3
    // + aggregator 1 + 11 + digest 32 + relDist 8 + held 1 + 3 + heldCount 1 + uptime 2
    // + bytes 5 + rejected 1 + counters 1 + 2 × (key 1 + value 1) = 110
    const s = status();
    const bytes = encodeStatus(s);
    expect(bytes.length).toBe(110);
    expect(bytes[0]).toBe(STATUS_WIRE_FORMAT);
    expect(bytes[1] | (bytes[2] << 8)).toBe(STATUS_DICTIONARY_CHECK);
    expect(Array.from(bytes.subarray(3, 35))).toEqual(new Array(32).fill(0xaa));
    // The JSON of the same report: ~3× as long.
    expect(enc(s).length).toBeGreaterThan(3 * bytes.length);
    // No aggregator, no metric, done, a device: − (1 + 11) − 8 + (1 + 10) + 1 = 102.
    const other = status({ aggregator: null, relDist: null, done: 'iterations', device: { provider: 'cuda', gpu: true, requested: 'gpu' } });
    const b2 = encodeStatus(other);
    expect(b2.length).toBe(102);
    expect(decodeStatus(b2)).toEqual(other);
    // Counter values and byte counts as varints: 2^53 − 1 takes 8 bytes (7 more than 40).
    const big = status({ counters: { 'stale-epoch': 2, 'net-uplinks-sent': Number.MAX_SAFE_INTEGER } });
    expect(encodeStatus(big).length).toBe(117);
    expect(decodeStatus(encodeStatus(big))).toEqual(big);
  });

  it('sends dictionary counter names as an index and any other name as text', () => {
    expect(STATUS_COUNTER_NAMES.length).toBeLessThan(128);
    expect(new Set(STATUS_COUNTER_NAMES).size).toBe(STATUS_COUNTER_NAMES.length);
    const all = Object.fromEntries(STATUS_COUNTER_NAMES.slice(0, 48).map((n, i) => [n, i * 1000]));
    const s = status({ counters: all });
    expect(decodeStatus(encodeStatus(s))).toEqual(s);
    // 'custom-x': key (1, the escape) + length 1 + 8 characters + value 1 = 11, against 2 for a known name.
    const custom = status({ counters: { 'stale-epoch': 2, 'custom-x': 40 } });
    expect(encodeStatus(custom).length).toBe(110 + 9);
    expect(decodeStatus(encodeStatus(custom))).toEqual(custom);
    // A real host's report: every host and link counter and a dozen engine counters.
    const host = status({ counters: Object.fromEntries(STATUS_COUNTER_NAMES.slice(0, 27).map((n) => [n, 123_456])) });
    expect(encodeStatus(host).length).toBeLessThan(250);
    expect(enc(host).length).toBeGreaterThan(900);
  });

  it('refuses malformed binary reports with StatusError, naming the field', () => {
    const good = encodeStatus(status());
    const patched = (at: number, value: number): Uint8Array => {
      const b = good.slice();
      b[at] = value;
      return b;
    };
    const cases: [Uint8Array, RegExp][] = [
      [patched(0, 0x7b), /format/],
      [patched(1, good[1] ^ 1), /dictionary.*another version/],
      [patched(36, 0x80 | 64), /flags/],
      [good.subarray(0, good.length - 1), /truncated/],
      [new Uint8Array([...good, 0]), /trailing/],
      [good.subarray(0, 20), /runId.*truncated/],
    ];
    for (const [bytes, field] of cases) {
      const err = thrown(() => decodeStatus(bytes));
      expect(err, field.source).toBeInstanceOf(StatusError);
      expect(err.message).toMatch(field);
    }
    // Every truncation is refused (never a partial report).
    for (let n = 1; n < good.length; n++) expect(() => decodeStatus(good.subarray(0, n))).toThrow(StatusError);
  });

  it('refuses out-of-range values inside well-formed bytes (the schema runs on the decoded report)', () => {
    // Held shards beyond 1e6, a counter named twice, a NaN metric, an unknown device byte.
    const held = encodeStatus(status({ held: [5], heldCount: 1 }));
    const at = held.indexOf(5, 3 + 32 + 1 + 1 + 3 + 12 + 32 + 8 + 1);
    const wide = new Uint8Array([...held.subarray(0, at), 0x81, 0x89, 0x7a, ...held.subarray(at + 1)]); // 2,000,001
    expect(thrown(() => decodeStatus(wide)).message).toMatch(/held/);
    const twice = encodeStatus(status({ counters: { 'stale-epoch': 2, 'net-uplinks-sent': 40 } }));
    const key2 = twice.length - 2;
    const dup = twice.slice();
    dup[key2] = dup[key2 - 2];
    expect(thrown(() => decodeStatus(dup)).message).toMatch(/twice/);
    const nan = encodeStatus(status());
    const rel = 3 + 32 + 1 + 1 + 3 + 12 + 32;
    const withNaN = nan.slice();
    new DataView(withNaN.buffer).setFloat64(rel, Number.NaN, true);
    expect(thrown(() => decodeStatus(withNaN)).message).toMatch(/relDist/);
    const negative = nan.slice();
    new DataView(negative.buffer).setFloat64(rel, -1, true);
    expect(thrown(() => decodeStatus(negative)).message).toMatch(/relDist/);
    const dev = encodeStatus(status({ device: { provider: 'cpu', gpu: false, requested: 'auto' } }));
    const badDev = dev.slice();
    badDev[badDev.length - 1] = 3 << 3;
    expect(thrown(() => decodeStatus(badDev)).message).toMatch(/device/);
    const gpuCpu = dev.slice();
    gpuCpu[gpuCpu.length - 1] = 4; // cpu with the gpu bit
    expect(thrown(() => decodeStatus(gpuCpu)).message).toMatch(/device.*gpu|gpu/);
  });

  it('status queries: 0x03, the run id, a varint nonce; refused when malformed, never taken for a report', () => {
    const q = encodeStatusQuery(RUN, 5);
    expect(q.length).toBe(1 + 32 + 1);
    expect(q[0]).toBe(STATUS_QUERY_FORMAT);
    expect(encodeStatusQuery(RUN, 300).length).toBe(1 + 32 + 2);
    expect(isStatusQuery(q)).toBe(true);
    expect(isStatusQuery(encodeStatus(status()))).toBe(false);
    expect(decodeStatusQuery(q)).toEqual({ runId: RUN, nonce: 5 });
    expect(thrown(() => decodeStatus(q)).message).toMatch(/format/);
    expect(thrown(() => decodeStatusQuery(encodeStatus(status()))).message).toMatch(/not a status query/);
    expect(thrown(() => decodeStatusQuery(q.subarray(0, 20)))).toBeInstanceOf(StatusError);
    expect(thrown(() => decodeStatusQuery(new Uint8Array([...q, 1]))).message).toMatch(/trailing/);
    expect(thrown(() => decodeStatusQuery(new Uint8Array([...q.subarray(0, 33), 0x80, 0x00]))).message).toMatch(/minimally/);
  });
});

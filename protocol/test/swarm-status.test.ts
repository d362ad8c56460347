import { utf8Encode } from '../src/utf8.js';
import { describe, expect, it } from 'vitest';
import { decodeStatus, encodeStatus, MAX_STATUS_BYTES, StatusError, type PeerStatus } from '../src/swarm/status.js';

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
        decodeStatus(enc(value));
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
        decodeStatus(enc(value));
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
});

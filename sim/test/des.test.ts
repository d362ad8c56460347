import { describe, expect, it } from 'vitest';
import { encodeFrames, keyedRng } from '@masha/protocol';
import { EventQueue } from '../src/des/event-queue.js';
import { MemoryLog } from '../src/des/event-log.js';
import type { LinkProfile } from '../src/des/link-model.js';
import { childRange, depthOf } from '../src/des/relay-tree.js';
import { Swarm } from '../src/des/swarm.js';
import { EchoNode, KIND_ECHO, KIND_PING, message, patternBody, TimerNode, type EchoOptions } from './des-helpers.js';

const LINK: LinkProfile = { computeMs: 0, uplinkMbps: 8, downlinkMbps: 80, latencyMs: 5, jitterMs: 0, loss: 0 };

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `p${i}`);
}

function echoSwarm(n: number, opts: EchoOptions, extra: { seed?: number; link?: LinkProfile; fanout?: number; log?: MemoryLog } = {}) {
  const engines = new Map<string, EchoNode>();
  const swarm = new Swarm({
    seed: extra.seed ?? 1,
    link: extra.link ?? LINK,
    fanout: extra.fanout,
    log: extra.log,
    createNode: (id, ports) => {
      const e = new EchoNode(id, 'p0', opts, ports);
      engines.set(id, e);
      return e;
    },
  });
  swarm.addInitialPeers(ids(n));
  return { swarm, engines };
}

describe('EventQueue', () => {
  it('pops in (time, insertion) order, including ties, against a sorted reference', () => {
    const rng = keyedRng(7, 0, 'test:queue', 0);
    const q = new EventQueue<number>();
    const ref: { t: number; i: number }[] = [];
    let popped: { t: number; i: number }[] = [];
    let i = 0;
    // Interleave pushes and pops; times drawn from a small set so ties are frequent.
    for (let step = 0; step < 5000; step++) {
      if (rng.nextFloat53() < 0.6 || q.size === 0) {
        const t = q.now + rng.nextInt(5);
        q.push(t, i);
        ref.push({ t, i });
        i++;
      } else {
        const v = q.pop() as number;
        popped.push({ t: q.now, i: v });
      }
    }
    while (q.size > 0) {
      const v = q.pop() as number;
      popped.push({ t: q.now, i: v });
    }
    expect(popped.length).toBe(ref.length);
    // Popped times never decrease; within equal times, insertion order is preserved.
    for (let k = 1; k < popped.length; k++) {
      expect(popped[k].t).toBeGreaterThanOrEqual(popped[k - 1].t);
      if (popped[k].t === popped[k - 1].t) expect(popped[k].i).toBeGreaterThan(popped[k - 1].i);
    }
    // Every event popped at the time it was scheduled for.
    const byId = new Map(ref.map((r) => [r.i, r.t]));
    for (const p of popped) expect(p.t).toBe(byId.get(p.i));
    popped = [];
  });

  it('refuses to schedule in the past or at non-finite times', () => {
    const q = new EventQueue<string>();
    q.push(10, 'a');
    q.pop();
    expect(q.now).toBe(10);
    expect(() => q.push(9.999, 'b')).toThrow(RangeError);
    expect(() => q.push(Number.NaN, 'b')).toThrow(RangeError);
    expect(() => q.push(Number.POSITIVE_INFINITY, 'b')).toThrow(RangeError);
    q.push(10, 'c');
    expect(q.pop()).toBe('c');
    expect(q.pop()).toBeUndefined();
  });
});

describe('relay tree', () => {
  it('children partition positions 1..n−1 and depth is ⌈log_D⌉-like', () => {
    for (const [n, d] of [
      [1, 6],
      [2, 6],
      [50, 4],
      [1000, 6],
    ]) {
      const parent = new Int32Array(n).fill(-1);
      for (let p = 0; p < n; p++) {
        const [s, e] = childRange(p, d, n);
        for (let c = s; c < e; c++) {
          expect(parent[c]).toBe(-1);
          parent[c] = p;
        }
      }
      for (let c = 1; c < n; c++) expect(parent[c]).toBeGreaterThanOrEqual(0);
      // Depth of the last position: positions at depth ≤ h number (D^(h+1) − 1)/(D − 1).
      const h = depthOf(n - 1, d);
      expect((d ** h - 1) / (d - 1)).toBeLessThan(n);
      expect((d ** (h + 1) - 1) / (d - 1)).toBeGreaterThanOrEqual(n);
    }
  });
});

describe('Swarm network model', () => {
  it('point-to-point timing = uplink serialisation + latencies + downlink serialisation (+ compute)', () => {
    const body = 3000;
    const { swarm, engines } = echoSwarm(
      2,
      { bodyBytes: body, direct: ['p1'], evalsPerEcho: 3, expectEchoes: 1 },
      {
        link: { ...LINK, computeMs: 2 },
      },
    );
    expect(swarm.run()).toBe('idle');
    const frame = encodeFrames(message(KIND_PING, 'p0', patternBody(body, 1)))[0];
    const F = frame.length;
    const up = 1 / (8 * 125);
    const down = 1 / (80 * 125);
    const oneWay = F * up + 10 + F * down;
    const pingAt = engines.get('p1')!.seen.find((s) => s.type === 'message')!.now;
    expect(pingAt).toBeCloseTo(oneWay, 9);
    // The echo leaves after 3 evaluations × 2 ms of compute.
    const echo = engines.get('p0')!.seen.find((s) => s.type === 'message')!;
    expect(echo.now).toBeCloseTo(oneWay + 6 + oneWay, 9);
    expect(swarm.stats.uplinkBytes).toBe(2 * F);
    expect(swarm.stats.wireBytes).toBe(2 * F);
    expect(engines.get('p0')!.echoes).toBe(1);
  });

  it('slow: a factor f multiplies compute time and divides bandwidth, 1 restores', () => {
    const body = 3000;
    const link = { ...LINK, computeMs: 2 };
    const F = encodeFrames(message(KIND_PING, 'p0', patternBody(body, 1)))[0].length;
    const up = 1 / (8 * 125);
    const down = 1 / (80 * 125);
    const echoAt = (slow: number | null): number => {
      const { swarm, engines } = echoSwarm(2, { bodyBytes: body, direct: ['p1'], evalsPerEcho: 3, expectEchoes: 1 }, { link });
      if (slow !== null) swarm.apply({ t: 0, event: 'slow', peer: 'p1', factor: slow });
      swarm.run();
      return engines.get('p0')!.seen.find((s) => s.type === 'message')!.now;
    };
    // The ping was already on the wire when p1 slowed down: only p1's downlink, compute and uplink stretch.
    const base = F * up + 10 + F * down;
    expect(echoAt(null)).toBeCloseTo(base + 6 + base, 9);
    expect(echoAt(4)).toBeCloseTo(F * up + 10 + 4 * F * down + 4 * 6 + 4 * F * up + 10 + F * down, 9);
    expect(echoAt(1)).toBeCloseTo(base + 6 + base, 9);
  });

  it('initial join events carry per-peer link overrides', () => {
    const engines = new Map<string, EchoNode>();
    const swarm = new Swarm({
      seed: 1,
      link: LINK,
      createNode: (id, ports) => {
        const e = new EchoNode(id, 'p0', { bodyBytes: 1000, direct: ['p1'], expectEchoes: 1 }, ports);
        engines.set(id, e);
        return e;
      },
    });
    swarm.addInitialPeers(['p0', { t: 0, event: 'join', peer: 'p1', latencyMs: 50, downlinkMbps: 8 }]);
    swarm.run();
    const F = encodeFrames(message(KIND_PING, 'p0', patternBody(1000, 1)))[0].length;
    const at = engines.get('p1')!.seen.find((s) => s.type === 'message')!.now;
    expect(at).toBeCloseTo(F / (8 * 125) + 5 + 50 + F / (8 * 125), 9);
  });

  it('a busy uplink queues frames back to back', () => {
    const body = 1000;
    const { swarm, engines } = echoSwarm(4, { bodyBytes: body, direct: ['p1', 'p2', 'p3'], expectEchoes: 3 });
    swarm.run();
    const F = encodeFrames(message(KIND_PING, 'p0', patternBody(body, 1)))[0].length;
    const up = 1 / (8 * 125);
    const down = 1 / (80 * 125);
    const times = ['p1', 'p2', 'p3'].map((id) => engines.get(id)!.seen.find((s) => s.type === 'message')!.now);
    // The k-th ping leaves after k serialisations.
    times.forEach((t, k) => expect(t).toBeCloseTo(F * up * (k + 1) + 10 + F * down, 9));
  });

  it('broadcast fan-out: the origin uploads fanout copies whatever the swarm size, everyone gets it once', () => {
    const body = 800;
    const F = encodeFrames(message(KIND_PING, 'p0', patternBody(body, 1)))[0].length;
    const uploads: number[] = [];
    for (const n of [20, 200]) {
      const { swarm, engines } = echoSwarm(n, { bodyBytes: body, expectEchoes: n - 1 }, { fanout: 4 });
      expect(swarm.run()).toBe('idle');
      for (const [id, e] of engines) {
        if (id === 'p0') continue;
        expect(e.seen.filter((s) => s.type === 'message').length).toBe(1);
      }
      // Tree: n − 1 ping hops, plus n − 1 echoes.
      expect(swarm.stats.framesSent).toBe(2 * (n - 1));
      expect(swarm.stats.downlinkBytes).toBe(F);
      // p0's uplink carried exactly 4 ping copies (echoes are uploaded by the others).
      uploads.push(swarm.uploadedBytes('p0'));
      expect(engines.get('p0')!.echoes).toBe(n - 1);
    }
    expect(uploads).toEqual([4 * F, 4 * F]);
  });

  it('multi-frame messages are chunked, relayed per frame and reassembled bit-exactly', () => {
    const body = 5000;
    const n = 30;
    const { swarm, engines } = echoSwarm(n, { bodyBytes: body, expectEchoes: n - 1, frameSize: 512 }, { fanout: 3 });
    expect(swarm.run()).toBe('idle');
    const frames = encodeFrames(message(KIND_PING, 'p0', patternBody(body, 1)), { frameSize: 512 });
    expect(frames.length).toBeGreaterThan(10);
    const expected = patternBody(body, 1);
    for (const s of engines.get('p0')!.seen) {
      if (s.type !== 'message') continue;
      expect(s.message.kind).toBe(KIND_ECHO);
      expect(Buffer.from(s.message.body).equals(Buffer.from(expected))).toBe(true);
    }
    const delivered = [...engines.values()].reduce((a, e) => a + e.messages, 0);
    expect(delivered).toBe(2 * (n - 1));
    expect(swarm.stats.framesSent).toBe(2 * (n - 1) * frames.length);
  });

  it('loss: the fraction of lost frames matches 1 − (1 − l_a)(1 − l_b) within 4 standard errors', () => {
    const n = 401;
    const { swarm, engines: lastEngines } = echoSwarm(n, { bodyBytes: 100, direct: ids(n).slice(1) }, { link: { ...LINK, loss: 0.1 }, seed: 3 });
    swarm.run();
    const p = 1 - 0.9 * 0.9;
    const sent = swarm.stats.framesSent;
    expect(sent).toBeGreaterThan(n); // pings + the echoes of delivered pings
    const se = Math.sqrt((p * (1 - p)) / sent);
    expect(Math.abs(swarm.stats.framesLost / sent - p)).toBeLessThan(4 * se);
    const { engines } = { engines: lastEngines };
    expect([...engines.values()].reduce((a, e) => a + e.messages, 0)).toBe(sent - swarm.stats.framesLost);
  });

  it('is deterministic: same seed → identical event log; another seed → a different one (jitter, loss)', () => {
    const run = (seed: number) => {
      const log = new MemoryLog();
      const { swarm } = echoSwarm(60, { bodyBytes: 700, expectEchoes: 59 }, { link: { ...LINK, jitterMs: 3, loss: 0.02 }, seed, log });
      swarm.run({ untilMs: 10_000 });
      return log.lines.join('\n');
    };
    const a = run(11);
    expect(a.length).toBeGreaterThan(1000);
    expect(run(11)).toBe(a);
    expect(run(12)).not.toBe(a);
    // Every line is a JSON object whose first keys are t and ev.
    for (const line of a.split('\n')) expect(Object.keys(JSON.parse(line)).slice(0, 2)).toEqual(['t', 'ev']);
  });

  it('corrupted frames are rejected (counted, reported to the engine) without disturbing other messages', () => {
    // Each echo node flips one payload byte of its echo's 3rd frame; only p2's echo is mangled.
    let echoers = 0;
    const mangle = (kind: number, _n: number, frames: Uint8Array[]): Uint8Array[] => {
      if (kind !== KIND_ECHO || ++echoers !== 2) return frames;
      const f = frames[2].slice();
      f[f.length - 1] ^= 0x40;
      return [frames[0], frames[1], f, ...frames.slice(3)];
    };
    const { swarm, engines } = echoSwarm(5, { bodyBytes: 3000, expectEchoes: 4, frameSize: 512, mangle }, { fanout: 2 });
    expect(swarm.run({ untilMs: 60_000 })).not.toBe('done');
    expect(swarm.stats.framesRejected).toBe(1);
    const p0 = engines.get('p0')!;
    const rejected = p0.seen.flatMap((s) => (s.type === 'rejected' ? [s.reason] : []));
    expect(rejected).toEqual(['bad-checksum']);
    expect(p0.echoes).toBe(3);
  });
});

describe('Swarm timers and membership', () => {
  function timerSwarm() {
    const engines = new Map<string, TimerNode>();
    const swarm = new Swarm({
      seed: 1,
      link: LINK,
      createNode: (id, ports) => {
        const e = new TimerNode(id, ports);
        engines.set(id, e);
        return e;
      },
    });
    return { swarm, engines };
  }

  it('wake-ups: the latest request replaces earlier ones; timers fire at set time + max(delay, 1 ms)', () => {
    const { swarm, engines } = timerSwarm();
    swarm.addInitialPeers(['a']);
    expect(swarm.run()).toBe('idle');
    expect(engines.get('a')!.fired).toEqual([
      ['z', 5],
      ['w', 6],
      ['v', 7],
      ['x', 30],
    ]);
    expect(swarm.stats.wakes).toBe(4);
  });

  it('a crash discards pending timers; a leave tells the others, a crash does not; a rejoin starts fresh', () => {
    const { swarm, engines } = timerSwarm();
    swarm.addInitialPeers(['a', 'b', 'c']);
    swarm.scheduleTrace([
      { t: 0.004, event: 'crash', peer: 'a' },
      { t: 0.007, event: 'leave', peer: 'b' },
      { t: 0.008, event: 'join', peer: 'd' },
      { t: 0.009, event: 'join', peer: 'a' },
    ]);
    swarm.run();
    // The first incarnation of a was crashed before its z timer (5 ms): the new a fired everything from 9 ms.
    expect(engines.get('a')!.fired).toEqual([
      ['z', 14],
      ['w', 15],
      ['v', 16],
      ['x', 39],
    ]);
    expect(engines.get('c')!.hints).toEqual(['peer-disconnected:b@7', 'peer-connected:d@8', 'peer-connected:a@9']);
    expect(engines.get('d')!.hints).toEqual(['peer-connected:c@8', 'peer-connected:a@9']);
    expect(swarm.alive).toBe(3);
    expect(swarm.aliveIds()).toEqual(['a', 'c', 'd']);
  });

  it('partitions cut links both ways until healed', () => {
    const { swarm, engines } = echoSwarm(3, { bodyBytes: 200, direct: ['p1', 'p2'], expectEchoes: 2 });
    swarm.scheduleTrace([{ t: 0, event: 'partition', peer: 'p2', group: 'b' }]);
    expect(swarm.run()).toBe('idle');
    expect(engines.get('p2')!.seen.some((s) => s.type === 'message')).toBe(false);
    expect(engines.get('p0')!.echoes).toBe(1);
    expect(swarm.stats.framesDropped).toBe(1);
  });
});

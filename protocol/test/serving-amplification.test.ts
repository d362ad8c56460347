// Serving state to other peers: only to members, at most twice a request's bytes back, within
// per-peer and total token buckets (engine/serving.ts). Figures are frame bytes, headers included.
import { describe, expect, it } from 'vitest';
import {
  encodeFrames,
  encodeHeartbeat,
  encodeStateRequest,
  ENGINE_CODEC,
  MSG,
  parseManifest,
  runFromManifest,
  type EngineAction,
  type EngineMessage,
} from './internals.js';
import { ServingGate, TokenBucket } from '../src/engine/serving.js';
import { TestSwarm, type Node } from './engine-driver.js';

const ATTACKER = '12D3KooWAttackerAttackerAttackerAttackerAttackerAttac';

/** The swarm tests' run (test/test/swarm-helpers.ts testManifest). */
function setup() {
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 100, M: 10, lambda: 0.1 },
    method: { name: 'masha1', gamma: 0.4 },
    compressors: { device: 'dither:p=2,s=8' },
    stop: { iterations: 2000, target: 1e-6 },
    network: { heartbeatMs: 500, leaseMs: 3000, roundDeadlineMs: 1500, quorum: 0.5, minPeers: 1 },
    seed: 7,
  });
  return runFromManifest(manifest);
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** A swarm of 3 at round ≥ 60, and an attacker's view of its aggregator. */
function scene() {
  let served = 0;
  let watcher: ((n: Node, a: EngineAction) => void) | null = null;
  const swarm: TestSwarm = new TestSwarm(setup(), {
    onAction: (n, a) => {
      watcher?.(n, a);
      if (a.type === 'send' && a.to === ATTACKER) served += encodeFrames(a.message).reduce((s, f) => s + f.length, 0);
    },
  });
  for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
  swarm.run(20_000, () => Math.max(...swarm.alive().map((n) => n.peer.committedRound)) >= 60);
  const agg = swarm.aggregators()[0];
  const committed = agg.peer.committedRound;
  const epoch = agg.peer.snapshot().epoch;
  let sent = 0;
  let id = 1;
  const deliver = (msg: EngineMessage): void => {
    for (const f of encodeFrames(msg, { messageId: id++ })) {
      sent += f.length;
      agg.host.receive(f, ATTACKER, 'direct');
    }
  };
  const message = (kind: number, round: number, body: Uint8Array): EngineMessage => ({
    kind,
    runId: swarm.ctx.runId,
    epoch,
    round,
    phase: 0,
    sender: ATTACKER,
    codec: ENGINE_CODEC,
    body,
  });
  const digestOf = (round: number): Uint8Array => hexBytes(swarm.node('p1').commits.find((c) => c.round === round)!.digest);
  return {
    swarm,
    agg,
    committed,
    /** Joins the aggregator's membership table (a heartbeat). */
    becomeMember: () =>
      deliver(
        message(
          MSG.HEARTBEAT,
          0,
          encodeHeartbeat({ round: 0, commitEpoch: 0, digest: swarm.ctx.initialDigest, flags: 0, held: [], cert: null, token: null }, swarm.ctx.shards),
        ),
      ),
    /** A state request for a snapshot (asked from round 0 or 1) or a replay of the last 32 commits, padded with `padding` bytes. */
    request: (kind: 'snapshot' | 'replay', i: number, padding = 0) => {
      const round = kind === 'snapshot' ? i % 2 : committed - 32 + (i % 2);
      const digest = kind === 'snapshot' ? new Uint8Array(32) : digestOf(round);
      deliver(message(MSG.STATE_REQUEST, round, encodeStateRequest({ round, digest, snapshot: kind === 'snapshot', padding })));
    },
    /** Bytes sent to the attacker per byte it sent, since the last reset. */
    ratio: () => served / sent,
    served: () => served,
    /** Sees every action of every peer from now on. */
    watch: (f: (n: Node, a: EngineAction) => void) => {
      watcher = f;
    },
    reset: () => {
      served = 0;
      sent = 0;
    },
  };
}

describe('serving state: amplification', () => {
  it('serves nothing to a peer that is not a member', () => {
    const s = scene();
    const pad = Math.floor(s.swarm.ctx.largestAnswerWireBytes / 2);
    for (let i = 0; i < 20; i++) s.request('snapshot', i, pad);
    for (let i = 0; i < 20; i++) s.request('replay', i, pad);
    expect(s.served()).toBe(0);
    expect(s.agg.peer.counters['state-request-not-member']).toBe(40);
  });

  it('answers a member with at most twice the bytes of each request, padded or not, one request or a lease of them', () => {
    const figures: Record<string, number> = {};
    for (const kind of ['snapshot', 'replay'] as const) {
      const s = scene();
      s.becomeMember();
      s.reset();
      // Today's attacker: a bare request.
      s.request(kind, 0);
      figures[`${kind}-bare`] = s.ratio();
      expect(s.ratio()).toBeLessThanOrEqual(2);
      // A request padded generously: served, and still at most twice its bytes.
      s.reset();
      const maxPad = Math.floor(s.swarm.ctx.largestAnswerWireBytes / 2);
      s.request(kind, 1, maxPad);
      figures[`${kind}-padded`] = s.ratio();
      expect(s.served()).toBeGreaterThan(0);
      expect(s.ratio()).toBeLessThanOrEqual(2);
      // A lease of requests (alternating rounds, which defeated the old throttle), padded just enough.
      s.reset();
      for (let i = 0; i < 200; i++) s.request(kind, i, kind === 'snapshot' ? Math.ceil(s.swarm.ctx.snapshotWireBytes / 2) : maxPad);
      figures[`${kind}-lease`] = s.ratio();
      expect(s.ratio()).toBeLessThanOrEqual(2);
      // …and the per-peer bucket caps what one member gets in a lease, whatever it pays.
      expect(s.served()).toBeLessThanOrEqual(s.swarm.ctx.serving.perPeerBytesPerLease);
    }
    console.log(`amplification (bytes back per request byte): ${JSON.stringify(figures)}`);
  });

  it('an honest joiner still syncs and contributes, and is answered about twice what its padded requests weigh', () => {
    const s = scene();
    let asked = 0;
    let answered = 0;
    const frameBytes = (m: EngineMessage): number => encodeFrames(m).reduce((n, f) => n + f.length, 0);
    s.watch((n, a) => {
      if (a.type !== 'send') return;
      if (n.id === 'p9' && a.message.kind === MSG.STATE_REQUEST) asked += frameBytes(a.message);
      if (a.to === 'p9' && (a.message.kind === MSG.STATE || a.message.kind === MSG.REPLAY)) answered += frameBytes(a.message);
    });
    s.swarm.add('p9', s.swarm.now);
    s.swarm.run(s.swarm.now + 30_000, () => s.swarm.node('p9')?.peer.snapshot().held.length > 0 && s.swarm.node('p9').commits.length > 20);
    const j = s.swarm.node('p9');
    expect(j.commits.length).toBeGreaterThan(20);
    expect(j.peer.counters['state-installed']).toBe(1);
    expect(answered / asked).toBeLessThanOrEqual(2);
    console.log(`honest joiner: asked with ${asked} bytes, answered with ${answered} (${(answered / asked).toFixed(2)}×)`);
  });
});

describe('TokenBucket and ServingGate', () => {
  it('refills at capacity per period and never above capacity', () => {
    const b = new TokenBucket(1000, 100, 0);
    expect(b.take(600, 0)).toBe(true);
    expect(b.take(600, 0)).toBe(false);
    expect(b.take(600, 20)).toBe(true); // 400 + 200 refilled
    expect(b.level(10_000)).toBe(1000);
  });

  it('limits each peer and all peers together', () => {
    const g = new ServingGate({ amplification: 2, perPeerBytesPerLease: 1000, totalBytesPerLease: 2500 }, 1000, 0);
    expect(g.credit(300)).toBe(600);
    expect(g.take('a', 900, 0)).toBeNull();
    expect(g.take('a', 200, 0)).toBe('state-request-peer-rate');
    expect(g.take('b', 900, 0)).toBeNull();
    expect(g.take('c', 900, 0)).toBe('state-request-total-rate');
    expect(g.take('c', 900, 500)).toBeNull(); // half a lease refills 1250 of the total
  });
});

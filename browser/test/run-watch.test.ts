/**
 * The worker's view of the swarm (src/worker/run-watch.ts): which run it follows, when it says
 * "not found" / "finished", and what it takes from status reports — all from untrusted frames.
 * Also the transfer helper of the main↔worker protocol.
 */
import { describe, expect, it } from 'vitest';
import { parseManifest, runIdOf } from '@masha/protocol';
import { encodeAnnouncement, encodeStatus, type PeerStatus } from '@masha/protocol/swarm';
import { LIVE_WINDOW_MS, RunChooser, runInfo, StatusBoard } from '../src/worker/run-watch.js';
import { frameBuffer } from '../src/worker-protocol.js';

const LAUNCHER = '12D3KooWLauncher';
const m1 = parseManifest({ problem: { kind: 'bilinear', d: 20, M: 4 }, method: { name: 'masha1' }, stop: { iterations: 50, target: 1e-6 } });
const m2 = parseManifest({ problem: { kind: 'quadratic', d: 30, n: 5 }, method: { name: 'marina' }, stop: { iterations: 80 } });
const id1 = runIdOf(m1);
const id2 = runIdOf(m2);
let msgId = 1;

function announce(chooser: RunChooser, manifest: typeof m1, state: 'open' | 'finished', author = LAUNCHER) {
  let out = null;
  for (const f of encodeAnnouncement({ manifest, files: {}, state, startedAt: 1000 }, author, msgId++, 64 * 1024)) out = chooser.accept(f, 0, author) ?? out;
  return out;
}

function status(over: Partial<PeerStatus>): PeerStatus {
  return {
    v: 1,
    runId: id1,
    seq: 1,
    role: 'volunteer',
    epoch: 1,
    aggregator: '12D3KooWAgg',
    isAggregator: false,
    round: 10,
    iteration: 8,
    digest: '0'.repeat(64),
    relDist: 0.5,
    held: [0, 1],
    heldCount: 2,
    done: null,
    uptimeMs: 1000,
    bytes: { direct: 0, broadcast: 0, received: 0, wireSent: 0, wireReceived: 0 },
    rejected: 0,
    counters: {},
    ...over,
  };
}

describe('choosing the run', () => {
  it('follows the run asked for, ignoring others, and describes it from its manifest', () => {
    const c = new RunChooser(id2);
    expect(announce(c, m1, 'open')).toBeNull();
    const a = announce(c, m2, 'open');
    expect(a?.runId).toBe(id2);
    expect(runInfo(a!)).toMatchObject({
      runId: id2,
      method: 'MARINA',
      compressor: 'permk',
      problem: 'quadratic, d = 30, n = 5',
      launcher: LAUNCHER,
      state: 'open',
      target: null,
      iterations: 80,
    });
    expect(c.problem(true)).toBeNull();
  });

  it('without a run id, follows the first open run and stays with it', () => {
    const c = new RunChooser(null);
    expect(announce(c, m1, 'finished')).toBeNull();
    expect(c.problem(false)).toBeNull();
    expect(c.problem(true)).toBe('no-runs');
    expect(announce(c, m2, 'open')?.runId).toBe(id2);
    expect(announce(c, m1, 'open')).toBeNull();
    expect(c.run?.runId).toBe(id2);
  });

  it('says "not found" only after waiting, and "finished" once the launcher says so', () => {
    const c = new RunChooser(id1);
    expect(c.problem(false)).toBeNull();
    expect(c.problem(true)).toBe('run-not-found');
    announce(c, m1, 'open');
    expect(c.problem(true)).toBeNull();
    announce(c, m1, 'finished');
    expect(c.problem(true)).toBe('run-finished');
    const late = new RunChooser(id1);
    announce(late, m1, 'finished');
    expect(late.problem(false)).toBe('run-finished');
  });

  it('refuses a malformed run id and counts garbage frames', () => {
    expect(() => new RunChooser('abc')).toThrow(RangeError);
    const c = new RunChooser(null);
    expect(c.accept(new Uint8Array([1, 2, 3]), 0, LAUNCHER)).toBeNull();
    expect(Object.values(c.rejected).reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe('the status board', () => {
  it('takes the newest report per peer and the most advanced peer for the swarm view', () => {
    const b = new StatusBoard(id1);
    expect(b.view(0)).toBeNull();
    expect(b.accept(encodeStatus(status({ seq: 2, round: 12, iteration: 10, relDist: 0.25 })), 0, 'peerA')).toBe(true);
    // An older report of the same peer is ignored.
    expect(b.accept(encodeStatus(status({ seq: 1, round: 11, relDist: 0.3 })), 0, 'peerA')).toBe(false);
    expect(
      b.accept(
        encodeStatus(status({ seq: 5, epoch: 2, aggregator: '12D3KooWNew', round: 3, iteration: 12, relDist: 0.125, heldCount: 3, held: [2, 3, 4] })),
        0,
        'peerB',
      ),
    ).toBe(true);
    expect(b.accept(encodeStatus(status({ role: 'launcher', seq: 1, heldCount: 0, held: [] })), 0, 'launcher')).toBe(true);
    expect(b.view(100)).toEqual({
      volunteers: 2,
      aggregator: '12D3KooWNew',
      epoch: 2,
      round: 3,
      iteration: 12,
      metric: 0.125,
      shards: [
        { peer: 'peerA', held: 2 },
        { peer: 'peerB', held: 3 },
      ],
    });
    expect(b.series()).toEqual({ iteration: [10, 12], metric: [0.25, 0.125] });
    // Peers silent for longer than the live window drop out of the view.
    expect(b.view(LIVE_WINDOW_MS + 1)).toBeNull();
  });

  it('refuses reports of another run and malformed ones, counting them', () => {
    const b = new StatusBoard(id1);
    expect(b.accept(encodeStatus(status({ runId: id2 })), 0, 'p')).toBe(false);
    expect(b.accept(new TextEncoder().encode('{"v":1}'), 0, 'p')).toBe(false);
    expect(b.accept(new Uint8Array(0), 0, 'p')).toBe(false);
    expect(b.rejected).toEqual({ 'other-run': 1, 'bad-status': 2 });
    expect(b.view(0)).toBeNull();
  });

  it('keeps the chart bounded: old points are thinned, the newest kept', () => {
    const b = new StatusBoard(id1);
    for (let i = 1; i <= 5_000; i++) b.accept(encodeStatus(status({ seq: i, iteration: i, relDist: 1 / i })), 0, 'p');
    const s = b.series();
    expect(s.iteration.length).toBeLessThanOrEqual(2_000);
    expect(s.iteration[s.iteration.length - 1]).toBe(5_000);
    expect(s.metric[s.metric.length - 1]).toBe(1 / 5_000);
    for (let i = 1; i < s.iteration.length; i++) expect(s.iteration[i]).toBeGreaterThan(s.iteration[i - 1]);
  });
});

describe('frames between the main thread and the worker', () => {
  it('moves a frame that owns its buffer and copies a view into a larger one', () => {
    const own = new Uint8Array([1, 2, 3]);
    expect(frameBuffer(own)).toBe(own.buffer);
    const big = new Uint8Array([9, 1, 2, 3, 9]);
    const view = big.subarray(1, 4);
    const b = frameBuffer(view);
    expect(b).not.toBe(big.buffer);
    expect([...new Uint8Array(b)]).toEqual([1, 2, 3]);
    // Transferring the copy leaves the original intact.
    structuredClone(b, { transfer: [b] });
    expect([...big]).toEqual([9, 1, 2, 3, 9]);
  });
});

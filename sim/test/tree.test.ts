import { describe, expect, it } from 'vitest';
import { MSG, parseManifest, type Manifest } from '@masha/protocol';
import { crc32c, decodeFrame, frameHeaderBytes } from '@masha/protocol/frames';
import type { FrameLink } from '@masha/protocol/ports';
import { TREE_KIND } from '@masha/protocol/tree';
import { MemoryLog } from '../src/des/event-log.js';
import type { SimNode } from '../src/des/node.js';
import { simulate, type SimulateOptions } from '../src/run/simulate.js';
import { formatTrace, parseTrace, type TraceEvent } from '../src/trace/index.js';

/**
 * The protocol's relay trees in the simulator: MASHA1 on a quadratic with d = 40,000, RandK 1 %
 * uplinks and a dense (identity, 160 KB) commit cut into 4 KiB frames (40 frames), 16 peers on
 * the default home links (20 Mbit/s up, 100 down, 20 ms). Long deadlines and quorum = every
 * shard, so the mathematics of a run does not depend on timing: a tree run, a gossip run and a
 * run with faults end on the same replica digest.
 */
const PEERS = 16;
const HEARTBEAT = 500;
const DEADLINE = 10_000;

function manifest(tree: boolean, iterations = 6, minPeers = PEERS): Manifest {
  return parseManifest({
    problem: { kind: 'quadratic', d: 40_000, n: PEERS, seed: 1 },
    method: { name: 'masha1', gamma: 0.05 },
    compressors: { device: 'randk:0.01', server: 'identity' },
    stop: { iterations },
    network: {
      frameBytes: 4096,
      heartbeatMs: HEARTBEAT,
      leaseMs: 4000,
      roundDeadlineMs: DEADLINE,
      quorum: 1,
      minPeers,
      broadcast: { tree },
    },
    seed: 1,
  });
}

interface Line {
  t: number;
  ev: string;
  peer: string;
  [k: string]: unknown;
}

function run(options: Partial<SimulateOptions> & { tree?: boolean; iterations?: number; minPeers?: number } = {}) {
  const log = new MemoryLog();
  const r = simulate({ manifest: manifest(options.tree ?? true, options.iterations, options.minPeers), log, ...options });
  const lines = log.lines.map((l) => JSON.parse(l) as Line);
  const aggregator = [...r.hosts.values()].find((h) => (h.counters['tree-originated'] ?? 0) > 0)?.id ?? null;
  return { r, log, lines, aggregator };
}

function counter(r: ReturnType<typeof simulate>, name: string, except: string | null = null): number {
  let n = 0;
  for (const h of r.hosts.values()) if (h.id !== except) n += h.counters[name] ?? 0;
  return n;
}

/** Rewrites a frame's payload byte with valid CRCs: what a malicious relay could forge. */
function forge(frame: Uint8Array): Uint8Array {
  const f = frame.slice();
  const senderLength = f[10];
  const header = frameHeaderBytes(senderLength);
  f[header] ^= 0xff;
  const put = (o: number, v: number): void => {
    f[o] = v & 0xff;
    f[o + 1] = (v >>> 8) & 0xff;
    f[o + 2] = (v >>> 16) & 0xff;
    f[o + 3] = (v >>> 24) & 0xff;
  };
  put(44, crc32c(f, header, f.length));
  put(84 + senderLength, crc32c(f, 0, 84 + senderLength));
  decodeFrame(f); // still a well-formed frame
  return f;
}

describe('relay trees in the simulator', () => {
  it('carries every large commit down the trees: the aggregator uploads one copy, every peer receives each frame once', () => {
    const { r, lines, aggregator } = run();
    expect(r.summary.consistent).toBe(true);
    expect(r.summary.iterations).toBe(6);
    expect(aggregator).not.toBeNull();
    const agg = r.hosts.get(aggregator as string);
    if (agg === undefined) throw new Error('no aggregator');
    // Every commit but the first went down the trees (the first is what makes the epoch's
    // broadcasts large: the roster goes out with it); the frames of each arrived exactly once.
    const originated = agg.counters['tree-originated'] ?? 0;
    expect(originated).toBe(r.summary.committedRounds);
    expect(counter(r, 'tree-duplicate')).toBe(0);
    expect(counter(r, 'tree-repair')).toBe(0);
    expect(counter(r, 'tree-pull-served')).toBe(0);
    const commitFrames = lines.filter((l) => l.ev === 'tree' && l.what === 'originated').reduce((a, l) => a + (l.frames as number), 0);
    for (const h of r.hosts.values()) if (h.id !== aggregator) expect(h.counters['tree-frames-accepted']).toBe(commitFrames);
    // One copy of each commit from the aggregator (its frames' bytes: bodies plus 1.6 % headers).
    const commitBodies = agg.counters['body-commit'] ?? 0;
    expect(agg.bytes.relayed / commitBodies).toBeGreaterThan(1);
    expect(agg.bytes.relayed / commitBodies).toBeLessThan(1.03);
    // The swarm carried about what the rounds need: the uplinks, one commit per receiving peer,
    // and small control messages (anchors, rosters, heartbeats, announcements).
    const needed = r.summary.uplinkBytes + (PEERS - 1) * r.summary.downlinkBytes;
    expect(r.summary.wireBytes / needed).toBeLessThan(1.05);
    // The same mathematics as with gossip: the same final state, bit for bit.
    const gossip = run({ tree: false });
    expect(gossip.r.summary.consistent).toBe(true);
    expect(gossip.aggregator).toBeNull();
    expect(r.peers[0].digestHex).toBe(gossip.r.peers[0].digestHex);
    // Gossip's relay model pushes each broadcast to 6 peers from the aggregator, the trees 1.
    expect(gossip.r.summary.simSeconds).toBeGreaterThan(r.summary.simSeconds);
  });

  it('is deterministic: the same seed gives the same event log', () => {
    const a = run({ iterations: 3 });
    const b = run({ iterations: 3 });
    expect(b.log.lines).toEqual(a.log.lines);
  });

  it('a relay that crashes mid-broadcast costs its subtree at most a heartbeat: every other peer applies the commit before the deadline', () => {
    // 15 peers suffice to go on after the crash.
    const base = run({ minPeers: PEERS - 1 });
    const aggregator = base.aggregator as string;
    // Round 4's commit: a relay (not the aggregator) that forwarded frames of it, crashed between
    // its first and last forward.
    const R = 4;
    const commitAt = base.lines.find((l) => l.ev === 'commit' && l.peer === aggregator && l.round === R)?.t as number;
    const forwards = base.lines.filter((l) => l.ev === 'relay' && l.kind === MSG.COMMIT && l.round === R && l.peer !== aggregator);
    const victim = forwards[0].peer;
    const mine = forwards.filter((l) => l.peer === victim);
    expect(mine.length).toBeGreaterThan(4);
    const crashAt = Math.round((1000 * (mine[0].t + mine[1].t)) / 2) / 1000;
    expect(crashAt).toBeLessThan(mine[mine.length - 1].t);
    const trace = parseTrace(formatTrace([{ t: crashAt, event: 'crash', peer: victim } satisfies TraceEvent]));
    const { r, lines } = run({ trace, minPeers: PEERS - 1 });
    expect(r.summary.consistent).toBe(true);
    expect(r.summary.iterations).toBe(6);
    // The victim's children noticed and pulled its stripe from their grandparent.
    expect(counter(r, 'tree-repair')).toBeGreaterThan(0);
    const survivors = [...r.hosts.keys()].filter((p) => p !== victim);
    for (const p of survivors) {
      const c = lines.find((l) => l.ev === 'commit' && l.peer === p && l.round === R);
      expect(c, `${p} applied round ${R}`).toBeDefined();
      expect((c as Line).t - commitAt).toBeLessThan((DEADLINE + HEARTBEAT) / 1000);
      // Within a heartbeat of the stall, in fact: the round's broadcast took well under one.
      expect((c as Line).t - commitAt).toBeLessThan((2 * HEARTBEAT) / 1000);
    }
    // Repairs came from the tree, not from the engine's replays of whole commits.
    expect(r.counters.get('sync-request') ?? 0).toBe(0);
    // The same final state as without the crash (every round still had every shard: the
    // victim's shard moved to another peer).
    expect(r.summary.committedRounds).toBeGreaterThanOrEqual(base.r.summary.committedRounds);
  });

  it('a relay that alters what it forwards is caught by the anchor: its frames go no further, the subtree repairs, nothing changes', () => {
    const honest = run();
    const aggregator = honest.aggregator as string;
    const liar = [...honest.r.hosts.keys()].find((p) => p !== aggregator && (honest.r.hosts.get(p)?.bytes.relayed ?? 0) > 0) as string;
    const adversary = {
      link: (id: string, link: FrameLink): FrameLink =>
        id !== liar
          ? link
          : {
              ...link,
              send: link.send.bind(link),
              broadcast: link.broadcast.bind(link),
              relay: (to, frames, meta) => link.relay?.(to, frames.map(forge), meta),
            },
    };
    const { r } = run({ faults: adversary });
    expect(r.summary.consistent).toBe(true);
    expect(r.summary.iterations).toBe(6);
    expect(r.peers[0].digestHex).toBe(honest.r.peers[0].digestHex);
    const bad = counter(r, 'tree-bad-frame');
    expect(bad).toBeGreaterThan(0);
    // Only the liar's own children saw forged frames: none was forwarded by an honest peer.
    const liarForwards = (r.hosts.get(liar)?.counters['tree-frames-forwarded'] ?? 0) + (r.hosts.get(liar)?.counters['tree-pull-served'] ?? 0);
    expect(bad).toBeLessThanOrEqual(liarForwards);
    expect(counter(r, 'tree-repair')).toBeGreaterThan(0);
    // The engine never saw a forged commit.
    expect(r.counters.get('digest-mismatch') ?? 0).toBe(0);
    expect(r.counters.get('bad-message') ?? 0).toBe(0);
  });

  it('peers that lose the gossip anchor fetch it from the aggregator and still relay', () => {
    const honest = run();
    const aggregator = honest.aggregator as string;
    const adversary = {
      node: (id: string, node: SimNode): SimNode =>
        id === aggregator
          ? node
          : {
              start: () => node.start(),
              stop: () => node.stop(),
              wake: () => node.wake(),
              receive: (b, from) => node.receive(b, from),
              receiveRelayed: (b, from, f, sh) => node.receiveRelayed?.(b, from, f, sh),
              peerConnected: (p) => node.peerConnected(p),
              peerDisconnected: (p) => node.peerDisconnected(p),
              // Gossip (shared broadcast) anchors never arrive; direct ones do.
              receiveFrame: (frame, size, from, shared) => {
                if (shared !== undefined && frame.kind === TREE_KIND.ANCHOR) return;
                node.receiveFrame(frame, size, from, shared);
              },
            },
    };
    const { r } = run({ faults: adversary });
    expect(r.summary.consistent).toBe(true);
    expect(r.summary.iterations).toBe(6);
    expect(r.peers[0].digestHex).toBe(honest.r.peers[0].digestHex);
    expect(counter(r, 'tree-anchor-pull')).toBeGreaterThan(0);
  });

  it('a peer on a slow uplink is a leaf: it relays nothing', () => {
    const events: TraceEvent[] = Array.from({ length: PEERS }, (_, i) => ({
      t: 0,
      event: 'join' as const,
      peer: `p${i}`,
      ...(i === 3 ? { uplinkMbps: 1 } : {}),
    }));
    const { r } = run({ trace: parseTrace(formatTrace(events)) });
    expect(r.summary.consistent).toBe(true);
    const slow = r.hosts.get('p3');
    if ((slow?.counters['tree-originated'] ?? 0) === 0) expect(slow?.bytes.relayed).toBe(0);
  });
});

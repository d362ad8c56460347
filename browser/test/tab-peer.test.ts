/**
 * The browser volunteer's peer (src/worker/tab-peer.ts) — the shared engine host with the
 * worker's ports — driven in-process: several TabPeers whose posts to "the main thread" are routed
 * to each other (direct frames to one peer, broadcasts to all others, asynchronously, copied), as
 * the page's libp2p node would. No browser: what is tested is the adapter (run built from the
 * announcement, frames in and out, warm-up, status reports, pause/resume, CPU share), on real
 * timers.
 *
 * - Three tabs with every shard required (quorum 1, minPeers 3) solve a bilinear run to its
 *   target at bitwise the reference runner's iterate.
 * - A tab paused mid-run gives up its shards (the others take them within a lease), contributes
 *   nothing while paused, and contributes again after resuming; the run still reaches its target
 *   on one lineage.
 * - Large commits go down the relay trees between tabs (the tree protocol's frames, `relay` posts):
 *   tabs are leaves, but a swarm of tabs only relays among itself rather than have the aggregator
 *   tab send a copy to each.
 */
import { describe, expect, it } from 'vitest';
import {
  ed25519PublicKey,
  sha256Hex,
  parseManifest,
  peerIdOfEd25519Key,
  runFromManifest,
  runIdOf,
  runReference,
  type Manifest,
  type ManifestInput,
} from '@masha/protocol';
import { broadcastTopic, decodeStatus, statusTopic, type PeerStatus, type RunAnnouncement } from '@masha/protocol/swarm';
import { TabPeer } from '../src/worker/tab-peer.js';
import type { FromWorker, LinkInfo } from '../src/worker-protocol.js';

function manifest(network: ManifestInput['network'], seed: number): Manifest {
  return parseManifest({
    problem: { kind: 'bilinear', d: 30, M: 6, lambda: 0.1 },
    method: { name: 'masha1', gamma: 0.4 },
    compressors: { device: 'dither:p=2,s=8' },
    stop: { iterations: 2_000, target: 1e-6 },
    network,
    seed,
  });
}

class Router {
  readonly peers = new Map<string, TabPeer>();
  readonly status = new Map<string, PeerStatus>();
  /** Frames each tab sent on the tree protocol. */
  readonly relayed = new Map<string, number>();
  private readonly bcast: string;
  private readonly statusT: string;

  constructor(readonly announcement: RunAnnouncement) {
    this.bcast = broadcastTopic(announcement.runId);
    this.statusT = statusTopic(announcement.runId);
  }

  add(label: string, share = 1): TabPeer {
    // A real Ed25519 identity per tab (the engine signs with it; peers check it by peer id).
    const secretKey = Uint8Array.from(sha256Hex(label).match(/../g) as string[], (h) => parseInt(h, 16));
    const id = peerIdOfEd25519Key(ed25519PublicKey(secretKey));
    const peer = new TabPeer({
      self: id,
      secretKey,
      announcement: this.announcement,
      maxFrameBytes: 64 * 1024,
      signedGossip: true,
      post: (msg) => this.route(id, msg),
      cpuShare: share,
      keepRecords: true,
      warmup: { minMs: 50, maxMs: 2_000 },
    });
    this.peers.set(id, peer);
    for (const [other, p] of this.peers)
      if (other !== id)
        setTimeout(() => {
          peer.peer('connected', other);
          p.peer('connected', id);
        }, 0);
    this.tick();
    peer.start();
    return peer;
  }

  /** What the page's main thread sends every 500 ms: here, how many peers follow the run's topic. */
  tick(): void {
    const info: LinkInfo = {
      wireSent: 0,
      wireReceived: 0,
      refused: 0,
      sendFailed: 0,
      publishFailed: 0,
      relayFailed: 0,
      uplinkStreamBytes: 0,
      gossipStreamBytes: 0,
      treeStreamBytes: 0,
      webrtcLinks: 0,
      topicPeers: { [this.bcast]: this.peers.size - 1 },
    };
    for (const p of this.peers.values()) p.update(info);
  }

  private route(from: string, msg: FromWorker): void {
    switch (msg.type) {
      case 'send': {
        const to = this.peers.get(msg.peer);
        for (const f of msg.frames) {
          const copy = f.slice(0);
          setTimeout(() => to?.receive('direct', from, new Uint8Array(copy)), 0);
        }
        return;
      }
      case 'relay': {
        this.relayed.set(from, (this.relayed.get(from) ?? 0) + msg.frames.length);
        const to = this.peers.get(msg.peer);
        for (const f of msg.frames) {
          const copy = f.slice(0);
          setTimeout(() => to?.receive('tree', from, new Uint8Array(copy)), 0);
        }
        return;
      }
      case 'publish':
        for (const f of msg.frames) {
          if (msg.topic === this.statusT) {
            this.status.set(from, decodeStatus(new Uint8Array(f)));
            continue;
          }
          expect(msg.topic).toBe(this.bcast);
          for (const [id, p] of this.peers) {
            if (id === from) continue;
            const copy = f.slice(0);
            setTimeout(() => p.receive('gossip', from, new Uint8Array(copy)), 0);
          }
        }
        return;
      case 'subscribe':
      case 'live':
      case 'records':
      case 'left':
        return;
      default: {
        const never: never = msg;
        throw new Error(String(never));
      }
    }
  }

  async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!cond()) {
      if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    for (const p of this.peers.values()) p.leave();
  }
}

function announce(m: Manifest): RunAnnouncement {
  return { runId: runIdOf(m), manifest: m, files: {}, state: 'open', startedAt: 0, launcher: '12D3KooWLauncher' };
}

describe("tab peers (the engine host with the worker's ports)", () => {
  it("three tabs solve a bilinear run to bitwise the reference runner's iterate", async () => {
    const m = manifest({ heartbeatMs: 200, leaseMs: 4_000, roundDeadlineMs: 4_000, quorum: 1, minPeers: 3 }, 5);
    const router = new Router(announce(m));
    try {
      const tabs = ['12D3KooWTabA', '12D3KooWTabB', '12D3KooWTabC'].map((id) => router.add(id));
      await router.until(() => tabs.every((t) => t.view().state === 'done'), 60_000, 'every tab done');
      const run = runFromManifest(m);
      const ref = runReference({ problem: run.problem, method: run.method, iterations: 2_000, target: 1e-6 });
      expect(ref.reached).toBe(true);
      for (const t of tabs) {
        const e = t.engine!;
        expect(e.replica.iteration).toBe(ref.iterations);
        expect([...run.ctx.method.iterate(e.replica)]).toEqual([...ref.z]);
        // Every tab answered for its shards in every round (quorum 1: all shards, every round).
        expect(t.view().roundsContributed).toBe(e.committedRound);
        expect(t.view().shardsHeld.length).toBe(2);
      }
      // Status reports like a Node volunteer's: done, on the same digest, one aggregator.
      await router.until(() => [...router.status.values()].filter((s) => s.done === 'target').length === 3, 5_000, 'final reports');
      const reports = [...router.status.values()];
      expect(new Set(reports.map((s) => s.digest)).size).toBe(1);
      expect(reports.filter((s) => s.isAggregator).length).toBe(1);
      expect(reports.reduce((n, s) => n + s.heldCount, 0)).toBe(6);
    } finally {
      router.stop();
    }
  }, 90_000);

  it('large commits travel down the relay trees between tabs', async () => {
    const m = parseManifest({
      problem: { kind: 'quadratic', d: 30_000, n: 4, seed: 2 },
      method: { name: 'masha1', gamma: 0.05 },
      compressors: { device: 'randk:0.01', server: 'identity' },
      stop: { iterations: 4 },
      network: { frameBytes: 16_384, heartbeatMs: 200, leaseMs: 4_000, roundDeadlineMs: 4_000, quorum: 1, minPeers: 4 },
      seed: 4,
    });
    const router = new Router(announce(m));
    try {
      const tabs = ['12D3KooWTabA', '12D3KooWTabB', '12D3KooWTabC', '12D3KooWTabD'].map((id) => router.add(id));
      await router.until(() => tabs.every((t) => t.view().state === 'done'), 60_000, 'every tab done');
      expect(new Set(tabs.map((t) => t.engine!.digestHex)).size).toBe(1);
      const records = tabs.flatMap((t) => t.takeRecords());
      const originated = records.filter((r) => r.ev === 'tree' && r.what === 'originated');
      expect(originated.length).toBeGreaterThan(0);
      // Every commit sent down the trees reached every other tab whole, through the tree protocol.
      const complete = records.filter((r) => r.ev === 'tree' && r.what === 'complete');
      expect(complete.length).toBe(3 * originated.length);
      // And the other tabs relayed to each other (not only the aggregator tab to each).
      const aggregator = originated[0].peer as string;
      const relays = [...router.relayed.entries()].filter(([id, n]) => id !== aggregator && n > 0);
      expect(relays.length).toBe(3);
    } finally {
      router.stop();
    }
  }, 90_000);

  it('a paused tab gives its shards up and takes shards again after resuming', async () => {
    const m = manifest({ heartbeatMs: 100, leaseMs: 600, roundDeadlineMs: 300, quorum: 0.5, minPeers: 1 }, 6);
    const router = new Router(announce({ ...m, stop: { ...m.stop, target: 1e-9 } }));
    try {
      const tabs = ['12D3KooWTabA', '12D3KooWTabB', '12D3KooWTabC'].map((id, i) => router.add(id, i === 2 ? 0.5 : 1));
      const round = (): number => Math.max(...tabs.map((t) => t.engine?.committedRound ?? 0));
      // Pause a tab that holds shards and is not the aggregator (pausing the aggregator is a failover).
      const candidate = (): TabPeer | undefined => tabs.find((t) => !t.view().isAggregator && t.view().shardsHeld.length > 0);
      await router.until(() => round() >= 30 && candidate() !== undefined, 30_000, 'round 30 and a volunteer holding shards');
      const paused = candidate()!;
      const others = tabs.filter((t) => t !== paused);
      paused.pause();
      expect(paused.view().state).toBe('paused');
      expect(paused.engine).toBeNull();
      const uplinks = paused.view().uplinksSent;
      const contributed = paused.view().roundsContributed;
      await router.until(() => others.reduce((n, t) => n + t.view().shardsHeld.length, 0) === 6, 10_000, 'the others holding every shard');
      const r0 = round();
      await router.until(() => round() >= r0 + 20, 20_000, '20 more rounds while paused');
      expect(paused.view().uplinksSent).toBe(uplinks);
      expect(paused.view().roundsContributed).toBe(contributed);
      paused.resume();
      expect(paused.view().hosts).toBe(2);
      await router.until(() => paused.view().roundsContributed > contributed, 20_000, 'contributions after resuming');
      expect(paused.view().uplinksSent).toBeGreaterThan(uplinks);
      await router.until(() => tabs.every((t) => t.view().state === 'done'), 60_000, 'every tab done');
      const digests = new Set(tabs.map((t) => t.engine!.digestHex));
      expect(digests.size).toBe(1);
      expect(tabs[0].engine!.relDist()).toBeLessThanOrEqual(1e-9);
    } finally {
      router.stop();
    }
  }, 120_000);
});

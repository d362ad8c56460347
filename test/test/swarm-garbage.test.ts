/**
 * A hostile peer on a real swarm. While 4 volunteers solve a run, a rogue node (in this test
 * process, with a 128 KiB frame size so it can even send what the others refuse to) keeps
 * publishing on the run's topics: random bytes, frames above the 64 KiB frame size, frames
 * declaring messages larger than the run allows, well-formed messages of a stale epoch, frames
 * that claim another peer as their sender, frames of another run, and junk on the status and run
 * announcement topics. The volunteers must ignore all of it and count it, and the run must
 * complete with every peer on the same state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSwarm, RunDirectory, type SwarmTransport } from '@masha/node';
import { RUNS_TOPIC, statusTopic, broadcastTopic } from '@masha/protocol/swarm';
import { encodeFrames, ENGINE_CODEC, MSG } from '@masha/protocol';
import { encodeAnnounce } from '@masha/protocol/engine';
import { Rng } from '@masha/protocol/rng';
import { checkLineage, testManifest, TestSwarm } from './swarm-helpers.js';

const PEERS = 4;

function junk(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

describe("a peer publishing garbage on the run's topics", () => {
  const swarm = new TestSwarm();
  let rogue: SwarmTransport | null = null;

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await rogue?.close().catch(() => {});
    await swarm.stop();
  });

  it('is ignored and counted, and the run completes', async () => {
    const { path, runId } = swarm.writeManifest(testManifest());
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);

    const r = await connectSwarm({ relays: [swarm.relayAddr], node: { maxFrameBytes: 128 * 1024 } });
    rogue = r;
    const directory = new RunDirectory(r).start();
    await directory.waitFor(
      (a) => a.runId === runId,
      240_000,
      () => new Error('the run was not announced'),
    );
    const bcast = broadcastTopic(runId);
    const status = statusTopic(runId);
    r.subscribe(bcast, () => {});
    r.subscribe(status, () => {});
    r.subscribe(RUNS_TOPIC, () => {});
    await swarm.waitFor(() => swarm.round() >= 5, 240_000, 'the run to start');

    const rng = new Rng(2024, 5, 7, 11);
    const me = r.self;
    const victimId = swarm.volunteers.find((v) => v.peerId !== null)?.peerId as string;
    const otherRun = 'ab'.repeat(32);
    const sent: Record<string, number> = {};
    const publish = (what: string, topic: string, frame: Uint8Array): void => {
      sent[what] = (sent[what] ?? 0) + 1;
      r.publish(topic, frame).catch(() => {});
    };
    let ended = false;
    void launcher.child.exited.then(() => {
      ended = true;
    });
    let n = 0;
    while (!ended && n < 400) {
      n++;
      const round = swarm.round();
      // Random bytes.
      publish('garbage', bcast, junk(rng, 1 + rng.nextInt(2000)));
      // Above the frame size: refused by the gossip validator of whoever receives it (relay or volunteer), never delivered or forwarded.
      if (n % 4 === 0) publish('oversized-frame', bcast, junk(rng, 100 * 1024));
      // A valid first frame of a COMMIT far larger than the run allows.
      publish(
        'oversized-message',
        bcast,
        encodeFrames(
          { kind: MSG.COMMIT, runId, epoch: 1_000, round: round + 1, phase: 1, sender: me, codec: ENGINE_CODEC, body: junk(rng, 300_000) },
          { frameSize: 64 * 1024 },
        )[0],
      );
      // A well-formed ANNOUNCE of epoch 0: stale.
      const announce = encodeAnnounce({ round, commitEpoch: 0, digest: junk(rng, 32), flags: 0, successors: [], succession: null, chain: null });
      publish(
        'stale-epoch',
        bcast,
        encodeFrames({ kind: MSG.ANNOUNCE, runId, epoch: 0, round, phase: 0, sender: me, codec: ENGINE_CODEC, body: announce }, { messageId: n })[0],
      );
      // A COMMIT that claims to come from a volunteer (the gossip author is us).
      publish(
        'forged-sender',
        bcast,
        encodeFrames(
          { kind: MSG.COMMIT, runId, epoch: 1_000, round: round + 1, phase: 1, sender: victimId, codec: ENGINE_CODEC, body: junk(rng, 64) },
          { messageId: n },
        )[0],
      );
      // Another run's frame on this run's topic.
      publish(
        'wrong-run',
        bcast,
        encodeFrames({ kind: MSG.ANNOUNCE, runId: otherRun, epoch: 5, round, phase: 0, sender: me, codec: ENGINE_CODEC, body: announce }, { messageId: n })[0],
      );
      // Junk status reports and announcements.
      publish('status-junk', status, new TextEncoder().encode(JSON.stringify({ v: 1, runId, seq: n, round: 1e9 })));
      publish('runs-junk', RUNS_TOPIC, junk(rng, 500));
      await new Promise((res) => setTimeout(res, 100));
    }
    directory.stop();

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.consistent).toBe(true);
    expect(summary.peersSeen).toBe(PEERS); // the rogue never counted as a volunteer
    expect(summary.rejectedFrames).toBeGreaterThan(0);
    expect(summary.staleMessages).toBeGreaterThan(0);

    await Promise.all(swarm.volunteers.map((v) => v.child.exited));
    const total = (name: string): number => swarm.volunteers.reduce((s, v) => s + (v.exit?.status.counters[name] ?? 0), 0);
    for (const v of swarm.volunteers) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }
    // Bad bytes, too large, forged sender, wrong run: rejected by the topic validators (counted by
    // the transport) before the hosts see them.
    expect(total('net-frames-refused') + total('net-transport-refused')).toBeGreaterThan(0);
    expect(total('stale-epoch')).toBeGreaterThan(0);
    // Refusal reasons as the volunteers logged them.
    const logs = swarm.peerLogs(runId);
    const reasons = new Set(
      [...logs.values()]
        .flat()
        .filter((e) => e.ev === 'reject')
        .map((e) => e.reason as string),
    );
    for (const reason of ['bad-magic', 'message-too-large', 'sender-mismatch', 'wrong-run']) expect(reasons).toContain(reason);
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);
    expect(n).toBeGreaterThan(3);
    expect(sent.garbage).toBe(n);
  });
});

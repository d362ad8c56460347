/**
 * A relay and 4 peers on loopback: mesh formation, 1 MiB broadcasts in 64 KiB frames, direct
 * uplink streams, the relay trees' channel (frames forwarded peer to peer on their own protocol),
 * refusal of oversized input, and departure of a peer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetError, TREE_PROTOCOL, UPLINK_PROTOCOL, createMashaNode, createSwarmTransport } from '../src/net/index.js';
import type { SwarmTransport } from '../src/net/index.js';
import { FAST, FrameCollector, randomBytes, sha256, startSwarm, toFrames, waitFor } from './net-helpers.js';
import type { TestSwarm } from './net-helpers.js';

const TOPIC = 'masha/test-run/bcast';
const FRAME = 64 * 1024;
const MIB = 1024 * 1024;

// Timeouts are generous: on a loaded 2-core CI box the whole swarm shares one event loop.
describe('swarm of a relay and 4 peers', { timeout: 45_000 }, () => {
  let swarm: TestSwarm;
  let peers: SwarmTransport[];
  const collectors: FrameCollector[] = [];

  beforeAll(async () => {
    swarm = await startSwarm(4);
    peers = swarm.peers;
    peers.forEach((p, i) => {
      collectors[i] = new FrameCollector();
      p.subscribe(TOPIC, (_from, frame) => collectors[i].add(frame));
    });
    // A mesh, not a star: every peer is connected to the relay and to every other peer, and knows
    // all of them (and the relay, which follows masha/ topics) as subscribers of the topic.
    await waitFor(() => peers.every((p) => p.connectedPeers().length === 4 && p.topicPeers(TOPIC).length === 4), 30_000, 'the gossipsub mesh to form');
  }, 45_000);

  afterAll(async () => {
    await swarm?.stop();
  }, 30_000);

  it('relay follows the run topic and every peer receives a 1 MiB broadcast in 64 KiB frames', async () => {
    expect(swarm.relay.topics()).toContain(TOPIC);
    const payload = randomBytes(MIB, 11);
    const frames = toFrames(payload, FRAME);
    expect(frames.length).toBe(17);
    expect(Math.max(...frames.map((f) => f.byteLength))).toBe(FRAME);
    for (const f of frames) await peers[0].publish(TOPIC, f);
    await waitFor(() => collectors.slice(1).every((c) => c.complete), 30_000, 'all peers to reassemble the broadcast');
    for (const c of collectors.slice(1)) expect(sha256(c.payload())).toBe(sha256(payload));
    // The publisher does not hear its own broadcast.
    expect(collectors[0].complete).toBe(false);
    const c0 = peers[0].counters();
    expect(c0.published[TOPIC]).toEqual({ frames: 17, bytes: MIB + 17 * 8 });
    for (const p of peers.slice(1)) expect(p.counters().delivered[TOPIC]).toEqual({ frames: 17, bytes: MIB + 17 * 8 });
    // Wire bytes really left the publisher: at least one copy of the payload, counted on the gossip protocol.
    const meshsub = Object.entries(c0.wire.protocols).find(([name]) => name.startsWith('/meshsub/'))?.[1];
    expect(meshsub!.sent).toBeGreaterThan(MIB);
    expect(c0.wire.connections.sent).toBeGreaterThanOrEqual(meshsub!.sent);
  });

  it('refuses to publish or send a frame above the frame size', async () => {
    const big = new Uint8Array(FRAME + 1);
    await expect(peers[0].publish(TOPIC, big)).rejects.toMatchObject({ code: 'frame-too-large' });
    await expect(peers[0].sendDirect(peers[1].self, big)).rejects.toBeInstanceOf(NetError);
    await expect(peers[0].publish(TOPIC, new Uint8Array(0))).rejects.toMatchObject({ code: 'empty-frame' });
  });

  it('rejects and counts gossip frames above the frame size sent by a misconfigured peer', async () => {
    // A peer built with a 128 KiB frame size publishes a 100 KiB frame, then a valid one.
    const rogue = await createSwarmTransport(await createMashaNode({ ...FAST, maxFrameBytes: 128 * 1024, bootstrap: swarm.relay.multiaddrs }));
    try {
      const seen: number[] = [];
      const off = peers.map((p) => p.subscribe(TOPIC, (_f, frame) => seen.push(frame.byteLength)));
      rogue.subscribe(TOPIC, () => {});
      await waitFor(() => rogue.topicPeers(TOPIC).length >= 2, 20_000, 'the rogue peer to join the topic');
      const before = peers.reduce((s, p) => s + p.counters().rejected.gossipInvalid, 0) + swarm.relay.rejectedFrames();
      await rogue.publish(TOPIC, randomBytes(100 * 1024, 3));
      await waitFor(
        () => peers.reduce((s, p) => s + p.counters().rejected.gossipInvalid, 0) + swarm.relay.rejectedFrames() > before,
        15_000,
        'an honest node to reject the oversized frame',
      );
      await rogue.publish(TOPIC, randomBytes(1000, 4));
      await waitFor(() => seen.filter((n) => n === 1000).length === 4, 15_000, 'the valid frame to reach the 4 peers');
      expect(seen.filter((n) => n > FRAME)).toEqual([]);
      off.forEach((f) => f());
    } finally {
      await rogue.close();
    }
  });

  it('delivers direct uplink frames to one peer, per sender in order and intact', async () => {
    const aggregator = peers[0];
    const got = new Map<string, Uint8Array[]>();
    const off = aggregator.onDirect((from, frame) => {
      const list = got.get(from) ?? [];
      list.push(frame.slice());
      got.set(from, list);
    });
    const sent = new Map<string, Uint8Array[]>();
    await Promise.all(
      peers.slice(1).map(async (p, i) => {
        const frames = toFrames(randomBytes(MIB, 100 + i), FRAME);
        sent.set(p.self, frames);
        for (const f of frames) await p.sendDirect(aggregator.self, f);
      }),
    );
    await waitFor(() => [...got.values()].reduce((s, l) => s + l.length, 0) === 3 * 17, 20_000, 'all uplink frames');
    for (const [from, frames] of sent) {
      const rx = got.get(from)!;
      expect(rx.length).toBe(frames.length);
      rx.forEach((f, k) => expect(sha256(f)).toBe(sha256(frames[k])));
    }
    const c = aggregator.counters();
    expect(c.directReceived.frames).toBe(51);
    expect(c.directReceived.bytes).toBe(3 * (MIB + 17 * 8));
    expect(c.wire.protocols[UPLINK_PROTOCOL].received).toBe(3 * (MIB + 17 * 8) + 51 * 4);
    expect(peers[1].counters().directSent).toEqual({ frames: 17, bytes: MIB + 17 * 8 });
    off();
  });

  it('relays frames on the tree channel, apart from the uplinks: 1 MiB forwarded frame by frame along a chain of peers', async () => {
    // peers[1] → peers[2] → peers[3]: peers[2] forwards each frame as it arrives.
    const [a, b, c] = [peers[1], peers[2], peers[3]];
    const atC: { from: string; frame: Uint8Array }[] = [];
    const direct: Uint8Array[] = [];
    const offs = [
      b.onTree((from, frame) => {
        expect(from).toBe(a.self);
        void b.sendTree(c.self, frame.slice());
      }),
      c.onTree((from, frame) => atC.push({ from, frame: frame.slice() })),
      c.onDirect((_from, frame) => direct.push(frame)),
    ];
    const frames = toFrames(randomBytes(MIB, 7), FRAME);
    const before = c.counters().treeReceived.frames;
    // An uplink from a to c at the same time travels on its own stream.
    const uplink = a.sendDirect(c.self, new Uint8Array([9, 9, 9]));
    for (const f of frames) await a.sendTree(b.self, f);
    await uplink;
    await waitFor(() => atC.length === frames.length && direct.length === 1, 20_000, 'the relayed frames at the end of the chain');
    atC.forEach((r, k) => {
      expect(r.from).toBe(b.self);
      expect(sha256(r.frame)).toBe(sha256(frames[k]));
    });
    expect([...direct[0]]).toEqual([9, 9, 9]);
    expect(c.counters().treeReceived.frames - before).toBe(frames.length);
    expect(a.counters().treeSent.frames).toBeGreaterThanOrEqual(frames.length);
    expect(c.counters().wire.protocols[TREE_PROTOCOL].received).toBeGreaterThanOrEqual(MIB);
    // Per peer and kind of connection: loopback TCP links are `direct`.
    const cFromB = c.counters().treeLinks.filter((l) => l.peer === b.self);
    expect(cFromB.map((l) => l.link)).toEqual(['direct']);
    expect(cFromB[0].received.frames).toBeGreaterThanOrEqual(frames.length);
    expect(cFromB[0].received.bytes).toBeGreaterThanOrEqual(MIB);
    const aToB = a.counters().treeLinks.find((l) => l.peer === b.self && l.link === 'direct');
    expect(aToB?.sent.frames).toBeGreaterThanOrEqual(frames.length);
    await expect(a.sendTree(b.self, new Uint8Array(FRAME + 1))).rejects.toBeInstanceOf(NetError);
    for (const off of offs) off();
  });

  it('resets an uplink stream that announces an oversized frame, counts it, and keeps serving others', async () => {
    const victim = peers[0];
    const attacker = peers[1].node.libp2p;
    const before = victim.counters().rejected.oversized;
    const received: Uint8Array[] = [];
    const off = victim.onDirect((_f, frame) => received.push(frame.slice()));
    const stream = await attacker.dialProtocol(victim.node.libp2p.peerId, UPLINK_PROTOCOL);
    const closed = new Promise<void>((resolve) => stream.addEventListener('close', () => resolve()));
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, FRAME + 1, false);
    stream.send(header);
    stream.send(new Uint8Array(1000)); // the start of the announced body
    await closed; // the victim reset the stream
    expect(['reset', 'aborted', 'closed']).toContain(stream.status);
    await waitFor(() => victim.counters().rejected.oversized === before + 1, 15_000, 'the oversized counter');
    // Frames before the bad header were none; nothing of the bad stream was delivered.
    expect(received).toEqual([]);
    // The same peer, through the transport (a fresh stream), and another peer still get through.
    await peers[1].sendDirect(victim.self, new Uint8Array([1, 2, 3]));
    await peers[2].sendDirect(victim.self, new Uint8Array([4, 5]));
    await waitFor(() => received.length === 2, 15_000, 'valid frames after the reset');
    expect(received.map((f) => [...f]).sort((a, b) => a.length - b.length)).toEqual([
      [4, 5],
      [1, 2, 3],
    ]);
    off();
  });

  it('sees a peer that stops as disconnected', async () => {
    const leaving = peers[3];
    const id = leaving.self;
    const seen = new Set<number>();
    const offs = peers.slice(0, 3).map((p, i) =>
      p.onPeer((kind, peer) => {
        if (kind === 'disconnected' && peer === id) seen.add(i);
      }),
    );
    await leaving.close();
    await waitFor(() => seen.size === 3, 20_000, 'every remaining peer to see the departure');
    for (const p of peers.slice(0, 3)) {
      expect(p.connectedPeers()).not.toContain(id);
    }
    await waitFor(() => peers.slice(0, 3).every((p) => !p.topicPeers(TOPIC).includes(id)), 15_000, 'topic membership to drop the peer');
    offs.forEach((f) => f());
  });
});

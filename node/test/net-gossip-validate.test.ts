/**
 * Gossip validation on a real loopback swarm (a relay, 3 honest peers, a rogue): on a run's
 * broadcast topic the topic validators reject random bytes, frames of another run, frames of a
 * kind that does not travel on the topic (an UPLINK), frames naming a sender other than their
 * signed author, and status reports of another run — so none of it is delivered or forwarded,
 * it is counted by reason, and gossipsub's score of the rogue drops below zero at the nodes it
 * sent it to. A valid ANNOUNCE from the same peer is delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrames, ENGINE_CODEC, MSG } from '@masha/protocol';
import { encodeAnnounce } from '@masha/protocol/engine';
import { broadcastTopic, statusTopic } from '@masha/protocol/swarm';
import { createMashaNode, createSwarmTransport, gossipScore } from '../src/net/index.js';
import type { SwarmTransport } from '../src/net/index.js';
import { FAST, randomBytes, startSwarm, waitFor } from './net-helpers.js';
import type { TestSwarm } from './net-helpers.js';

const RUN = 'c3'.repeat(32);
const OTHER_RUN = 'ab'.repeat(32);
const TOPIC = broadcastTopic(RUN);

describe("gossip validation of a run's topics", { timeout: 60_000 }, () => {
  let swarm: TestSwarm;
  let rogue: SwarmTransport;
  const delivered: Uint8Array[][] = [];

  beforeAll(async () => {
    swarm = await startSwarm(3);
    swarm.peers.forEach((p, i) => {
      delivered[i] = [];
      p.subscribe(TOPIC, (_from, frame) => delivered[i].push(frame.slice()));
      p.subscribe(statusTopic(RUN), () => {});
    });
    rogue = await createSwarmTransport(await createMashaNode({ ...FAST, bootstrap: swarm.relay.multiaddrs }));
    rogue.subscribe(TOPIC, () => {});
    rogue.subscribe(statusTopic(RUN), () => {});
    await waitFor(() => rogue.topicPeers(TOPIC).length >= 3, 30_000, 'the rogue to join the topic');
  }, 60_000);

  afterAll(async () => {
    await rogue?.close();
    await swarm?.stop();
  }, 30_000);

  it('rejects invalid frames (not delivered, counted by reason, the sender penalised) and delivers valid ones', async () => {
    const me = rogue.self;
    const victim = swarm.peers[0].self;
    const announce = encodeAnnounce({ round: 3, commitEpoch: 1, digest: new Uint8Array(32), flags: 0, successors: [], succession: null, chain: null });
    const valid = encodeFrames(
      { kind: MSG.ANNOUNCE, runId: RUN, epoch: 1, round: 3, phase: 0, sender: me, codec: ENGINE_CODEC, body: announce },
      { messageId: 1 },
    )[0];
    await rogue.publish(TOPIC, valid);
    await waitFor(() => delivered.every((d) => d.length >= 1), 15_000, 'the valid ANNOUNCE to reach every peer');

    const junk: Array<[string, Uint8Array]> = [
      ['bad-magic', randomBytes(700, 1)],
      [
        'wrong-run',
        encodeFrames(
          { kind: MSG.ANNOUNCE, runId: OTHER_RUN, epoch: 1, round: 3, phase: 0, sender: me, codec: ENGINE_CODEC, body: announce },
          { messageId: 2 },
        )[0],
      ],
      [
        'wrong-topic',
        encodeFrames(
          { kind: MSG.UPLINK, runId: RUN, epoch: 1, round: 3, phase: 0, sender: me, codec: ENGINE_CODEC, body: randomBytes(64, 2) },
          { messageId: 3 },
        )[0],
      ],
      [
        'sender-mismatch',
        encodeFrames(
          { kind: MSG.COMMIT, runId: RUN, epoch: 1, round: 4, phase: 0, sender: victim, codec: ENGINE_CODEC, body: randomBytes(64, 3) },
          { messageId: 4 },
        )[0],
      ],
    ];
    for (const [, frame] of junk) await rogue.publish(TOPIC, frame);
    await rogue.publish(statusTopic(RUN), new TextEncoder().encode(JSON.stringify({ v: 1, runId: OTHER_RUN })));

    const reasons = (): Record<string, number> => {
      const out: Record<string, number> = { ...swarm.relay.rejectedByReason() };
      for (const p of swarm.peers) for (const [k, v] of Object.entries(p.counters().rejected.gossip)) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    await waitFor(
      () => junk.every(([r]) => (reasons()[r] ?? 0) > 0) && (reasons()['bad-status'] ?? 0) > 0,
      20_000,
      'every kind of junk to be rejected somewhere',
    );
    await new Promise((r) => setTimeout(r, 1_000));
    // Nothing but the valid frame was delivered, anywhere.
    for (const d of delivered) {
      for (const f of d) expect(decodeFrame(f).kind).toBe(MSG.ANNOUNCE);
      expect(d.map((f) => decodeFrame(f).runId)).toEqual(d.map(() => RUN));
    }
    // The nodes that took the junk from the rogue itself score it below zero.
    const scores = [swarm.relay.node, ...swarm.peers.map((p) => p.node)].map((n) => gossipScore(n.libp2p.services.pubsub, me));
    expect(Math.min(...scores)).toBeLessThan(0);
    console.log(
      `rejected by reason: ${JSON.stringify(reasons())}; the rogue's score at the relay and the 3 peers: ${scores.map((s) => s.toFixed(1)).join(', ')}`,
    );
  });
});

/**
 * Attacks on the identity and authority of a real swarm (issue 14), across libp2p: while 4
 * volunteers solve a launcher-signed run, a rogue node in this test process (its own libp2p key,
 * so whatever it signs it signs as itself) keeps
 *   - publishing "finished" announcements of the run: signed by its own key, and unsigned;
 *   - claiming the aggregator's role: ANNOUNCEs at the next epoch and at 2^32 − 1 with certificate
 *     chains it made up;
 *   - sending every volunteer unsolicited REPLAYs of a commit it signed, extending their state;
 *   - telling the aggregator of a "better version" (heartbeat) and answering any state request with
 *     a forged snapshot whose digest matches its own vectors.
 * Before the defences any one of these ended or derailed the run (volunteers ended "finished", took
 * the rogue as aggregator, crashed at 2^32 − 1, or installed its state). Now the run must reach its
 * target with every volunteer done:target on the launcher's digest, never following the rogue, and
 * the refusals must show in the volunteers' logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSwarm, NodeIdentity, RunDirectory, type SwarmTransport } from '@masha/node';
import { broadcastTopic, encodeAnnouncement, RUNS_TOPIC } from '@masha/protocol/swarm';
import { encodeFrames, ENGINE_CODEC, MSG, type Manifest } from '@masha/protocol';
import { AN_GATHER, decodeStateRequest, encodeAnnounce, encodeCommit, encodeHeartbeat, encodeState, replicaDigest, vectorNames } from '@masha/protocol/engine';
import { bodyHash, commitStatement, encodeChain, LINK_SUCC, successionStatement } from '@masha/protocol/trust';
import { runFromManifest } from '@masha/protocol';
import { decodeFrame, Reassembler } from '@masha/protocol';
import { checkLineage, testManifest, TestSwarm } from './swarm-helpers.js';

const PEERS = 4;

describe("a rogue peer attacking the run's identity and authority", () => {
  const swarm = new TestSwarm();
  let rogue: SwarmTransport | null = null;

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await rogue?.close().catch(() => {});
    await swarm.stop();
  });

  it("is refused at every step, and the run completes on the launcher's lineage", async () => {
    const { path, runId } = swarm.writeManifest(testManifest());
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);

    const r = await connectSwarm({ relays: [swarm.relayAddr] });
    rogue = r;
    const me = r.self;
    const identity = new NodeIdentity(r.node.privateKey.raw);
    const directory = new RunDirectory(r).start();
    const announced = await directory.waitFor(
      (a) => a.runId === runId,
      240_000,
      () => new Error('the run was not announced'),
    );
    const manifest: Manifest = announced.manifest;
    const run = runFromManifest(manifest);
    const bcast = broadcastTopic(runId);
    r.subscribe(bcast, () => {});
    r.subscribe(RUNS_TOPIC, () => {});
    await swarm.waitFor(() => swarm.round() >= 5, 240_000, 'the run to start');

    const sent: Record<string, number> = {};
    let id = 1;
    const frames = (kind: number, epoch: number, round: number, body: Uint8Array): Uint8Array[] =>
      encodeFrames({ kind, runId, epoch, round, phase: 0, sender: me, codec: ENGINE_CODEC, body }, { messageId: id++ });
    const publish = (what: string, topic: string, fs: readonly Uint8Array[]): void => {
      sent[what] = (sent[what] ?? 0) + 1;
      for (const f of fs) r.publish(topic, f).catch(() => {});
    };
    const direct = (what: string, to: string, fs: readonly Uint8Array[]): void => {
      sent[what] = (sent[what] ?? 0) + 1;
      for (const f of fs) r.sendDirect(to, f).catch(() => {});
    };
    const FORGED = new Uint8Array(32).fill(0xee);
    const selfCert = (epoch: number, round: number, digest: Uint8Array) => {
      const statement = commitStatement(runId, epoch, round, FORGED, digest, bodyHash(new Uint8Array(1)));
      return { statement, signer: me, sig: identity.sign(statement) };
    };
    // Forged snapshots for whoever asks (the defence: nobody asks).
    const inbox = new Reassembler({ maxMessageBytes: 1 << 22 });
    let stateRequests = 0;
    r.onDirect((from, frame) => {
      try {
        const m = inbox.accept(decodeFrame(frame), performance.now(), from);
        if (m === null || m.kind !== MSG.STATE_REQUEST) return;
        stateRequests++;
        decodeStateRequest(m.body);
        const replica = run.ctx.method.initReplica(run.ctx.z0);
        for (const v of Object.values(replica.vectors)) v.fill(42);
        const round = swarm.round() + 40;
        const digest = replicaDigest(replica, round, '', vectorNames(replica));
        const body = encodeState(
          { round, commitEpoch: m.epoch, digest, iteration: round, initialized: true, nextPhase: '' },
          replica.vectors,
          run.ctx.shape,
          selfCert(m.epoch, round, digest),
        );
        direct('forged-state', from, frames(MSG.STATE, m.epoch, round, body));
      } catch {
        // ignore
      }
    });
    // Another launcher key over the same manifest: its signature cannot match the run's key.
    const otherKey = new Uint8Array(32).fill(77);

    let ended = false;
    void launcher.child.exited.then(() => {
      ended = true;
    });
    let n = 0;
    while (!ended && n < 300) {
      n++;
      const status = swarm.volunteers.find((v) => v.status !== null)?.status ?? null;
      const round = swarm.round();
      const epoch = status?.epoch ?? 1;
      const aggregator = status?.aggregator ?? null;
      // 1. Forged "finished" announcements: signed by another key, and unsigned.
      publish(
        'finished-other-key',
        RUNS_TOPIC,
        encodeAnnouncement({ manifest, files: {}, state: 'finished', startedAt: 0 }, me, id++, 64 * 1024, { secretKey: otherKey, now: () => Date.now() }),
      );
      const body = new TextEncoder().encode(
        JSON.stringify({ v: 1, manifest, files: {}, state: 'finished', startedAt: 0, seq: Date.now(), expiresAt: Date.now() + 60_000 }),
      );
      publish(
        'finished-unsigned',
        RUNS_TOPIC,
        encodeFrames({ kind: 0x80, runId, epoch: 0, round: 0, phase: 0, sender: me, codec: 2, body }, { messageId: id++ }),
      );
      // 2. Claims: the next epoch and 2^32 − 1, with a succession it signed itself.
      for (const e of [epoch + 1, 0xffffffff]) {
        const chain = encodeChain([
          {
            type: LINK_SUCC,
            epoch: Math.min(e, 0xfffffffe),
            claimant: me,
            signer: me,
            members: 4,
            successors: [me],
            sig: identity.sign(successionStatement(runId, Math.min(e, 0xfffffffe) - 1, me, 4, [me])),
          },
        ]);
        const announce = encodeAnnounce({ round: round + 5, commitEpoch: e, digest: FORGED, flags: AN_GATHER, successors: [], succession: null, chain });
        publish('claim', bcast, frames(MSG.ANNOUNCE, e, round + 5, announce));
      }
      // 3. Unsolicited REPLAYs extending a volunteer's state, signed by the rogue.
      const v = swarm.volunteers[n % PEERS];
      if (v.peerId !== null && v.status !== null) {
        const parent = Uint8Array.from(v.status.digest.match(/../g) as string[], (x) => parseInt(x, 16));
        const replay = encodeCommit(
          {
            iteration: v.status.iteration,
            phase: 'diff',
            flags: 0,
            parentDigest: parent,
            digest: FORGED,
            included: [],
            payload: null,
            successors: [],
            succession: null,
            chain: null,
            next: null,
          },
          run.ctx.shards,
          (signed) => {
            const statement = commitStatement(runId, v.status?.epoch ?? 1, (v.status?.round ?? 0) + 1, parent, FORGED, bodyHash(signed));
            return { signer: me, sig: identity.sign(statement) };
          },
        );
        direct('replay', v.peerId, frames(MSG.REPLAY, v.status.epoch, v.status.round + 1, replay));
      }
      // 4. A "better version" for the aggregator.
      if (aggregator !== null) {
        const hb = encodeHeartbeat(
          { round: round + 40, commitEpoch: epoch, digest: FORGED, flags: 0, held: [], cert: selfCert(epoch, round + 40, FORGED), token: null },
          run.ctx.shards,
        );
        direct('better-version', aggregator, frames(MSG.HEARTBEAT, epoch, round + 40, hb));
      }
      await new Promise((res) => setTimeout(res, 150));
    }
    directory.stop();

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.consistent).toBe(true);
    expect(summary.peersSeen).toBe(PEERS);

    await Promise.all(swarm.volunteers.map((v) => v.child.exited));
    for (const v of swarm.volunteers) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }
    expect(stateRequests).toBe(0);
    const logs = swarm.peerLogs(runId);
    const events = [...logs.values()].flat();
    // Never followed the rogue.
    expect(events.filter((e) => e.ev === 'election' && e.aggregator === me)).toEqual([]);
    const metric = (name: string): number => events.filter((e) => e.ev === 'metric' && e.name === name).reduce((s, e) => s + (e.value as number), 0);
    expect(metric('uncertified-epoch')).toBeGreaterThan(0);
    expect(metric('unsolicited-replay')).toBeGreaterThan(0);
    expect(metric('uncertified-version')).toBeGreaterThan(0);
    expect(metric('replay-applied')).toBe(0);
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);
    expect(n).toBeGreaterThan(3);
    expect(sent['finished-other-key']).toBe(n);
  });
});

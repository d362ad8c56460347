/**
 * Attacks on the identity and authority of a run (issue 14), in the simulator with the real
 * engines (attack-helpers.ts): each rogue below does what one peer could do to the swarm before
 * the defences, and each test fails without its defence — the run would not reach its target, or
 * its peers would end on different states, or a process would crash — and shows the run reaching
 * its target with the attacker excluded within a bounded number of rounds.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeStateRequest,
  encodeAnnounce,
  encodeCommit,
  encodeHeartbeat,
  encodeState,
  decodeCommit,
  AN_GATHER,
  MSG,
  replicaDigest,
  vectorNames,
} from '@masha/protocol/engine';
import { parseManifest, type EngineMessage } from '@masha/protocol';
import {
  commitStatement,
  bodyHash,
  encodeChain,
  genesisStatement,
  LINK_GENESIS,
  LINK_QUORUM,
  LINK_SUCC,
  successionStatement,
  suspectStatement,
  MAX_EPOCH,
} from '@masha/protocol/trust';
import { attackRun, bottomRogueId, topRogueId, type AttackRun, type RogueApi, type RogueBehaviour } from './attack-helpers.js';

const HB = 50;
const DEADLINE = 100;
const LEASE = 200;
const STALL = 5;

const manifest = parseManifest({
  problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
  method: { name: 'masha1', gamma: 0.5 },
  compressors: { device: 'randk:0.25' },
  stop: { iterations: 5000, target: 1e-6 },
  network: { heartbeatMs: HB, leaseMs: LEASE, roundDeadlineMs: DEADLINE, stallDeadlines: STALL },
  seed: 5,
});
const ids = ['p1', 'p2', 'p3', 'p4', 'p5'];
const UNTIL = 120_000;
const RUN_ID = attackRun(manifest, [], new Map(), 1).run.runId;
/** A rogue that is never elected: what it gets, it gets by forging. */
const LOW = bottomRogueId(RUN_ID, ids);

function expectReached(r: AttackRun): void {
  expect(r.errors).toEqual([]);
  const engines = r.engines();
  for (const e of engines) expect(e.snapshot().done).toBe('target');
  expect(new Set(engines.map((e) => e.digestHex)).size).toBe(1);
  for (const e of engines) expect(e.relDist() as number).toBeLessThanOrEqual(1e-6);
}

/** Epochs the honest peers followed `peer` in. */
function epochsOf(r: AttackRun, peer: string): Set<number> {
  return new Set(r.elections.filter((e) => e.aggregator === peer).map((e) => e.epoch));
}

/** A digest no lineage of the run has (the forger picks it). */
const FORGED = new Uint8Array(32).fill(0xee);

/** The rogue's signature of a commit statement it made up (it can sign only as itself). */
function selfCert(api: RogueApi, epoch: number, round: number, digest: Uint8Array) {
  const statement = commitStatement(api.run.runId, epoch, round, FORGED, digest, bodyHash(new Uint8Array(1)));
  return { statement, signer: api.id, sig: api.identity.sign(statement) };
}

describe('attacks on identity and authority (simulator, real engines)', () => {
  it('a forged STATE behind a "better version" heartbeat is never fetched nor installed', () => {
    let forged = 0;
    let stateRequests = 0;
    const rogue: RogueBehaviour = {
      everyMs: 50,
      tick(api) {
        const s = api.host.engine.snapshot();
        if (s.aggregator === null || s.aggregator === api.id) return;
        // Far ahead of everyone, with a certificate only the rogue signed (and one without any).
        for (const cert of [selfCert(api, s.epoch, s.round + 40, FORGED), null]) {
          const body = encodeHeartbeat(
            { round: s.round + 40, commitEpoch: s.epoch, digest: FORGED, flags: 0, held: [], cert, token: null },
            api.run.ctx.shards,
          );
          api.send(s.aggregator, api.message(MSG.HEARTBEAT, s.epoch, s.round + 40, body));
          forged++;
        }
      },
      received(api, msg) {
        if (msg.kind !== MSG.STATE_REQUEST) return;
        stateRequests++;
        decodeStateRequest(msg.body);
        // A consistent forgery: its digest is the SHA-256 of its own (wrong) vectors.
        const ctx = api.run.ctx;
        const replica = ctx.method.initReplica(ctx.z0);
        for (const v of Object.values(replica.vectors)) v.fill(42);
        const s = api.host.engine.snapshot();
        const round = s.round + 40;
        const digest = replicaDigest(replica, round, '', vectorNames(replica));
        const state = encodeState(
          { round, commitEpoch: s.epoch, digest, iteration: s.iteration + 20, initialized: true, nextPhase: '' },
          replica.vectors,
          ctx.shape,
          selfCert(api, s.epoch, round, digest),
        );
        api.send(msg.sender, api.message(MSG.STATE, s.epoch, round, state));
      },
    };
    const r = attackRun(manifest, ids, new Map([[LOW, rogue]]), UNTIL);
    expect(forged).toBeGreaterThan(4);
    expectReached(r);
    // Never chased: the aggregators counted the uncertified versions and asked the rogue for nothing.
    expect(r.counters.get('uncertified-version') ?? 0).toBeGreaterThan(0);
    expect(stateRequests).toBe(0);
    expect(r.counters.get('state-installed') ?? 0).toBe(0);
  });

  it('a higher-epoch takeover without a certificate is refused (fabricated GENESIS, SUCC and QUORUM links)', () => {
    let claims = 0;
    const rogue: RogueBehaviour = {
      everyMs: 60,
      tick(api) {
        const s = api.host.engine.snapshot();
        if (s.round < 2) return; // past the first epoch's claims (anyone may claim epoch 1)
        const runId = api.run.runId;
        for (const epoch of [s.epoch + 1, s.epoch + 2, s.epoch + 1000]) {
          const sig = (b: Uint8Array) => api.identity.sign(b);
          const links = [
            [{ type: LINK_GENESIS, epoch, claimant: api.id, sig: sig(genesisStatement(runId, api.id)) }],
            // Its own succession statement, as if it had been the aggregator of epoch − 1.
            [
              {
                type: LINK_SUCC,
                epoch,
                claimant: api.id,
                signer: api.id,
                members: 5,
                successors: [api.id],
                sig: sig(successionStatement(runId, epoch - 1, api.id, 5, [api.id])),
              },
            ],
            // Attestations of the real aggregator's failure "by" the honest peers — signed by the rogue.
            [
              {
                type: LINK_QUORUM,
                epoch,
                claimant: api.id,
                predecessor: s.aggregator ?? 'p1',
                succession: null,
                attestations: ['p1', 'p2', 'p3', api.id].map((attester) => ({ attester, sig: sig(suspectStatement(runId, epoch - 1, s.aggregator ?? 'p1')) })),
              },
            ],
          ] as const;
          for (const chain of links) {
            const body = encodeAnnounce({
              round: s.round + 5,
              commitEpoch: epoch,
              digest: FORGED,
              flags: AN_GATHER,
              successors: [],
              succession: null,
              chain: encodeChain(chain),
            });
            api.broadcast(api.message(MSG.ANNOUNCE, epoch, s.round + 5, body));
            claims++;
          }
        }
      },
    };
    const r = attackRun(manifest, ids, new Map([[LOW, rogue]]), UNTIL);
    expect(claims).toBeGreaterThan(9);
    expectReached(r);
    expect(epochsOf(r, LOW).size).toBe(0);
    expect(r.counters.get('uncertified-epoch') ?? 0).toBeGreaterThan(claims);
    // Epochs moved one certified step at a time (here: no failure, so one epoch).
    expect(Math.max(...r.engines().map((e) => e.snapshot().epoch))).toBeLessThan(5);
  });

  it('an ANNOUNCE at epoch 2^32 − 1 crashes no one and takes no one over', () => {
    const rogue: RogueBehaviour = {
      everyMs: 200,
      tick(api) {
        const runId = api.run.runId;
        for (const epoch of [0xffffffff, MAX_EPOCH, MAX_EPOCH - 1]) {
          const chain = encodeChain([
            {
              type: LINK_SUCC,
              epoch,
              claimant: api.id,
              signer: api.id,
              members: 1,
              successors: [api.id],
              sig: api.identity.sign(successionStatement(runId, epoch - 1, api.id, 1, [api.id])),
            },
          ]);
          const body = encodeAnnounce({ round: 1, commitEpoch: epoch, digest: FORGED, flags: 0, successors: [], succession: null, chain });
          api.broadcast(api.message(MSG.ANNOUNCE, epoch, 1, body));
        }
      },
    };
    const r = attackRun(manifest, ids, new Map([[LOW, rogue]]), UNTIL);
    expectReached(r);
    expect(epochsOf(r, LOW).size).toBe(0);
    for (const e of r.engines()) expect(e.snapshot().epoch).toBeLessThan(5);
  });

  it('a withholding aggregator that renews its lease is replaced within stallDeadlines deadlines', () => {
    const rogueId = topRogueId(RUN_ID, ids);
    let lastAnnounce: EngineMessage | null = null;
    let withheld = 0;
    const rogue: RogueBehaviour = {
      everyMs: HB,
      outgoing(api, msg) {
        if (!api.host.engine.isAggregator) return [msg];
        if (msg.kind === MSG.ANNOUNCE) lastAnnounce = msg;
        if (msg.kind === MSG.COMMIT || msg.kind === MSG.OPEN) {
          withheld++;
          return [];
        }
        return [msg];
      },
      tick(api) {
        // Keeps its lease: an ANNOUNCE every heartbeat, whatever its engine does.
        if (api.host.engine.isAggregator && lastAnnounce !== null) api.broadcast({ ...lastAnnounce });
      },
    };
    const r = attackRun(manifest, ids, new Map([[rogueId, rogue]]), UNTIL);
    expect(withheld).toBeGreaterThan(0);
    expectReached(r);
    const rogueEpochs = epochsOf(r, rogueId);
    expect(rogueEpochs.size).toBeGreaterThan(0); // it was elected…
    expect(r.counters.get('stalled-aggregator') ?? 0).toBeGreaterThan(0);
    // …and replaced: the first honest epoch after it began within stallDeadlines deadlines plus a lease and the claim.
    const firstRogue = Math.min(...r.elections.filter((e) => e.aggregator === rogueId).map((e) => e.t));
    const replaced = Math.min(...r.elections.filter((e) => e.aggregator !== rogueId && e.t > firstRogue).map((e) => e.t));
    expect(replaced - firstRogue).toBeLessThanOrEqual(STALL * DEADLINE + 2 * LEASE + 10 * HB);
  });

  it('an equivocating aggregator (two signed commits for one round) is proven, banned and replaced', () => {
    const rogueId = topRogueId(RUN_ID, ids);
    let equivocations = 0;
    let firstAt = Number.POSITIVE_INFINITY;
    const rogue: RogueBehaviour = {
      outgoing(api, msg) {
        if (msg.kind !== MSG.COMMIT || !api.host.engine.isAggregator || msg.round < 5) return [msg];
        firstAt = Math.min(firstAt, api.now());
        // A second commit of the same (epoch, round): another downlink flag, signed by the rogue.
        const ctx = api.run.ctx;
        const b = decodeCommit(msg.body, ctx.limits);
        const other = encodeCommit({ ...b, flags: b.flags ^ 1, next: b.next === null ? null : { delta: b.next.delta.toEntries() } }, ctx.shards, (signed) => {
          const statement = commitStatement(ctx.runId, msg.epoch, msg.round, b.parentDigest, b.digest, bodyHash(signed));
          return { signer: api.id, sig: api.identity.sign(statement) };
        });
        equivocations++;
        return [{ ...msg, body: other }, msg];
      },
    };
    const r = attackRun(manifest, ids, new Map([[rogueId, rogue]]), UNTIL);
    expect(equivocations).toBeGreaterThan(0);
    expectReached(r);
    expect(r.counters.get('equivocation-proven') ?? 0).toBeGreaterThanOrEqual(ids.length);
    // Banned at its first equivocation: every honest peer moved to an honest aggregator of a later
    // epoch within a lease and a claim, and applied nothing of the rogue's after the proof reached it.
    const rogueEpochs = epochsOf(r, rogueId);
    for (const p of ids) {
      const next = r.elections.find((e) => e.peer === p && e.t >= firstAt && e.aggregator !== rogueId);
      expect(next).toBeDefined();
      expect((next as { t: number }).t - firstAt).toBeLessThanOrEqual(2 * LEASE + 10 * HB);
      const late = (r.commits.get(p) ?? []).filter((c) => rogueEpochs.has(c.epoch) && c.t > firstAt + LEASE);
      expect(late).toEqual([]);
    }
  });

  it('an unsolicited REPLAY chain is never applied (nor spread)', () => {
    let sent = 0;
    let forgedUpTo = 0;
    const byPhase = new Map<string, EngineMessage>();
    const rogue: RogueBehaviour = {
      received(_api, msg) {
        if (msg.kind === MSG.COMMIT) byPhase.set(String(msg.phase), msg);
      },
      // Whenever the swarm has applied a round r, the rogue — as up to date as the best honest peer —
      // sends every peer a REPLAY of round r + 1 before the real one exists: an earlier commit of the
      // expected phase re-parented on the current state, with the digest its application really
      // gives (so no digest check catches it). Unchecked, the peers applied it and went on another
      // lineage — and when its digest ranked higher, the aggregator fetched it as a "better
      // version" and spread it.
      everyMs: 1,
      tick(api) {
        const best = api.honest().reduce((a, b) => (b.committedRound > a.committedRound ? b : a));
        const s = best.snapshot();
        if (s.round <= forgedUpTo || s.round < 3 || s.done !== null) return;
        forgedUpTo = s.round;
        const ctx = api.run.ctx;
        const phase = (best as unknown as { lineage: { expectedPhase(): string } }).lineage.expectedPhase();
        const model = [...byPhase.values()].find((m) => decodeCommit(m.body, ctx.limits).phase === phase);
        if (model === undefined) return;
        const b = decodeCommit(model.body, ctx.limits);
        const copy = { ...best.replica, vectors: Object.fromEntries(Object.entries(best.replica.vectors).map(([k, v]) => [k, v.slice()])) };
        const payload = b.payload === null ? null : ctx.method.phase(b.phase).downlink.decode(b.payload, ctx.dim);
        const next = ctx.method.deviceApply(copy, b.phase, { payload, flags: b.flags, included: b.included });
        const round = s.round + 1;
        const parent = Uint8Array.from(s.digest.match(/../g) as string[], (x) => parseInt(x, 16));
        const digest = replicaDigest(copy, round, next ?? '', vectorNames(copy));
        const body = encodeCommit(
          { ...b, iteration: best.replica.iteration, parentDigest: parent, digest, successors: [], succession: null, chain: null, next: null },
          ctx.shards,
          (signed) => {
            const statement = commitStatement(ctx.runId, s.epoch, round, parent, digest, bodyHash(signed));
            return { signer: api.id, sig: api.identity.sign(statement) };
          },
        );
        for (const p of ids) {
          api.send(p, api.message(MSG.REPLAY, s.epoch, round, body, model.phase));
          sent++;
        }
      },
    };
    const r = attackRun(manifest, ids, new Map([[LOW, rogue]]), UNTIL);
    expect(sent).toBeGreaterThan(20);
    expectReached(r);
    // Every round has one digest on every honest peer: nobody took the rogue's version of a round.
    const byRound = new Map<number, string>();
    const conflicts: number[] = [];
    for (const list of r.commits.values()) {
      for (const c of list) {
        const d = byRound.get(c.round);
        if (d === undefined) byRound.set(c.round, c.digest);
        else if (d !== c.digest) conflicts.push(c.round);
      }
    }
    expect(conflicts).toEqual([]);
    expect(r.counters.get('replay-applied') ?? 0).toBe(0);
    expect(r.counters.get('state-installed') ?? 0).toBe(0);
    expect(r.counters.get('unsolicited-replay') ?? 0).toBeGreaterThan(0);
  });
});

// Issue 14, "a ban is the whole swarm's" (protocol/src/engine/bans.ts), in the simulator with the
// real engines: a liar banned by one aggregator stays banned after that aggregator is gone (the
// next one inherits the list and never gives it a shard, nobody follows it), and a lying aggregator
// that bans honest peers loses its bans when it is proven to equivocate.
import { describe, expect, it } from 'vitest';
import { MSG, parseManifest, type EngineAction, type PeerId } from '@masha/protocol';
import { decodeCommit, decodeOpen, encodeCommit, type BodyLimits } from '@masha/protocol/engine';
import { bodyHash, commitStatement } from '@masha/protocol/trust';
import { simulate, type SimulateResult } from '../src/run/simulate.js';
import { scaled } from '../src/run/adversary.js';
import type { Trace } from '../src/trace/schema.js';
import { attackRun, topRogueId, type RogueBehaviour } from './attack-helpers.js';

describe('a liar banned by one aggregator is banned by the swarm', () => {
  const M = 10;
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 20, M, seed: 1 },
    method: { name: 'masha1' },
    stop: { iterations: 4000, target: 1e-5 },
    network: { heartbeatMs: 100, leaseMs: 400, roundDeadlineMs: 200 },
  });
  const LIAR = 'p3';
  const limits: BodyLimits = { shards: M, maxPayloadBytes: 1 << 20, allShards: Array.from({ length: M }, (_, i) => i) };

  interface Run {
    readonly result: SimulateResult;
    /** Who issued the ban, and when (simulated seconds). */
    readonly banBy: PeerId | null;
    readonly banAt: number;
    /** Aggregators honest peers followed (epoch → peer). */
    readonly followed: Map<number, PeerId>;
    /** Shards assigned to the liar by any aggregator after the ban (OPEN and COMMIT deltas). */
    readonly assignedAfterBan: number;
  }

  /** The run with `extra` trace events; `watch` sees every honest peer's actions. */
  function run(extra: Trace['events'][number][] = [], watch?: (id: PeerId, a: EngineAction) => void): Run {
    const events: Trace['events'][number][] = [];
    for (let i = 0; i < M; i++) events.push({ t: 0, event: 'join', peer: `p${i}` });
    events.push(...extra);
    let now = 0;
    let banBy: PeerId | null = null;
    let banAt = Number.POSITIVE_INFINITY;
    let assignedAfterBan = 0;
    const followed = new Map<number, PeerId>();
    const result = simulate({
      manifest,
      trace: { events, lines: events.map((_, i) => i + 1) },
      adversary: (id) => (id === LIAR ? scaled(1e6) : null),
      onIteration: (i) => {
        now = i.simSeconds;
      },
      onAction: (id, a) => {
        if (id === LIAR) return;
        watch?.(id, a);
        if (a.type === 'election') followed.set(a.epoch, a.aggregator);
        else if (a.type === 'metric' && a.name === 'ban-issued' && banBy === null) {
          banBy = id;
          banAt = now;
        } else if (a.type === 'broadcast' && banBy !== null) {
          const m = a.message;
          const delta =
            m.kind === MSG.COMMIT
              ? (decodeCommit(m.body, limits).next?.delta.toEntries() ?? [])
              : m.kind === MSG.OPEN
                ? decodeOpen(m.body, limits).delta.toEntries()
                : [];
          for (const d of delta) if (d.holder === LIAR) assignedAfterBan++;
        }
      },
    });
    return { result, banBy, banAt, followed, assignedAfterBan };
  }

  it('the aggregator that banned it crashes: the liar is never followed, never given a shard, and the run reaches its target', () => {
    const first = run();
    expect(first.banBy).not.toBeNull();
    const a = first.banBy as PeerId;
    // Every peer learned the ban from the aggregator's signed commit.
    for (const p of first.result.peers) expect(p.guard.isBanned(LIAR)).toBe(true);
    expect(first.result.counters.get('ban-learned')).toBe(M - 1);

    // The same run, with the aggregator crashing after the ban (the runs are equal until then).
    const crashAt = first.banAt + 2;
    const r = run([{ t: crashAt, event: 'crash', peer: a }]);
    expect(r.banBy).toBe(a);
    expect(r.banAt).toBeLessThan(crashAt);
    const s = r.result.summary;
    expect(s.reached, JSON.stringify(s)).toBe(true);
    expect(s.consistent).toBe(true);
    // A new aggregator took over, and it was never the liar.
    const epochs = [...r.followed.keys()];
    expect(Math.max(...epochs)).toBeGreaterThan(1);
    for (const p of r.followed.values()) expect(p).not.toBe(LIAR);
    const successor = r.followed.get(Math.max(...epochs)) as PeerId;
    expect(successor).not.toBe(a);
    // It started with the ban in its guard: the liar held no shard again, so only the first
    // aggregator ever refused its answers (refusalLimit = 3; without the list the new one gives it
    // shards and refuses three more).
    expect(r.assignedAfterBan).toBe(0);
    expect(r.result.counters.get('out-of-bound')).toBe(3);
    const next = r.result.peers.find((p) => p.id === successor);
    expect(next?.guard.banned.get(LIAR)).toBe('swarm ban');
    expect(r.result.counters.get('ban-issued')).toBe(1);
  });

  it('a peer cut off while the ban went out learns it from the REPLAY that carries it, not rounds later', () => {
    // The ban's time in the run without a partition; p8 (an honest volunteer) is cut off from just
    // before it until well after, then heals and catches up by replaying the commits it missed.
    const X = 'p8';
    const banAt = run().banAt;
    /** p8's metrics in order (ban-learned, replay-applied, state-installed). */
    const seen: string[] = [];
    const cut = run(
      [
        { t: banAt - 0.1, event: 'partition', peer: X, group: 'cut' },
        { t: banAt + 1, event: 'heal' },
      ],
      (id, a) => {
        if (id === X && a.type === 'metric' && (a.name === 'ban-learned' || a.name === 'replay-applied' || a.name === 'state-installed')) seen.push(a.name);
      },
    );
    const story = seen.join(', ');
    // Preconditions: the ban went out while p8 was cut off, and p8 caught up by replay (no snapshot).
    expect(cut.banAt).toBeGreaterThan(banAt - 0.1);
    expect(cut.banAt).toBeLessThan(banAt + 1);
    expect(seen, story).not.toContain('state-installed');
    const lastReplay = seen.lastIndexOf('replay-applied');
    expect(lastReplay, story).toBeGreaterThan(0);
    // p8 learned the ban while replaying (a replayed commit carried it) — without reading the
    // REPLAY's list it learns it only from a later live commit, after every replay.
    expect(seen.indexOf('ban-learned'), story).toBeGreaterThanOrEqual(0);
    expect(seen.indexOf('ban-learned'), story).toBeLessThan(lastReplay);
    expect(cut.result.peers.find((p) => p.id === X)?.guard.isBanned(LIAR)).toBe(true);
    expect(cut.result.summary.reached).toBe(true);
    expect(cut.result.summary.consistent).toBe(true);
  });
});

describe('a lying aggregator cannot lock honest peers out', () => {
  const HB = 100;
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 20, M: 10, seed: 1 },
    method: { name: 'masha1' },
    stop: { iterations: 4000, target: 1e-5 },
    network: { heartbeatMs: HB, leaseMs: 400, roundDeadlineMs: 200 },
  });
  const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'];
  const RUN_ID = attackRun(manifest, [], new Map(), 1).run.runId;
  const rogueId = topRogueId(RUN_ID, ids);
  const VICTIMS = ['p1', 'p2'];
  /** The rogue equivocates this long after its bans (ms), and the victim must hold shards again within AFTER of it. */
  const PROOF_AFTER = 3000;
  const AFTER = 3000;

  it('its bans spread, and are void once it is proven to equivocate: the victims take shards again', () => {
    let bannedAt = Number.POSITIVE_INFINITY;
    let provenAt = Number.POSITIVE_INFINITY;
    const samples: { t: number; held: number; banned: boolean }[] = [];
    const rogue: RogueBehaviour = {
      everyMs: HB,
      tick(api) {
        const e = api.host.engine;
        // Aggregating, it bans two honest peers through its own guard (the engine signs them into its commits).
        if (e.isAggregator && e.committedRound >= 5 && bannedAt === Number.POSITIVE_INFINITY) {
          for (const v of VICTIMS) e.guard.ban(v, 'framed');
          bannedAt = api.now();
        }
        const victim = api.honest().find((h) => h.snapshot().id === VICTIMS[0]);
        if (victim) samples.push({ t: api.now(), held: victim.snapshot().held.length, banned: api.honest().some((h) => h.guard.isBanned(VICTIMS[0])) });
      },
      outgoing(api, msg) {
        // Later, it signs two different commits for one round: a proof.
        if (msg.kind !== MSG.COMMIT || !api.host.engine.isAggregator || api.now() < bannedAt + PROOF_AFTER) return [msg];
        provenAt = Math.min(provenAt, api.now());
        const ctx = api.run.ctx;
        const b = decodeCommit(msg.body, ctx.limits);
        const other = encodeCommit({ ...b, flags: b.flags ^ 1, next: b.next === null ? null : { delta: b.next.delta.toEntries() } }, ctx.shards, (signed) => {
          const statement = commitStatement(ctx.runId, msg.epoch, msg.round, b.parentDigest, b.digest, bodyHash(signed));
          return { signer: api.id, sig: api.identity.sign(statement) };
        });
        return [{ ...msg, body: other }, msg];
      },
    };
    const r = attackRun(manifest, ids, new Map([[rogueId, rogue]]), 600_000);
    expect(r.errors).toEqual([]);
    expect(bannedAt).toBeLessThan(Number.POSITIVE_INFINITY);
    expect(provenAt).toBeLessThan(Number.POSITIVE_INFINITY);
    // 10 members: the cap is ⌊10/4⌋ = 2 bans per epoch; every honest peer (the victims too) learned both.
    expect(r.counters.get('ban-learned')).toBe(ids.length * VICTIMS.length);
    const during = samples.filter((s) => s.t > bannedAt + 2 * HB && s.t < provenAt);
    expect(during.length).toBeGreaterThan(0);
    for (const s of during) expect(s.banned).toBe(true);
    expect(during.some((s) => s.held === 0)).toBe(true);
    // Proven: every honest peer voided the rogue's ban and the victim holds shards again.
    expect(r.counters.get('equivocation-proven') ?? 0).toBeGreaterThanOrEqual(ids.length);
    expect(r.counters.get('ban-voided')).toBe(ids.length * VICTIMS.length);
    for (const e of r.engines()) for (const v of VICTIMS) expect(e.guard.isBanned(v)).toBe(false);
    const after = samples.filter((s) => s.t > provenAt + AFTER);
    expect(after.length).toBeGreaterThan(0);
    expect(after.some((s) => s.held > 0)).toBe(true);
    for (const e of r.engines()) expect(e.snapshot().done).toBe('target');
    expect(new Set(r.engines().map((e) => e.digestHex)).size).toBe(1);
  });
});

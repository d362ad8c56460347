import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { claimSpread } from '../src/engine/peer.js';
import { outranks, peerBaseHash, rendezvousWeight, topByWeight } from '../src/engine/rendezvous.js';
import { runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import { commitSequenceProblems, type Node, TestSwarm } from './engine-driver.js';

const RUN = 'ab'.repeat(32);

function best(ids: readonly string[], epoch: number, runId = RUN): string {
  let top = ids[0];
  for (const id of ids) {
    if (outranks(rendezvousWeight(peerBaseHash(runId, id), epoch), id, rendezvousWeight(peerBaseHash(runId, top), epoch), top) > 0) top = id;
  }
  return top;
}

describe('rendezvous weights', () => {
  it('topByWeight agrees with a full sort', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,12}$/), { minLength: 1, maxLength: 40 }),
        fc.nat({ max: 1000 }),
        fc.integer({ min: 1, max: 6 }),
        (ids, epoch, k) => {
          const cands = ids.map((id) => ({ id, base: peerBaseHash(RUN, id) }));
          const sorted = cands
            .map((c) => ({ id: c.id, w: rendezvousWeight(c.base, epoch) }))
            .sort((a, b) => -outranks(a.w, a.id, b.w, b.id))
            .map((c) => c.id);
          expect(topByWeight(cands, epoch, k)).toEqual(sorted.slice(0, k));
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('makes every peer the winner of about 1/N of the epochs', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `peer-${i}`);
    const wins = new Map<string, number>();
    const E = 20_000;
    for (let e = 0; e < E; e++) {
      const w = best(ids, e);
      wins.set(w, (wins.get(w) ?? 0) + 1);
    }
    // Binomial(E, 1/10): sd ≈ 42; allow 5 sd.
    for (const id of ids) expect(Math.abs((wins.get(id) ?? 0) - E / 10)).toBeLessThan(5 * Math.sqrt(E * 0.1 * 0.9));
    // Different runs order the same peers differently.
    let same = 0;
    for (let e = 0; e < 200; e++) if (best(ids, e) === best(ids, e, 'cd'.repeat(32))) same++;
    expect(same).toBeLessThan(60);
  });
});

describe('election in the engine', () => {
  const manifest = parseManifest({
    problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
    method: { name: 'masha1', gamma: 0.5 },
    compressors: { device: 'randk:0.25' },
    stop: { iterations: 5000, target: 1e-6 },
    network: { heartbeatMs: 50, leaseMs: 200, roundDeadlineMs: 100 },
    seed: 5,
  });
  const run = runFromManifest(manifest);
  const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'];
  const done = (s: TestSwarm) => () => s.alive().every((n) => n.done !== null);

  it('bootstraps with the highest-weight peer of epoch 1, without a vote', () => {
    const swarm = new TestSwarm(run);
    for (const id of ids) swarm.add(id, 0);
    swarm.run(400);
    const aggs = swarm.aggregators();
    expect(aggs.length).toBe(1);
    expect(aggs[0].id).toBe(best(ids, 1, run.runId));
    for (const n of swarm.alive()) expect(n.elections.map((e) => [e.epoch, e.aggregator])).toEqual([[1, aggs[0].id]]);
  });

  it('hands over to the top published successor, and to the next when that one is dead too', () => {
    const swarm = new TestSwarm(run);
    for (const id of ids) swarm.add(id, 0);
    swarm.run(500);
    const old = swarm.aggregators()[0];
    const others = ids.filter((id) => id !== old.id);
    const first = best(others, 2, run.runId);
    const second = best(
      others.filter((id) => id !== first),
      2,
      run.runId,
    );
    // The aggregator and its first successor die together.
    swarm.crash(old.id, 500);
    swarm.crash(first, 500);
    const lastHeard = Math.max(...swarm.alive().map((n) => n.commits.at(-1)?.t ?? 0));
    swarm.run(30_000, done(swarm));
    const now = swarm.aggregators();
    expect(now.map((n) => n.id)).toEqual([second]);
    const e = now[0].elections.find((x) => x.epoch === 2);
    // Successor i claims i claim steps (a heartbeat period) after the lease.
    expect((e?.t as number) - lastHeard).toBeGreaterThanOrEqual(200 + 50 - 2);
    expect((e?.t as number) - lastHeard).toBeLessThanOrEqual(200 + 50 + 2);
    expect(swarm.alive().every((n) => n.done === 'target')).toBe(true);
    expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
  });

  it('resolves two claimants of one epoch by weight: the lower steps down', () => {
    const swarm = new TestSwarm(run);
    for (const id of ids) swarm.add(id, 0);
    swarm.run(500);
    const old = swarm.aggregators()[0];
    const rest = ids.filter((id) => id !== old.id);
    // Split the survivors before anyone notices the aggregator is gone: each side elects its own.
    const sideB = rest.slice(0, 3);
    swarm.crash(old.id, 500);
    swarm.partition(sideB, 500);
    swarm.run(900);
    const claimants = swarm.aggregators();
    expect(claimants.length).toBe(2);
    expect(claimants.every((n) => n.elections.at(-1)?.epoch === 2)).toBe(true);
    const winner = best(
      claimants.map((n) => n.id),
      2,
      run.runId,
    );
    swarm.heal(900);
    swarm.run(30_000, done(swarm));
    expect(swarm.aggregators().map((n) => n.id)).toEqual([winner]);
    const loser = claimants.find((n) => n.id !== winner) as Node;
    expect(loser.peer.counters['step-down']).toBe(1);
    expect(swarm.alive().every((n) => n.done === 'target')).toBe(true);
    expect(new Set(swarm.alive().map((n) => n.peer.digestHex)).size).toBe(1);
    for (const n of swarm.alive()) expect(commitSequenceProblems(n).length).toBeLessThanOrEqual(1);
  });

  it('bootstraps a large swarm with one or two claims, not one per peer the first claim has not yet reached', () => {
    // 400 peers (one shard each), 40 ms between any two: a linear claim spread over one heartbeat
    // (500 ms) would leave ~1.25 ms between successive weights, so ~30 peers would claim before the
    // first claim reached them.
    const big = runFromManifest(
      parseManifest({
        problem: { kind: 'bilinear', d: 2, M: 400, seed: 3 },
        method: { name: 'masha1', gamma: 0.1 },
        compressors: { device: 'identity' },
        stop: { iterations: 2 },
        network: { heartbeatMs: 500, leaseMs: 2000, roundDeadlineMs: 2000 },
        seed: 5,
      }),
    );
    const swarm = new TestSwarm(big, { latency: () => 40 });
    const all = Array.from({ length: 400 }, (_, i) => `q${i}`);
    for (const id of all) swarm.add(id, 0);
    swarm.run(4000);
    const claimed = swarm.alive().filter((n) => n.elections.some((e) => e.aggregator === n.id));
    expect(claimed.length).toBeGreaterThanOrEqual(1);
    expect(claimed.length).toBeLessThanOrEqual(2);
    const top = best(all, 1, big.runId);
    expect(swarm.aggregators().map((n) => n.id)).toEqual([top]);
    for (const n of swarm.alive()) expect(n.elections.at(-1)).toMatchObject({ epoch: 1, aggregator: top });
  });
});

describe('claimSpread', () => {
  it('keeps the weight order, is near-linear for one shard and logarithmic in the rank for many', () => {
    const xs = Array.from({ length: 101 }, (_, i) => i / 100);
    for (const n of [1, 10, 1000]) {
      for (let i = 1; i < xs.length; i++) expect(claimSpread(xs[i], n)).toBeGreaterThan(claimSpread(xs[i - 1], n));
      expect(claimSpread(0, n)).toBe(0);
    }
    for (const x of xs) expect(Math.abs(claimSpread(x, 1) - x)).toBeLessThan(0.09);
    // The k-th of N = n peers (x ≈ k/N) claims after log2(1 + k) windows, whatever N.
    for (const N of [100, 10_000]) {
      expect(claimSpread(1 / N, N)).toBeCloseTo(1, 12);
      expect(claimSpread(3 / N, N)).toBeCloseTo(2, 12);
    }
  });
});

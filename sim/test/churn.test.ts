import { describe, expect, it } from 'vitest';
import { buildRun, keyedRng, parseManifest, SHARED, type Manifest } from '@masha/protocol';
import { MemoryLog } from '../src/des/event-log.js';
import { simulate } from '../src/run/simulate.js';
import { parseTrace, formatTrace, type TraceEvent } from '../src/trace/index.js';

/**
 * Churn scenarios on MASHA1 + RandK 50% on a small bilinear game (d = 10, M = 8 shards), with
 * γ = 4 × the theory stepsize so a run takes ~200 iterations (the theory γ is conservative; 8×
 * diverges). Without churn it reaches 1e-6 in 174 iterations and ~34 simulated seconds.
 */
const M = 8;
function manifest(): Manifest {
  const base = {
    problem: { kind: 'bilinear' as const, d: 10, M, seed: 1 },
    method: { name: 'masha1' as const },
    compressors: { device: 'randk:0.5' },
    stop: { iterations: 3000, target: 1e-6 },
    seed: 3,
  };
  const gamma = 4 * buildRun(parseManifest(base)).gamma;
  return parseManifest({ ...base, method: { name: 'masha1', gamma } });
}

interface LogLine {
  t: number;
  ev: string;
  peer: string;
  [k: string]: unknown;
}

function lines(log: MemoryLog): LogLine[] {
  return log.lines.map((l) => JSON.parse(l) as LogLine);
}

function trace(events: TraceEvent[]) {
  // Through the JSON Lines writer and validator, as a file would go.
  return parseTrace(formatTrace(events));
}

/** Every surviving peer's commits: rounds strictly increasing (none applied twice). */
function expectNoRoundTwice(ls: LogLine[], peers: readonly string[]): void {
  for (const id of peers) {
    const rounds = ls.filter((l) => l.ev === 'commit' && l.peer === id).map((l) => l.round as number);
    for (let i = 1; i < rounds.length; i++) expect(rounds[i]).toBeGreaterThan(rounds[i - 1]);
  }
}

describe('churn', () => {
  it('MASHA1 reaches 1e-6 when 25% of the devices crash at random times and others join', () => {
    const rng = keyedRng(11, 0, 'test:churn', SHARED);
    const ids = Array.from({ length: M }, (_, i) => `p${i}`);
    const events: TraceEvent[] = ids.map((peer) => ({ t: 0, event: 'join', peer }));
    // 2 of the 8 devices crash at uniform random times in [2, 25] s; 2 new devices join in [2, 25] s.
    const victims = Array.from(rng.permutation(M), (i) => ids[i]);
    const churn: TraceEvent[] = [];
    for (const peer of victims.slice(0, 2)) churn.push({ t: Math.round(2000 + 23_000 * rng.nextFloat53()) / 1000, event: 'crash', peer });
    for (const peer of ['n0', 'n1']) churn.push({ t: Math.round(2000 + 23_000 * rng.nextFloat53()) / 1000, event: 'join', peer });
    churn.sort((a, b) => a.t - b.t);
    const log = new MemoryLog();
    const r = simulate({ manifest: manifest(), trace: trace([...events, ...churn]), log });
    const s = r.summary;
    expect(s.stop).toBe('done');
    expect(s.reached).toBe(true);
    expect(s.finalRelDist).toBeLessThanOrEqual(1e-6);
    expect(s.consistent).toBe(true);
    expect(s.peersAtEnd).toBe(M);
    // The run really saw the churn while it was running: crashes before the end, shards reassigned.
    const ls = lines(log);
    const end = s.simSeconds;
    for (const c of churn) expect(c.t).toBeLessThan(end);
    expect(r.counters.get('reassigned-shards') ?? 0).toBeGreaterThan(0);
    // The joiners synchronised and held shards at the end (they contribute).
    const held = new Map(r.peers.map((p) => [p.id, p.snapshot().held.length]));
    expect((held.get('n0') ?? 0) + (held.get('n1') ?? 0)).toBeGreaterThan(0);
    expect([...held.values()].reduce((a, b) => a + b, 0)).toBe(M);
    expectNoRoundTwice(
      ls,
      r.peers.map((p) => p.id),
    );
  });

  it('the aggregator crashing mid-round: a new one within a lease plus one round, the run finishes', () => {
    const m = manifest();
    // Undisturbed run: who aggregates, how long a round takes, and a moment when a round is open.
    const log0 = new MemoryLog();
    const r0 = simulate({ manifest: m, log: log0 });
    expect(r0.summary.reached).toBe(true);
    const ls0 = lines(log0);
    const agg = ls0.find((l) => l.ev === 'election')!.aggregator as string;
    const aggCommits = ls0.filter((l) => l.ev === 'commit' && l.peer === agg);
    let roundSeconds = 0;
    for (let i = 1; i < aggCommits.length; i++) roundSeconds = Math.max(roundSeconds, aggCommits[i].t - aggCommits[i - 1].t);
    // Round R = the 40th committed round: its first uplink leaves a device at tUp; it commits at tCommit.
    const R = aggCommits[40].round as number;
    const tCommit = aggCommits[40].t;
    const tUp = ls0.find((l) => l.ev === 'send' && l.kind === 4 && l.round === R && l.to === agg)!.t;
    expect(tUp).toBeLessThan(tCommit);
    const tCrash = Math.round((tUp + 0.001) * 1e6) / 1e6;
    expect(tCrash).toBeLessThan(tCommit);

    const log = new MemoryLog();
    const r = simulate({ manifest: m, trace: trace([{ t: tCrash, event: 'crash', peer: agg }]), log });
    const ls = lines(log);
    // Identical up to the crash (same seed, same events).
    const before = (x: LogLine[]) => x.filter((l) => l.t < tCrash).map((l) => JSON.stringify(l));
    expect(before(ls)).toEqual(before(ls0));
    const election = ls.find((l) => l.ev === 'election' && l.t > tCrash && l.aggregator !== agg)!;
    expect(election).toBeDefined();
    const leaseSeconds = m.network.leaseMs / 1000;
    expect(election.t - tCrash).toBeLessThanOrEqual(leaseSeconds + roundSeconds);
    // Round R was open at the crash: it is committed (once) in the new epoch.
    const commitsOfR = ls.filter((l) => l.ev === 'commit' && l.round === R);
    expect(commitsOfR.length).toBeGreaterThan(0);
    expect(new Set(commitsOfR.map((l) => l.epoch))).toEqual(new Set([election.epoch]));
    const s = r.summary;
    expect(s.stop).toBe('done');
    expect(s.reached).toBe(true);
    expect(s.consistent).toBe(true);
    expect(s.elections).toBe(2);
    expect(s.peersAtEnd).toBe(M - 1);
    expect(s.abortedRounds).toBeGreaterThanOrEqual(1);
    expectNoRoundTwice(
      ls,
      r.peers.map((p) => p.id),
    );
  });

  it('a partition that heals leaves every peer on the same state', () => {
    const m = manifest();
    const events: TraceEvent[] = [
      { t: 5, event: 'partition', peer: 'p5', group: 'b' },
      { t: 5, event: 'partition', peer: 'p6', group: 'b' },
      { t: 5, event: 'partition', peer: 'p7', group: 'b' },
      { t: 15, event: 'heal' },
    ];
    const log = new MemoryLog();
    const r = simulate({ manifest: m, trace: trace(events), log });
    const ls = lines(log);
    // The partition bit: frames were dropped across it, and the cut-off side noticed its aggregator's silence.
    expect(ls.some((l) => l.ev === 'drop' && l.reason === 'partition' && l.t >= 5 && l.t < 15)).toBe(true);
    expect(r.summary.elections).toBeGreaterThanOrEqual(2);
    const s = r.summary;
    expect(s.stop).toBe('done');
    expect(s.reached).toBe(true);
    expect(s.consistent).toBe(true);
    expect(s.peersAtEnd).toBe(M);
    const digests = new Set(r.peers.map((p) => p.digestHex));
    expect(digests.size).toBe(1);
    const z = r.peers.map((p) => Array.from(r.run.ctx.method.iterate(p.replica)));
    for (const zi of z) expect(zi).toEqual(z[0]);
    expect(new Set(r.peers.map((p) => p.committedRound)).size).toBe(1);
  });
});

// Issue 14, "updates that cannot poison the run": each attack against the simulator with the real
// engines (every peer a real PeerHost; attackers wrap only their evaluator or their frame link,
// sim/src/run/adversary.ts). Each test shows the attack working without its defence (a switch of
// the manifest's updates section where there is one) and the run reaching its target with the
// attacker excluded within a bounded number of iterations when the defence is on.
import { describe, expect, it } from 'vitest';
import { parseManifest, type PeerId } from '@masha/protocol';
import { simulate, type Adversary, type SimulateResult } from '../src/run/simulate.js';
import { auditLiar, garbagePayloads, mute, scaled } from '../src/run/adversary.js';
import type { Trace } from '../src/trace/schema.js';

const TARGET = 1e-5;
const ITERATIONS = 4000;

function manifest(trust: Record<string, unknown> | undefined) {
  return parseManifest({
    problem: { kind: 'bilinear', d: 20, M: 10, seed: 1 },
    method: { name: 'masha1' },
    stop: { iterations: ITERATIONS, target: TARGET },
    network: { heartbeatMs: 100, leaseMs: 400, roundDeadlineMs: 200 },
    ...(trust ? { updates: trust } : {}),
  });
}

interface Outcome {
  readonly result: SimulateResult;
  /** Peers any engine banned. */
  readonly banned: Set<PeerId>;
  /** Iteration reached when the first ban happened (null: none). */
  readonly banAt: number | null;
}

function attack(trust: Record<string, unknown> | undefined, attackers: (id: PeerId) => boolean, adversary: Adversary, trace?: Trace): Outcome {
  let iteration = 0;
  let banAt: number | null = null;
  const result = simulate({
    manifest: manifest(trust),
    adversary: (id) => (attackers(id) ? adversary : null),
    onIteration: (i) => {
      iteration = i.iteration;
    },
    onAction: (_id, a) => {
      if (a.type === 'metric' && a.name === 'banned' && banAt === null) banAt = iteration;
    },
    ...(trace ? { trace } : {}),
  });
  const banned = new Set<PeerId>();
  for (const p of result.peers) for (const id of p.guard.banned.keys()) banned.add(id);
  return { result, banned, banAt };
}

const p3 = (id: PeerId) => id === 'p3';

/** Iterations the honest swarm needs (the yardstick of "a bounded number"). */
const honest = attack(undefined, () => false, {});

function expectRecovered(o: Outcome, slack: number): void {
  expect(o.result.summary.reached, JSON.stringify(o.result.summary)).toBe(true);
  expect(o.result.summary.consistent).toBe(true);
  expect(o.result.summary.iterations).toBeLessThanOrEqual(honest.result.summary.iterations + slack);
}

describe('attacks on the aggregate (simulator, real engines)', () => {
  it('the honest run reaches the target with nobody banned', () => {
    expect(honest.result.summary.reached).toBe(true);
    expect(honest.banned.size).toBe(0);
    for (const name of ['out-of-bound', 'bad-payload', 'banned', 'audit-mismatch'] as const) expect(honest.result.counters.get(name) ?? 0).toBe(0);
  });

  it('×10 answers from 1 of 10 peers: a wrong fixed point without defences; banned by the Lipschitz bound, or by an audit', () => {
    const off = attack({ bounds: 'off', audit: 0 }, p3, scaled(10));
    expect(off.result.summary.reached).toBe(false);
    expect(off.result.summary.finalRelDist as number).toBeGreaterThan(1e-2);
    expect(off.banned.size).toBe(0);

    const bounded = attack({ audit: 0 }, p3, scaled(10));
    expect([...bounded.banned]).toEqual(['p3']);
    expect(bounded.result.counters.get('out-of-bound')).toBe(3); // refusalLimit, then the ban
    expect(bounded.banAt as number).toBeLessThanOrEqual(20);
    expectRecovered(bounded, 50);

    const audited = attack({ bounds: 'off', audit: 0.05 }, p3, scaled(10));
    expect([...audited.banned]).toEqual(['p3']);
    expect(audited.result.counters.get('audit-mismatch')).toBe(1);
    // p3 holds one shard of ten, audited w.p. 0.05 per round: caught within ~60 rounds w.p. 0.95.
    expect(audited.banAt as number).toBeLessThanOrEqual(100);
    expectRecovered(audited, 150);
  });

  it('1e30 answers: the run diverges without bounds; with them the sender is banned after 3 refusals', () => {
    let diverged = false;
    try {
      const off = attack({ bounds: 'off' }, p3, scaled(1e30));
      diverged = !off.result.summary.reached && !((off.result.summary.finalRelDist ?? Infinity) < 1);
    } catch (e) {
      // The iterate left the float32 range: honest peers can no longer even encode their answers.
      diverged = String(e).includes('float32 range');
    }
    expect(diverged).toBe(true);
    const on = attack(undefined, p3, scaled(1e30));
    expect([...on.banned]).toEqual(['p3']);
    expect(on.result.counters.get('out-of-bound')).toBe(3);
    expect(on.banAt as number).toBeLessThanOrEqual(20);
    expectRecovered(on, 50);
  });

  it('NaN payloads: each refusal is a miss at once (the shard moves), three ban the sender', () => {
    const o = attack(undefined, p3, garbagePayloads());
    expect([...o.banned]).toEqual(['p3']);
    expect(o.result.counters.get('bad-payload')).toBe(3);
    expect(o.banAt as number).toBeLessThanOrEqual(20);
    expectRecovered(o, 50);
  });

  it('3 honest peers and 20 mute identities: mute holders are benched for ever longer and the run goes on', () => {
    const events: Trace['events'][number][] = [];
    for (let i = 0; i < 3; i++) events.push({ t: 0, event: 'join', peer: `h${i}` });
    for (let i = 0; i < 20; i++) events.push({ t: 0, event: 'join', peer: `m${i}` });
    const o = attack(undefined, (id) => id.startsWith('m'), mute(), { events, lines: events.map((_, i) => i + 1) });
    expect(o.result.summary.reached, JSON.stringify(o.result.summary)).toBe(true);
    expect(o.result.counters.get('benched') ?? 0).toBeGreaterThan(20);
    // Mute holders cost retries early, ever fewer later: the whole run takes no more iterations
    // (the method is the same) and a bounded amount of extra time.
    expect(o.result.summary.iterations).toBeLessThanOrEqual(honest.result.summary.iterations + 50);
    expect(o.result.summary.simSeconds).toBeLessThan(2 * honest.result.summary.simSeconds);
  });

  it('a lying audited holder (×1.05, inside every bound) is caught by an audit and banned; without audits it skews the result', () => {
    const unaudited = attack({ audit: 0 }, p3, scaled(1.05));
    expect(unaudited.banned.size).toBe(0);
    expect(unaudited.result.summary.reached).toBe(false);

    const audited = attack({ audit: 0.05 }, p3, scaled(1.05));
    expect([...audited.banned]).toEqual(['p3']);
    expect(audited.result.counters.get('out-of-bound') ?? 0).toBe(0);
    expect(audited.result.counters.get('audit-mismatch')).toBe(1);
    expect(audited.banAt as number).toBeLessThanOrEqual(100);
    expectRecovered(audited, 150);
  });

  it('a peer that lies only when it audits others is banned by the aggregator’s settling computation', () => {
    const o = attack({ audit: 0.05 }, p3, auditLiar());
    expect([...o.banned]).toEqual(['p3']);
    expect(o.result.counters.get('audit-mismatch')).toBe(1);
    expectRecovered(o, 150);
  });
});

// Status cadence (PeerHostInit.statusSteadyMs): a host checks every status interval and reports
// when its place in the run changed (epoch, aggregator, held shards, end), when a watcher asked
// (requestStatus), and otherwise once per steady period; without a steady period, every interval.
import { describe, expect, it } from 'vitest';
import { runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import { decodeStatus, type PeerStatus } from '../src/swarm/status.js';
import { TestSwarm } from './engine-driver.js';

const manifest = parseManifest({
  problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
  method: { name: 'masha1', gamma: 0.5 },
  compressors: { device: 'randk:0.25' },
  stop: { iterations: 100_000 },
  network: { heartbeatMs: 50, leaseMs: 400, roundDeadlineMs: 100 },
  seed: 5,
});

interface Report {
  readonly peer: string;
  readonly t: number;
  readonly status: PeerStatus;
}

function swarmWith(steadyMs: number): { swarm: TestSwarm; reports: Report[] } {
  const reports: Report[] = [];
  const swarm = new TestSwarm(runFromManifest(manifest), {
    status: { intervalMs: 100, steadyMs, report: (node, bytes, t) => reports.push({ peer: node.id, t, status: decodeStatus(bytes) }) },
  });
  for (const id of ['p1', 'p2', 'p3']) swarm.add(id, 0);
  return { swarm, reports };
}

/** Largest gap between a peer's consecutive reports within [from, to]. */
function largestGap(reports: readonly Report[], peer: string, from: number, to: number): number {
  const ts = reports.filter((r) => r.peer === peer && r.t >= from && r.t <= to).map((r) => r.t);
  let gap = 0;
  for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i] - ts[i - 1]);
  return gap;
}

describe('status report cadence', () => {
  it('without a steady period: one report per interval', () => {
    const { swarm, reports } = swarmWith(0);
    swarm.run(5_000);
    const p1 = reports.filter((r) => r.peer === 'p1' && r.t > 0);
    expect(p1.length).toBe(50);
    expect(largestGap(reports, 'p1', 0, 5_000)).toBe(100);
  });

  it('steady: reports on every change of place, else once per steady period; a query is answered at once, once per interval', () => {
    const { swarm, reports } = swarmWith(1_000);
    swarm.run(20_000);
    const p1 = reports.filter((r) => r.peer === 'p1');
    // The first tick reports (nothing said yet).
    expect(p1[0].t).toBe(100);
    // Every change of epoch, aggregator, held shards or end is in the next tick's report, or in the one after it.
    const key = (s: PeerStatus): string => `${s.epoch}|${s.aggregator}|${s.isAggregator}|${s.heldCount}|${s.done}`;
    for (let i = 1; i < p1.length; i++) {
      const gap = p1[i].t - p1[i - 1].t;
      // Between reports: at most the steady period (ticks at 100 ms, due from 950 ms on).
      expect(gap).toBeLessThanOrEqual(1_000);
      if (gap < 1_000 && gap >= 100) expect(key(p1[i].status), `report at ${p1[i].t}`).not.toBe(key(p1[i - 1].status));
    }
    // Once the run is steady (one aggregator, shards settled), reports come once per steady period:
    // far fewer than one per interval.
    const late = p1.filter((r) => r.t > 10_000);
    expect(late.length).toBeLessThanOrEqual(11);
    expect(late.length).toBeGreaterThanOrEqual(9);
    // A watcher asks: a report at once, a second ask within the interval waits for the next tick.
    const host = swarm.node('p1').host;
    const before = reports.length;
    host.requestStatus();
    expect(reports.length).toBe(before + 1);
    host.requestStatus();
    expect(reports.length).toBe(before + 1);
    const asked = swarm.now;
    swarm.run(asked + 100);
    const after = reports.filter((r) => r.peer === 'p1' && r.t > asked);
    expect(after.length).toBe(1);
    expect(after[0].t - asked).toBeLessThanOrEqual(100);
  });
});

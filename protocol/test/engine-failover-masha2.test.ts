import { describe, expect, it } from 'vitest';
import { runFromManifest } from '../src/manifest/build.js';
import { parseManifest } from '../src/manifest/schema.js';
import { TestSwarm } from './engine-driver.js';

const HEARTBEAT = 50;
const LEASE = 200;
const DEADLINE = 100;
const ids6 = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];

function allDone(swarm: TestSwarm): boolean {
  return swarm.alive().every((n) => n.done !== null);
}

function expectConverged(swarm: TestSwarm): void {
  const alive = swarm.alive();
  expect(alive.every((n) => n.done === 'target')).toBe(true);
  expect(new Set(alive.map((n) => n.peer.digestHex)).size).toBe(1);
  for (const n of alive) expect(n.peer.relDist() as number).toBeLessThanOrEqual(1e-6);
}

describe('aggregator memory', () => {
  it('MASHA2 loses its server error memory on failover and still converges', () => {
    const manifest = parseManifest({
      problem: { kind: 'bilinear', d: 8, M: 6, seed: 3 },
      method: { name: 'masha2', gamma: 0.5 },
      compressors: { device: 'topk:0.25' },
      stop: { iterations: 5000, target: 1e-6 },
      network: { heartbeatMs: HEARTBEAT, leaseMs: LEASE, roundDeadlineMs: DEADLINE },
      seed: 5,
    });
    const iterationsToTarget = (crashAt: number | null): number => {
      const swarm = new TestSwarm(runFromManifest(manifest));
      for (const id of ids6) swarm.add(id, 0);
      if (crashAt !== null) {
        swarm.run(crashAt);
        swarm.crash(swarm.aggregators()[0].id, crashAt);
      }
      swarm.run(60_000, () => allDone(swarm));
      expectConverged(swarm);
      return swarm.alive()[0].peer.replica.iteration;
    };
    const calm = iterationsToTarget(null);
    const failover = iterationsToTarget(400.5);
    // The reset residual (plus the forced refresh of the dead aggregator's shard) costs a few
    // iterations at most; measured: see the report.
    // Measured: 398 iterations without churn, 401 with the failover.
    expect(Math.abs(failover - calm), `${calm} iterations without churn, ${failover} with a failover`).toBeLessThan(0.1 * calm);
  });
});

import { buildProblem, buildRun, parseManifest, ReferenceDriver, type Manifest, type PhaseName, type Problem } from '@masha/protocol';
import { simulate } from '../run/simulate.js';
import { progress, resultRow, type BenchResult, type Suite } from './harness.js';

/**
 * Simulator benchmarks (issue 4):
 *
 * - `sim/peer-rounds/…-1000peers`: MASHA1 + RandK 10% on the bilinear game (d = 100, M = 1,000
 *   shards) with 1,000 peers, 150 iterations, no churn, default links: simulated peer-rounds (live
 *   peers × committed engine rounds) per wall-clock second of the simulation proper (problem
 *   generation and the theory stepsize excluded); `/steady` counts from the 10th iteration on,
 *   after the leaderless bootstrap.
 *   Every round the real engines exchange real frames: 1,000 uplinks into the aggregator, one
 *   commit relayed down the gossip tree to 999 peers, every peer applying it. Baseline: the
 *   reference runner (`ReferenceDriver`, one process playing every shard, no engine, no frames)
 *   on the same problem and method, in shard-rounds per second. A second row gives both per CPU
 *   second of this process, which stays comparable when the machine is shared and loaded.
 * - `sim/10000peers-50rounds/…`: 10,000 peers, one shard each (d = 20, so that generating 10,000
 *   operators stays quick), 50 iterations: wall seconds and peak memory (RSS and JS heap sampled
 *   after every iteration; `global.gc` is used between runs when node runs with --expose-gc).
 */

function manifestFor(d: number, M: number, iterations: number, network: { heartbeatMs: number; leaseMs: number } | null = null): Manifest {
  return parseManifest({
    problem: { kind: 'bilinear', d, M, seed: 1 },
    method: { name: 'masha1' },
    compressors: { device: 'randk:0.1' },
    stop: { iterations },
    seed: 7,
    ...(network ? { network } : {}),
  });
}

/** Reference runner speed: shard-rounds (M × phases) per wall second and per CPU second. */
function referenceSpeed(manifest: Manifest, problem: Problem, minSeconds: number): { wall: number; cpu: number } {
  const built = buildRun(manifest, { problem });
  const driver = new ReferenceDriver(built.method, problem, problem.initialPoint());
  driver.initialize();
  let rounds = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < minSeconds * 1000) {
    let phase: PhaseName | null = built.method.startPhase(driver.replica);
    while (phase !== null) {
      phase = driver.runPhase(phase);
      rounds++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: (rounds * problem.shards) / seconds, cpu: (rounds * problem.shards) / ((c.user + c.system) / 1e6) };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

export const simSuite: Suite = {
  name: 'sim',
  async run(include) {
    const out: BenchResult[] = [];
    const speedName = 'sim/peer-rounds/masha1-randk0.1-bilinear-d100-1000peers';
    if (include(speedName)) {
      const manifest = manifestFor(100, 1000, 150);
      progress(`${speedName}: generating the problem`);
      const problem = buildProblem(manifest.problem);
      progress(`${speedName}: reference runner`);
      const reference = referenceSpeed(manifest, problem, 2);
      progress(`${speedName}: warm-up run`);
      simulate({ manifest: manifestFor(100, 1000, 5), problem });
      gc();
      progress(`${speedName}: measured run`);
      // Steady state: from the 10th iteration on (after the leaderless bootstrap and the first refresh).
      const mark = { wall: 0, cpu: 0, round: 0 };
      const r = simulate({
        manifest,
        problem,
        onIteration: (info) => {
          if (info.iteration !== 10) return;
          const c = process.cpuUsage();
          mark.wall = performance.now();
          mark.cpu = (c.user + c.system) / 1e6;
          mark.round = info.peer.committedRound;
        },
      });
      const endCpu = process.cpuUsage();
      const steadyWall = (performance.now() - mark.wall) / 1000;
      const steadyCpu = (endCpu.user + endCpu.system) / 1e6 - mark.cpu;
      const peers = r.summary.peersAtEnd;
      const peerRounds = peers * r.summary.committedRounds;
      const steadyPeerRounds = peers * (r.summary.committedRounds - mark.round);
      progress(
        `${speedName}: ${r.summary.committedRounds} rounds × ${peers} peers in ${r.timing.runSeconds.toFixed(2)} s ` +
          `(${r.timing.runCpuSeconds.toFixed(2)} CPU s, ${r.stats.events} events); from iteration 10: ${steadyWall.toFixed(2)} s, ${steadyCpu.toFixed(2)} CPU s`,
      );
      const ref = { name: 'reference runner shard-rounds/s', value: reference.wall };
      const refCpu = { name: 'reference runner shard-rounds/CPU s', value: reference.cpu };
      out.push(resultRow(speedName, peerRounds / r.timing.runSeconds, 'peer-rounds/s', ref));
      out.push(resultRow(`${speedName}/steady`, steadyPeerRounds / steadyWall, 'peer-rounds/s', ref));
      // The same per CPU second of this process: comparable across runs on a shared, loaded machine.
      out.push(resultRow(`${speedName}/per-cpu-second`, peerRounds / r.timing.runCpuSeconds, 'peer-rounds/CPU s', refCpu));
      out.push(resultRow(`${speedName}/steady/per-cpu-second`, steadyPeerRounds / steadyCpu, 'peer-rounds/CPU s', refCpu));
    }
    const bigName = 'sim/10000peers-50rounds/masha1-randk0.1-bilinear-d20';
    if (include(bigName)) {
      // Default timing (500 ms heartbeats, 2 s lease): the engine's sync grace keeps devices from
      // fetching a large commit that is merely still in flight (see peer.ts, "Lost broadcasts").
      const manifest = manifestFor(20, 10_000, 50);
      progress(`${bigName}: generating the problem`);
      const problem = buildProblem(manifest.problem);
      gc();
      let peakRss = process.memoryUsage().rss;
      let peakHeap = process.memoryUsage().heapUsed;
      progress(`${bigName}: run`);
      const r = simulate({
        manifest,
        problem,
        onIteration: (info) => {
          if (info.iteration % 10 === 0) progress(`${bigName}: iteration ${info.iteration}, ${info.simSeconds.toFixed(1)} simulated s`);
          const m = process.memoryUsage();
          if (m.rss > peakRss) peakRss = m.rss;
          if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
        },
      });
      const s = r.summary;
      if (s.iterations !== 50 || !s.consistent) throw new Error(`${bigName}: did not finish (${s.iterations} iterations, stop ${s.stop})`);
      progress(
        `${bigName}: ${s.committedRounds} rounds × ${s.peersAtEnd} peers in ${r.timing.runSeconds.toFixed(1)} s ` +
          `(${r.timing.runCpuSeconds.toFixed(1)} CPU s), ${s.simSeconds.toFixed(1)} simulated s, ${s.elections} election(s), ` +
          `${s.abortedRounds} aborted round(s), peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
      );
      out.push(resultRow(`${bigName}/wall`, r.timing.runSeconds, 's'));
      out.push(resultRow(`${bigName}/cpu`, r.timing.runCpuSeconds, 'CPU s'));
      out.push(resultRow(`${bigName}/peer-rounds`, (s.peersAtEnd * s.committedRounds) / r.timing.runSeconds, 'peer-rounds/s'));
      out.push(resultRow(`${bigName}/peak-rss`, peakRss / 2 ** 20, 'MiB'));
      out.push(resultRow(`${bigName}/peak-heap`, peakHeap / 2 ** 20, 'MiB'));
      out.push(resultRow(`${bigName}/simulated`, s.simSeconds, 's'));
      // One election (the bootstrap) and no aborted round with the default timing: more means the
      // swarm mistook a busy aggregator for a dead one.
      out.push(resultRow(`${bigName}/elections`, s.elections, 'elections'));
      out.push(resultRow(`${bigName}/aborted-rounds`, s.abortedRounds, 'rounds'));
    }
    return out;
  },
};

/**
 * Five volunteers, a relay and a launcher (real processes on loopback) solve a bilinear run; the
 * final iterate is compared with the reference runner's (protocol/src/runner) on the same manifest.
 *
 * Tolerance: exact equality. With `minPeers = 5` the first round opens only when every volunteer
 * is in (so shard holders never change during the run), with `quorum = 1` no round commits with a
 * missing shard, and an 8 s lease keeps a slow process from being declared dead: the swarm then
 * performs exactly the reference's arithmetic (shared randomness is keyed by run seed, round and
 * shard; the aggregator sums in shard order), so the iterates are bitwise identical. The summary
 * must also show one election, no aborted round and every peer on the launcher's digest.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFromManifest, runReference } from '@masha/protocol';
import { parseRunSummary } from '@masha/protocol/swarm';
import { runToDirectory } from '@masha/sim';
import { checkLineage, testManifest, TestSwarm } from './swarm-helpers.js';

const PEERS = 5;
const TARGET = 1e-6;

describe(`${PEERS} volunteers solve a bilinear run`, () => {
  const swarm = new TestSwarm();
  const manifest = testManifest({
    stop: { iterations: 2_000, target: TARGET },
    network: { heartbeatMs: 500, leaseMs: 8_000, roundDeadlineMs: 8_000, quorum: 1, minPeers: PEERS },
  });

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await swarm.stop();
  });

  it("reaches the target at bitwise the reference runner's iterate, with a consistent lineage on every peer", async () => {
    const { path, runId } = swarm.writeManifest(manifest);
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);

    // `masha status --json` mid-run: the run, its five volunteers, one aggregator they all follow.
    await swarm.waitFor(() => swarm.volunteers.every((v) => (v.status?.round ?? 0) >= 5), 240_000, 'round 5 on every volunteer');
    const status = swarm.group.spawnMasha('status', ['status', '--relay', swarm.relayAddr, '--run', runId, '--json', '--wait', '3'], {
      stdout: 'pipe',
      stderr: 'ignore',
    });
    let statusText = '';
    status.onStdoutLine((l) => {
      statusText += `${l}\n`;
    });
    expect((await status.exited).code).toBe(0);
    const snap = JSON.parse(statusText) as {
      runs: { runId: string; state: string; peers: { peer: string; isAggregator: boolean; aggregator: string | null; heldCount: number }[] }[];
    };
    expect(snap.runs.map((r) => r.runId)).toEqual([runId]);
    const peers = snap.runs[0].peers;
    expect(peers.length).toBe(PEERS);
    const aggs = peers.filter((p) => p.isAggregator);
    expect(aggs.length).toBe(1);
    for (const p of peers) expect(p.aggregator).toBe(aggs[0].peer);
    expect(peers.reduce((n, p) => n + p.heldCount, 0)).toBe(manifest.problem.kind === 'bilinear' ? manifest.problem.M : -1);

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.runId).toBe(runId);
    expect(summary.reached).toBe(true);
    expect(summary.stop).toBe('done:target');
    expect(summary.peersSeen).toBe(PEERS);
    expect(summary.elections).toBe(1);
    expect(summary.abortedRounds).toBe(0);
    expect(summary.consistent).toBe(true);
    expect(summary.rejectedFrames).toBe(0);

    // The reference runner on the same manifest.
    const run = runFromManifest(manifest);
    const ref = runReference({ problem: run.problem, method: run.method, iterations: 2_000, target: TARGET });
    expect(ref.reached).toBe(true);
    expect(summary.iterations).toBe(ref.iterations);
    const { z } = swarm.readJson<{ z: number[] }>(runId, 'z.json');
    expect(z.length).toBe(ref.z.length);
    let maxDiff = 0;
    for (let i = 0; i < z.length; i++) maxDiff = Math.max(maxDiff, Math.abs(z[i] - ref.z[i]));
    expect(maxDiff).toBe(0);
    expect(summary.finalRelDist).toBe(ref.records[ref.records.length - 1].relDist);

    // Every volunteer ended on the launcher's digest, and the logs agree round by round.
    await Promise.all(swarm.volunteers.map((v) => v.child.exited));
    let aggregators = 0;
    for (const v of swarm.volunteers) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
      // One peer aggregated every round (it answers for its own shards locally); the others uplinked.
      const c = v.exit?.status.counters ?? {};
      if ((c['net-commits-sent'] ?? 0) > 0) aggregators++;
      else expect(c['net-uplinks-sent']).toBeGreaterThan(0);
    }
    expect(aggregators).toBe(1);
    const logs = swarm.peerLogs(runId);
    expect(logs.size).toBe(PEERS);
    logs.set('launcher', swarm.launcherLog(runId));
    const lineage = checkLineage(logs);
    expect(lineage.problems).toEqual([]);
    expect(lineage.rounds.get(summary.committedRounds)).toBe(summary.digest);

    // Files: one directory for this start, `latest` pointing at it, the volunteers' logs inside.
    const starts = readdirSync(join(swarm.runsDir, runId)).filter((n) => n !== 'latest');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);
    expect(lstatSync(swarm.runDir(runId)).isSymbolicLink()).toBe(true);
    expect(readlinkSync(swarm.runDir(runId))).toBe(starts[0]);
    expect(readdirSync(join(swarm.runsDir, runId, starts[0])).sort()).toEqual([
      'checkpoint.bin',
      'commits.wal',
      'events.jsonl',
      'launch.json',
      'peers',
      'run.svg',
      'summary.json',
      'z.json',
    ]);

    // summary.json follows the run summary schema shared with the simulator, and so does the
    // simulator's summary of the same manifest: one reader, the same meanings.
    const written = parseRunSummary(swarm.readJson(runId, 'summary.json'));
    expect(written).toEqual(summary);
    expect(written.host).toBe('swarm');
    expect(written.swarm?.peers).toHaveLength(PEERS);
    const simulated = await runToDirectory({ manifestPath: path, outDir: join(swarm.dir, 'sim'), events: 'commits' });
    const sim = parseRunSummary(JSON.parse(readFileSync(simulated.files.summary, 'utf8')));
    expect(sim.host).toBe('simulator');
    expect(sim.runId).toBe(written.runId);
    expect(sim.stop).toBe(written.stop);
    expect(sim.reached).toBe(true);
    expect(sim.target).toBe(written.target);
    // Both perform the reference runner's arithmetic here (every shard in every round).
    expect(sim.iterations).toBe(written.iterations);
    expect(sim.finalRelDist).toBe(written.finalRelDist);
    expect(sim.abortedRounds).toBe(0);
    expect(sim.elections).toBe(written.elections);

    // `masha status` after the run, its launcher gone: the relay remembers that it ended, and how.
    const after = swarm.group.spawnMasha('status', ['status', '--relay', swarm.relayAddr, '--json', '--wait', '1'], { stdout: 'pipe', stderr: 'ignore' });
    let afterText = '';
    after.onStdoutLine((l) => {
      afterText += `${l}\n`;
    });
    expect((await after.exited).code).toBe(0);
    const ended = (JSON.parse(afterText) as { runs: { runId: string; state: string; outcome: unknown }[] }).runs;
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({
      runId,
      state: 'finished',
      outcome: { stop: 'done:target', reached: true, iterations: summary.iterations, committedRounds: summary.committedRounds },
    });
  });
});

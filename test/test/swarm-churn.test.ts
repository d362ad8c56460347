/**
 * Volunteer churn on a real swarm: a volunteer (not the aggregator) is killed with SIGKILL
 * mid-run — its shards are reassigned to the others and the run completes — and a volunteer
 * started mid-run gets the state from the swarm and then works on shards of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLineage, testManifest, TestSwarm, type Volunteer } from './swarm-helpers.js';

const PEERS = 4;
const KILL_AT_ROUND = 20;
const JOIN_AT_ROUND = 30;

describe('volunteers leaving and joining mid-run', () => {
  const swarm = new TestSwarm();

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await swarm.stop();
  });

  it("reassigns a dead volunteer's shards and brings a late volunteer in", async () => {
    // λ = 0.05: ~290 rounds to the target.
    const manifest = testManifest({ problem: { lambda: 0.05 } });
    const { path, runId } = swarm.writeManifest(manifest);
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    // Started now (process start-up is slow on a loaded machine), it joins only once the run is at round JOIN_AT_ROUND.
    const late = swarm.volunteer(runId, 'late', ['--after-round', String(JOIN_AT_ROUND)]);
    const launcher = swarm.launch(path);

    let victim: Volunteer | undefined;
    await swarm.waitFor(
      () => {
        victim = swarm.volunteers.find(
          (v) => v !== late && v.status !== null && !v.status.isAggregator && v.status.heldCount > 0 && v.status.round >= KILL_AT_ROUND,
        );
        return victim !== undefined;
      },
      240_000,
      `a volunteer holding shards at round ${KILL_AT_ROUND}`,
    );
    const dead = victim as Volunteer;
    const deadId = dead.peerId as string;
    const deadShards = [...(dead.status?.held ?? [])];
    expect(deadShards.length).toBeGreaterThan(0);
    dead.child.signal('SIGKILL');
    await dead.child.exited;

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.consistent).toBe(true);
    expect(summary.peersSeen).toBe(PEERS + 1);

    const others = swarm.volunteers.filter((v) => v !== dead);
    await Promise.all(others.map((v) => v.child.exited));
    for (const v of others) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
    }

    const all = swarm.peerLogs(runId);
    const logs = new Map([...all].filter(([peer]) => peer !== deadId));
    logs.set('launcher', swarm.launcherLog(runId));
    expect(checkLineage(logs).problems).toEqual([]);

    // The dead volunteer's shards moved to live peers: each appears in some survivor's held set after the kill.
    const deadLog = all.get(deadId) ?? [];
    const killedAt = Math.max(...deadLog.map((e) => e.t));
    const takenOver = new Set<number>();
    for (const [peer, events] of all) {
      if (peer === deadId) continue;
      for (const e of events) if (e.ev === 'held' && e.t > killedAt) for (const s of e.shards as number[]) takenOver.add(s);
    }
    for (const s of deadShards) expect(takenOver.has(s)).toBe(true);
    const expired = [...logs.values()].flat().filter((e) => e.ev === 'metric' && e.name === 'member-expired');
    expect(expired.length).toBeGreaterThan(0);

    // The late volunteer installed the swarm's state (a snapshot or replayed commits), then held shards and uplinked.
    const lateLog = all.get(late.peerId as string) ?? [];
    // What the late volunteer went through, for the failure messages: its syncs and their rounds.
    const lateStory = lateLog
      .filter((e) => e.ev === 'state' || e.ev === 'metric' || e.ev === 'held')
      .map((e) => `${e.ev}${e.ev === 'metric' ? ` ${String(e.name)}` : ''}${e.round !== undefined ? ` @${String(e.round)}` : ''}`)
      .join(', ');
    const firstSync = lateLog.findIndex((e) => e.ev === 'state' || (e.ev === 'metric' && e.name === 'replay-applied'));
    expect(firstSync, `the late volunteer never synced: ${lateStory}`).toBeGreaterThanOrEqual(0);
    const syncRound = lateLog.find((e) => e.ev === 'state')?.round as number | undefined;
    if (syncRound !== undefined) expect(syncRound).toBeGreaterThan(JOIN_AT_ROUND - 1);
    const heldLater = lateLog.slice(firstSync).some((e) => e.ev === 'held' && (e.shards as number[]).length > 0);
    expect(heldLater, `the late volunteer never held shards after syncing: ${lateStory}`).toBe(true);
    const lateCounters = late.exit?.status.counters ?? {};
    expect((lateCounters['net-uplinks-sent'] ?? 0) + (lateCounters['net-commits-sent'] ?? 0), `the late volunteer sent nothing: ${lateStory}`).toBeGreaterThan(
      0,
    );
    // It committed rounds in lockstep with the rest after joining.
    expect(lateLog.filter((e) => e.ev === 'commit').length, `the late volunteer applied no commit: ${lateStory}`).toBeGreaterThan(0);
  });
});

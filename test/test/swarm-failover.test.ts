/**
 * `kill -9` of the aggregator mid-run: a new aggregator is elected (a new epoch), the run still
 * reaches its target, and the event logs show that no committed round was lost or applied twice:
 * every surviving volunteer's and the launcher's commits are strictly consecutive (or jump
 * forward through a state installation), and every round has one digest across all of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLineage, testManifest, TestSwarm, type Volunteer } from './swarm-helpers.js';

const PEERS = 4;
const KILL_AT_ROUND = 40;

describe('aggregator killed with SIGKILL mid-run', () => {
  const swarm = new TestSwarm();

  beforeAll(async () => {
    await swarm.startRelay();
  });

  afterAll(async () => {
    await swarm.stop();
  });

  it('elects a new aggregator, completes the run, and loses no committed round', async () => {
    const { path, runId } = swarm.writeManifest(testManifest());
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    const launcher = swarm.launch(path);

    // The volunteers report every second; the aggregator says so in its report.
    let victim: Volunteer | undefined;
    await swarm.waitFor(
      () => {
        victim = swarm.volunteers.find((v) => v.status?.isAggregator === true && v.status.round >= KILL_AT_ROUND);
        return victim !== undefined;
      },
      240_000,
      `the aggregator to reach round ${KILL_AT_ROUND}`,
    );
    const dead = victim as Volunteer;
    const deadId = dead.peerId as string;
    const roundAtKill = dead.status?.round ?? 0;
    const epochAtKill = dead.status?.epoch ?? 0;
    dead.child.signal('SIGKILL');
    await dead.child.exited;

    const { code, summary } = await launcher.summary();
    expect(code).toBe(0);
    expect(summary.reached).toBe(true);
    expect(summary.consistent).toBe(true);
    expect(summary.elections).toBeGreaterThanOrEqual(2);
    expect(summary.committedRounds).toBeGreaterThan(roundAtKill);

    const survivors = swarm.volunteers.filter((v) => v !== dead);
    await Promise.all(survivors.map((v) => v.child.exited));
    for (const v of survivors) {
      expect(v.exit?.reason).toBe('done:target');
      expect(v.exit?.status.digest).toBe(summary.digest);
      // A later epoch, whose aggregator is a survivor.
      expect(v.exit?.status.epoch).toBeGreaterThan(epochAtKill);
      expect(v.exit?.status.aggregator).not.toBe(deadId);
    }

    const all = swarm.peerLogs(runId);
    const deadLog = all.get(deadId) ?? [];
    expect(deadLog.some((e) => e.ev === 'exit')).toBe(false); // it really died
    // Its own log never applied a round twice either.
    expect(checkLineage(new Map([[deadId, deadLog]])).problems).toEqual([]);
    const logs = new Map([...all].filter(([peer]) => peer !== deadId));
    logs.set('launcher', swarm.launcherLog(runId));
    const lineage = checkLineage(logs);
    expect(lineage.problems).toEqual([]);
    // Every round up to the last is accounted for on the final lineage (applied by someone, or installed as state).
    expect(lineage.rounds.get(summary.committedRounds)).toBe(summary.digest);
    // Survivors saw the election of a new aggregator after the kill.
    const elections = [...logs.values()].flat().filter((e) => e.ev === 'election' && (e.epoch as number) > epochAtKill);
    expect(elections.length).toBeGreaterThan(0);
    expect(elections.every((e) => e.aggregator !== deadId)).toBe(true);
  });
});

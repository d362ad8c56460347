/**
 * A run survives the death of every process. A relay, a launcher (checkpointing every 20 rounds)
 * and 4 volunteers run the swarm tests' run; at round ≥ 60 every one of them is killed with
 * SIGKILL, by PID, at once. Then a fresh relay, `masha launch --resume DIR` and 4 fresh volunteers
 * continue the run from the launcher's checkpoint and commit log, and reach the target.
 *
 * Checked from the event logs: every round the launcher logged as committed before the crash is
 * in the resumed state (the `resume` line is at that round or later) and none is applied twice
 * (each log's rounds strictly increase: commits one by one, state installations forward); the
 * launcher's log covers rounds 1…N exactly once across the crash; every volunteer log agrees with
 * the launcher's digest of every round up to the resume point (old volunteers) or from it on (new
 * ones). Rounds the old swarm committed after the launcher's last logged commit died with it (no
 * process kept them); the test reports how many.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LaunchSummary } from '@masha/node';
import { readLog, testManifest, TestSwarm, type LogEvent } from './swarm-helpers.js';

const PEERS = 4;

describe('a run whose every process is killed mid-run', () => {
  const swarm = new TestSwarm();

  afterAll(async () => {
    await swarm.stop();
  });

  it('resumes with masha launch --resume and reaches its target, no committed round lost or applied twice', async () => {
    await swarm.startRelay();
    const { path, runId } = swarm.writeManifest(testManifest());
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId);
    swarm.launch(path, 300);
    await swarm.waitFor(() => swarm.round() >= 60, 240_000, 'round 60');

    // Kill every process (relay, launcher, volunteers) by PID, at once.
    const killedAt = swarm.round();
    const first = [...swarm.group.all];
    for (const c of first) process.kill(c.pid, 'SIGKILL');
    await Promise.all(first.map((c) => c.exited));
    const dir = realpathSync(swarm.runDir(runId));
    expect(existsSync(join(dir, 'checkpoint.bin'))).toBe(true);
    expect(existsSync(join(dir, 'summary.json'))).toBe(false);
    const before = readLog(join(dir, 'events.jsonl'));
    const loggedBefore = before.filter((e) => e.ev === 'commit').map((e) => e.round as number);
    const lastLogged = Math.max(0, ...loggedBefore);
    const oldVolunteers = new Set(swarm.peerLogs(runId).keys());

    // A fresh relay, the launcher resuming from its directory, fresh volunteers.
    await swarm.startRelay();
    const stderr = join(swarm.dir, 'launcher-resume.log');
    const child = swarm.group.spawnMasha(
      'launcher-resume',
      [
        '--progress',
        'lines',
        'launch',
        '--resume',
        dir,
        '--key',
        swarm.keyPath,
        '--relay',
        swarm.relayAddr,
        '--json',
        '--timeout',
        '300',
        '--checkpoint-every',
        '20',
      ],
      { stdout: 'pipe', stderr: { file: stderr } },
    );
    let stdout = '';
    child.onStdoutLine((l) => {
      stdout += `${l}\n`;
    });
    for (let i = 0; i < PEERS; i++) swarm.volunteer(runId, `r${i + 1}`);
    const exit = await child.exited;
    expect(exit.code, `${stdout}\n--- launcher stderr:\n${readFileSync(stderr, 'utf8').slice(-4000)}`).toBe(0);
    const summary = JSON.parse(stdout) as LaunchSummary;
    expect(summary.reached).toBe(true);
    expect(summary.consistent).toBe(true);

    // The launcher's log: one file, appended across the crash.
    const log = readLog(join(dir, 'events.jsonl'));
    expect(log.slice(0, before.length)).toEqual(before);
    const resume = log.find((e) => e.ev === 'resume') as LogEvent;
    expect(resume).toBeDefined();
    const R = resume.round as number;
    expect(R).toBeGreaterThanOrEqual(lastLogged); // nothing the launcher logged was lost
    const digest = new Map<number, string>();
    let last = 0;
    const problems: string[] = [];
    for (const e of log) {
      if (e.ev === 'commit' || e.ev === 'state' || e.ev === 'resume') {
        const r = e.round as number;
        if (e.ev === 'commit' && r !== last + 1) problems.push(`launcher: round ${r} after ${last}`);
        if (e.ev !== 'commit' && r < last) problems.push(`launcher: ${e.ev} at round ${r} after ${last}`);
        if (digest.has(r) && digest.get(r) !== e.digest) problems.push(`launcher: round ${r} twice with different digests`);
        digest.set(r, e.digest as string);
        last = r;
      }
    }
    expect(problems).toEqual([]);
    expect(last).toBe(summary.committedRounds);

    // Every volunteer log agrees with the launcher: old ones up to R, new ones from R on.
    let undurable = 0;
    for (const [peer, events] of swarm.peerLogs(runId)) {
      const old = oldVolunteers.has(peer);
      let prev = 0;
      for (const e of events) {
        if (e.ev !== 'commit' && e.ev !== 'state') continue;
        const r = e.round as number;
        if (e.ev === 'commit' ? r !== prev + 1 : r <= prev) problems.push(`${peer}: ${e.ev} ${r} after ${prev}`);
        prev = r;
        if (old && r > R) {
          undurable++;
          continue;
        }
        if (!old && r < R) problems.push(`${peer}: a new volunteer at round ${r} below the resume point ${R}`);
        if (digest.get(r) !== undefined && digest.get(r) !== e.digest)
          problems.push(`${peer}: round ${r} digest ${String(e.digest)}, launcher ${digest.get(r)}`);
      }
    }
    expect(problems).toEqual([]);
    console.log(
      `resume: killed at round ${killedAt} (highest volunteer report); launcher had logged ${lastLogged}, resumed at ${R} (${String(resume.walCommits)} from the commit log), finished at ${last}; ` +
        `${undurable} commit line(s) of killed volunteers past the launcher's log were re-done`,
    );
  });
});

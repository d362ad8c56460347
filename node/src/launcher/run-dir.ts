/**
 * Where a run's files go: one directory per start, so that a rerun of the same manifest (same run
 * id), a failed one or an interrupted one never overwrites or truncates the results of an earlier
 * start.
 *
 *   <runs>/<runId>/<start time>/   summary.json, events.jsonl, run.svg, z.json, peers/, logs/
 *   <runs>/<runId>/latest          a symbolic link to the newest start directory
 *
 * The start time is the launcher's wall clock in UTC, ISO 8601 with `-` instead of `:` so that it
 * is a valid file name everywhere (`2026-11-25T14-03-07.123Z`); the run announcement carries the
 * same instant (`startedAt`), so a volunteer on the same machine (`masha join --out runs`) writes
 * its event log into the launcher's start directory. Directories are created only once the
 * arguments and the relay have been checked.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the link to the newest start directory of a run. */
export const LATEST = 'latest';

/** Largest time a Date can hold (ms since the epoch). */
const MAX_DATE_MS = 8.64e15;

/**
 * `2026-11-25T14-03-07.123Z` for a wall-clock time in ms since the epoch. A time no Date can hold
 * (announcements are untrusted) reads `unknown-start`.
 */
export function startStamp(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DATE_MS) return 'unknown-start';
  return new Date(ms).toISOString().replaceAll(':', '-');
}

/** `<runs>/<runId>/<start time>` (not created). */
export function startDirPath(runsDir: string, runId: string, startedAt: number): string {
  return join(runsDir, runId, startStamp(startedAt));
}

/**
 * Creates a fresh start directory for a run started at `startedAt` (a suffix `-2`, `-3`, … when
 * that name is taken) and points `<runs>/<runId>/latest` at it. Returns its path.
 */
export function createStartDir(runsDir: string, runId: string, startedAt: number): string {
  const parent = join(runsDir, runId);
  mkdirSync(parent, { recursive: true });
  const stamp = startStamp(startedAt);
  for (let i = 1; ; i++) {
    const name = i === 1 ? stamp : `${stamp}-${i}`;
    const dir = join(parent, name);
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    try {
      pointLatest(parent, name);
    } catch {
      // A `latest` that cannot be replaced (say, a real directory of that name) must not fail the run.
    }
    return dir;
  }
}

/** Creates (if needed) the start directory of a run announced with `startedAt`; returns its path. */
export function ensureStartDir(runsDir: string, runId: string, startedAt: number): string {
  const dir = startDirPath(runsDir, runId, startedAt);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Makes `<parent>/latest` a relative link to `<parent>/<name>`, replacing the old link atomically. */
export function pointLatest(parent: string, name: string): void {
  const tmp = join(parent, `.${LATEST}-${process.pid}-${Date.now()}`);
  rmSync(tmp, { force: true });
  symlinkSync(name, tmp, 'dir');
  try {
    renameSync(tmp, join(parent, LATEST));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

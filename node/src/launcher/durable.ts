/**
 * The launcher's durable files in a run's start directory, so that `masha launch --resume DIR`
 * can continue a run after every process died (formats: @masha/protocol/swarm checkpoint.ts):
 *
 *   launch.json      what was launched: manifest, problem files, start time, run id (written once, atomically)
 *   checkpoint.bin   the replica every k rounds, on a state installation and at the end: written to a
 *                    temporary file, fsynced, renamed over the old one, and the directory fsynced
 *   commits.wal      every commit applied since that checkpoint, appended before its events.jsonl line
 *                    (a killed process loses none of them: the writes are in the kernel before the line
 *                    is); fsynced with each checkpoint, emptied once a newer checkpoint is durable
 *
 * Everything here is synchronous: a checkpoint is taken between two engine events, so the state
 * it saves is the one the log describes at that point.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MashaError, MSG, parseManifest, runIdOf, type EngineMessage, type Manifest } from '@masha/protocol';
import { decodeCheckpoint, encodeCheckpoint, encodeWalRecord, readWal, type Checkpoint } from '@masha/protocol/swarm';

export const LAUNCH_FILE = 'launch.json';
export const CHECKPOINT_FILE = 'checkpoint.bin';
export const WAL_FILE = 'commits.wal';

/** A directory that cannot be resumed (or written into): exit code 2, one line naming the flag. */
export class ResumeError extends MashaError {
  constructor(message: string) {
    super('bad-resume', message);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/** Writes `bytes` to `path` atomically and durably: temporary file, fsync, rename, fsync of the directory. */
export function writeFileDurably(path: string, bytes: Uint8Array | string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${path.slice(dir.length + 1)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse to fsync a directory; the rename is still atomic.
  } finally {
    closeSync(fd);
  }
}

/** What `launch.json` holds. */
export interface LaunchRecord {
  readonly runId: string;
  readonly manifest: Manifest;
  readonly files: Readonly<Record<string, string>>;
  /** The launcher's wall clock at the first start (ms since the Unix epoch): volunteers' logs go to that start directory. */
  readonly startedAt: number;
}

export function writeLaunchRecord(dir: string, r: LaunchRecord): void {
  writeFileDurably(join(dir, LAUNCH_FILE), `${JSON.stringify(r, null, 2)}\n`);
}

export function readLaunchRecord(dir: string): LaunchRecord {
  const path = join(dir, LAUNCH_FILE);
  if (!existsSync(path)) throw new ResumeError(`--resume: ${dir} holds no ${LAUNCH_FILE} (not a start directory of \`masha launch\`)`);
  let json: { runId?: unknown; manifest?: unknown; files?: unknown; startedAt?: unknown };
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as typeof json;
  } catch (e) {
    throw new ResumeError(`--resume: ${path} is not JSON: ${(e as Error).message}`);
  }
  const manifest = parseManifest(json.manifest);
  const runId = runIdOf(manifest);
  if (json.runId !== runId) throw new ResumeError(`--resume: ${path} names run ${String(json.runId)} but its manifest is run ${runId}`);
  const files = (typeof json.files === 'object' && json.files !== null ? json.files : {}) as Record<string, string>;
  const startedAt = typeof json.startedAt === 'number' ? json.startedAt : Date.now();
  return { runId, manifest, files, startedAt };
}

/** The checkpoint and the commits after it, read back for a resume. */
export interface ResumeData {
  readonly checkpoint: Checkpoint;
  readonly commits: EngineMessage[];
  /** Bytes of the WAL that are intact (a torn last record is cut off when the WAL is reopened). */
  readonly walBytes: number;
}

export function readResumeData(dir: string, runId: string): ResumeData {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new ResumeError(`--resume: ${dir} holds no ${CHECKPOINT_FILE} (the run was not checkpointed yet)`);
  let checkpoint: Checkpoint;
  try {
    checkpoint = decodeCheckpoint(new Uint8Array(readFileSync(path)), runId);
  } catch (e) {
    throw new ResumeError(`--resume: ${path}: ${(e as Error).message}`);
  }
  const walPath = join(dir, WAL_FILE);
  const wal = existsSync(walPath) ? readWal(new Uint8Array(readFileSync(walPath)), runId, MSG.COMMIT) : { commits: [], validBytes: 0 };
  return { checkpoint, commits: wal.commits, walBytes: wal.validBytes };
}

/** The checkpoint file and the write-ahead log of one start directory. */
export class DurableRun {
  private wal: number;
  /** Round of the last durable checkpoint. */
  checkpointRound = -1;

  /** Opens (creates) the WAL for appending; `keepBytes`: its intact length (a torn tail is cut off). */
  constructor(
    readonly dir: string,
    keepBytes = 0,
  ) {
    mkdirSync(dir, { recursive: true });
    this.wal = openSync(join(dir, WAL_FILE), 'a+');
    ftruncateSync(this.wal, keepBytes);
  }

  /** Appends a commit to the WAL (in the kernel on return: a killed process loses nothing). */
  appendCommit(m: EngineMessage): void {
    writeAll(this.wal, encodeWalRecord(m));
  }

  /** Writes a checkpoint durably, then empties the WAL (everything in it is in the checkpoint). */
  checkpoint(cp: Checkpoint, round: number): void {
    fsyncSync(this.wal);
    writeFileDurably(join(this.dir, CHECKPOINT_FILE), encodeCheckpoint(cp));
    ftruncateSync(this.wal, 0);
    fsyncSync(this.wal);
    this.checkpointRound = round;
  }

  close(): void {
    try {
      fsyncSync(this.wal);
    } finally {
      closeSync(this.wal);
    }
  }
}

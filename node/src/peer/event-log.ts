/**
 * A peer's (or launcher's) event log: one JSON object per line, written synchronously so that a
 * process killed with SIGKILL loses nothing it had logged — the failure tests read the logs of
 * killed peers. Every line starts with `t` (Unix time in seconds, millisecond resolution) and `ev`;
 * the line schema is shared with the simulator's (`@masha/protocol/swarm` events.ts).
 * The SHA-256 of the bytes written is kept for summary.json's `logSha256`.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type LogValue = string | number | boolean | null | readonly LogValue[] | { readonly [k: string]: LogValue };
export type LogFields = { readonly [k: string]: LogValue | undefined };

export interface EventSink {
  write(ev: string, fields?: LogFields): void;
}

/** Non-finite numbers become null (JSON has no form for them). */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

export class EventLog implements EventSink {
  private fd: number | null;
  private readonly hash: Hash = createHash('sha256');
  private digest: string | null = null;
  lines = 0;

  /**
   * @param path file to append to (created with its parent directories if missing; an existing
   *   file is never truncated), or null to only hash.
   */
  constructor(
    readonly path: string | null,
    private readonly clock: () => number = Date.now,
  ) {
    if (path !== null) mkdirSync(dirname(path), { recursive: true });
    this.fd = path === null ? null : openSync(path, 'a');
  }

  write(ev: string, fields: LogFields = {}): void {
    if (this.digest !== null) return;
    const text = `${JSON.stringify({ t: Math.round(this.clock()) / 1000, ev, ...fields }, replacer)}\n`;
    const bytes = Buffer.from(text, 'utf8');
    this.hash.update(bytes);
    this.lines++;
    if (this.fd !== null) {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    }
  }

  /** Closes the file; returns the hex SHA-256 of every line written (idempotent). */
  close(): string {
    if (this.digest === null) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      this.digest = this.hash.digest('hex');
    }
    return this.digest;
  }
}

/** Discards everything. */
export const NO_LOG: EventSink = { write: () => {} };

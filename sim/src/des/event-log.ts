import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * The simulator's event log: one JSON object per line, keys in a fixed order, so the log of a
 * run is a byte-exact function of (manifest, trace, seed). The SHA-256 of the log is the run's
 * determinism fingerprint (`logSha256` in summary.json).
 */
export interface EventSink {
  /** Appends one line (without the trailing newline). */
  line(text: string): void;
}

/** Hashes every line (SHA-256 over `line + "\n"`), optionally writing the lines to a file. */
export class HashingLog implements EventSink {
  private readonly hash: Hash = createHash('sha256');
  private buffer = '';
  private fd: number | null;
  private closed = false;
  /** Lines written so far. */
  lines = 0;
  /** Bytes written so far (UTF-8 length of lines plus newlines). */
  bytes = 0;

  /** @param path file to write the JSON lines to; null to only hash. */
  constructor(path: string | null = null) {
    this.fd = path === null ? null : openSync(path, 'w');
  }

  line(text: string): void {
    if (this.closed) throw new Error('event log already closed');
    this.buffer += text;
    this.buffer += '\n';
    this.lines++;
    if (this.buffer.length >= 1 << 16) this.flush();
  }

  private digest: string | null = null;

  /** Flushes, closes the file and returns the hex SHA-256 of everything logged (idempotent). */
  finish(): string {
    if (this.digest !== null) return this.digest;
    this.flush();
    this.closed = true;
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    this.digest = this.hash.digest('hex');
    return this.digest;
  }

  /** The hex SHA-256 of the log, once finished. */
  get sha256(): string {
    if (this.digest === null) throw new Error('event log not finished');
    return this.digest;
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const bytes = Buffer.from(this.buffer, 'utf8');
    this.bytes += bytes.length;
    this.hash.update(bytes);
    if (this.fd !== null) {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    }
    this.buffer = '';
  }
}

/** Keeps lines in memory (tests). */
export class MemoryLog implements EventSink {
  readonly lines: string[] = [];
  line(text: string): void {
    this.lines.push(text);
  }
}

/** Virtual milliseconds → seconds with microsecond resolution, as logged in `"t"`. */
export function logTime(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

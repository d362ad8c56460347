/**
 * How much of a simulated run goes to events.jsonl, and an early warning when the log will be huge.
 *
 * - `all` (default): every send, broadcast, receive, drop, reject and timer of every peer, plus the
 *   commits, elections, membership changes and ends. Its SHA-256 (`logSha256`) is the run's
 *   determinism fingerprint. It grows with peers × frames × rounds: a 1,000-peer run writes
 *   gigabytes.
 * - `commits`: only commits, elections, membership changes (join, leave, crash, slow, partition,
 *   heal) and `done` — what a plot or a lineage check needs, a few lines per round. `logSha256` then
 *   hashes that lighter log (compare fingerprints of runs at the same level only).
 */
import type { EventSink, HashingLog } from '../des/event-log.js';
import type { IterationInfo } from './simulate.js';

export type EventLevel = 'all' | 'commits';
export const EVENT_LEVELS = ['all', 'commits'] as const satisfies readonly EventLevel[];

/** Events kept at level `commits`. */
const COMMIT_LEVEL_EVENTS: ReadonlySet<string> = new Set(['commit', 'election', 'join', 'leave', 'crash', 'slow', 'partition', 'heal', 'done']);

/** The event name of a log line (lines start `{"t":…,"ev":"name"`). */
export function eventOf(line: string): string {
  const i = line.indexOf('"ev":"');
  if (i < 0) return '';
  const start = i + 6;
  return line.slice(start, line.indexOf('"', start));
}

/** A sink that passes on only the lines of level `commits`. */
export function commitsOnly(sink: EventSink): EventSink {
  return {
    line(text: string): void {
      if (COMMIT_LEVEL_EVENTS.has(eventOf(text))) sink.line(text);
    },
  };
}

/** An event log past this size earns a warning (1 GiB). */
export const LARGE_LOG_BYTES = 1024 ** 3;

export interface LogSizeEstimate {
  /** Bytes written after `iteration` iterations. */
  readonly bytes: number;
  readonly iteration: number;
  readonly maxIterations: number;
  /** Bytes at this rate after `maxIterations`. */
  readonly estimatedBytes: number;
}

/**
 * Watches the log's growth per iteration from the first 1 % of the iterations (at least 10) on,
 * and at every doubling after that; calls `warn` once when the run would write more than
 * LARGE_LOG_BYTES at its budget of iterations.
 */
export function logSizeWatch(log: Pick<HashingLog, 'bytes'>, maxIterations: number, warn: (e: LogSizeEstimate) => void): (info: IterationInfo) => void {
  let next = Math.min(maxIterations, Math.max(10, Math.ceil(maxIterations / 100)));
  let warned = false;
  return (info) => {
    if (warned || info.iteration < next) return;
    next = Math.max(next * 2, info.iteration + 1);
    const estimatedBytes = (log.bytes / info.iteration) * maxIterations;
    if (estimatedBytes > LARGE_LOG_BYTES) {
      warned = true;
      warn({ bytes: log.bytes, iteration: info.iteration, maxIterations, estimatedBytes });
    }
  };
}

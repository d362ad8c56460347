import { z } from 'zod';
import { closest, describeIssue, ValidationError } from '@masha/protocol';

/**
 * Churn traces (SPEC §6): JSON Lines, one event per line, times in seconds from the start of the
 * run, non-decreasing.
 *
 *   {"t": 0, "event": "join", "peer": "p7", "uplinkMbps": 5}      a peer arrives (optional link fields)
 *   {"t": 30.5, "event": "leave", "peer": "p7"}                   graceful departure (others are told)
 *   {"t": 31, "event": "crash", "peer": "p3"}                     silent failure (found by the lease)
 *   {"t": 40, "event": "slow", "peer": "p2", "factor": 4}         compute ×4, bandwidth ÷4 (1 restores)
 *   {"t": 50, "event": "partition", "peer": "p2", "group": "b"}   p2 can only reach peers in group "b"
 *   {"t": 90, "event": "heal", "peer": "p2"}                      p2 back in the main group
 *   {"t": 90, "event": "heal"}                                    every peer back in the main group
 *
 * Initial population: the peers that join at t = 0. A trace without any join at t = 0 (in
 * particular an empty trace) starts with the run's M shards' worth of default peers `p0 … p(M−1)`.
 * Blank lines are ignored. Unknown fields are errors, so a typo never silently does nothing.
 */

/** Peer ids travel in frame headers: 1..64 printable ASCII characters. */
export const PEER_ID_RE = /^[\x21-\x7e]{1,64}$/;

export const MAIN_GROUP = 'main';

const time = z.number().finite().min(0).max(1e9);
const peer = z.string().regex(PEER_ID_RE, 'must be 1..64 printable ASCII characters without spaces');
const positive = z.number().finite().positive();
const nonNegative = z.number().finite().min(0);

const joinSchema = z.strictObject({
  t: time,
  event: z.literal('join'),
  peer,
  computeMs: nonNegative.optional(),
  uplinkMbps: positive.optional(),
  downlinkMbps: positive.optional(),
  latencyMs: nonNegative.optional(),
  jitterMs: nonNegative.optional(),
  loss: z.number().finite().min(0).lt(1).optional(),
});
const leaveSchema = z.strictObject({ t: time, event: z.literal('leave'), peer });
const crashSchema = z.strictObject({ t: time, event: z.literal('crash'), peer });
const slowSchema = z.strictObject({ t: time, event: z.literal('slow'), peer, factor: positive.max(1e6) });
const partitionSchema = z.strictObject({
  t: time,
  event: z.literal('partition'),
  peer,
  group: z.string().regex(PEER_ID_RE, 'must be 1..64 printable ASCII characters without spaces'),
});
const healSchema = z.strictObject({ t: time, event: z.literal('heal'), peer: peer.optional() });

export const traceEventSchema = z.discriminatedUnion('event', [joinSchema, leaveSchema, crashSchema, slowSchema, partitionSchema, healSchema]);

export type TraceEvent = z.infer<typeof traceEventSchema>;
export type JoinEvent = z.infer<typeof joinSchema>;
export type TraceEventKind = TraceEvent['event'];

export const TRACE_EVENT_KINDS: readonly TraceEventKind[] = ['join', 'leave', 'crash', 'slow', 'partition', 'heal'];

/** A validated trace: events in file order and the 1-based line each came from. */
export interface Trace {
  readonly events: readonly TraceEvent[];
  readonly lines: readonly number[];
}

/** A trace that failed validation: `line` is 1-based, `field` names the offending field ('' for the whole line). */
export class TraceError extends ValidationError {
  readonly line: number;
  constructor(line: number, field: string, detail: string) {
    super(field, detail);
    this.line = line;
    this.message = `trace line ${line}${field ? `, field "${field}"` : ''}: ${detail}`;
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

/** Validates one already-parsed JSON value as a trace event. */
export function parseTraceEvent(value: unknown, line: number): TraceEvent {
  const r = traceEventSchema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
  let field = issuePath(issue.path);
  let detail = describeIssue(issue, { schema: traceEventSchema, value });
  if (issue.code === 'unrecognized_keys') {
    field = issue.keys[0] ?? field;
    if (!detail.includes('did you mean')) detail = `unknown field (allowed: ${allowedFields(value).join(', ')})`;
  } else if (field === 'event' || issue.code === 'invalid_union') {
    field = 'event';
    const kind = typeof value === 'object' && value !== null ? (value as { event?: unknown }).event : undefined;
    const guess = typeof kind === 'string' ? closest(kind, TRACE_EVENT_KINDS) : null;
    detail = `must be one of ${TRACE_EVENT_KINDS.join(', ')}${guess !== null ? ` — did you mean '${guess}'?` : ''}`;
  }
  throw new TraceError(line, field, detail);
}

function allowedFields(value: unknown): string[] {
  const kind = typeof value === 'object' && value !== null ? (value as { event?: unknown }).event : undefined;
  const schema = [joinSchema, leaveSchema, crashSchema, slowSchema, partitionSchema, healSchema].find((s) => s.shape.event.value === kind);
  return schema ? Object.keys(schema.shape) : [];
}

/** Parses and validates JSON Lines text. Throws TraceError naming the line and field. */
export function parseTrace(text: string, maxEvents = 10_000_000): Trace {
  const events: TraceEvent[] = [];
  const lines: number[] = [];
  let lineNo = 0;
  let start = 0;
  let lastT = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new TraceError(lineNo, '', `not valid JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TraceError(lineNo, '', 'each line must be a JSON object');
    }
    const ev = parseTraceEvent(value, lineNo);
    if (ev.t < lastT) throw new TraceError(lineNo, 't', `times must not decrease (previous event at t=${lastT})`);
    lastT = ev.t;
    if (events.length >= maxEvents) throw new TraceError(lineNo, '', `more than ${maxEvents} events`);
    events.push(ev);
    lines.push(lineNo);
  }
  return { events, lines };
}

/** The default population of a run with M shards and a trace without joins at t = 0. */
export function defaultPeerIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `p${i}`);
}

/** Ids of the peers present at t = 0: the joins at t = 0, else `defaultCount` default peers. */
export function initialPeers(trace: Trace, defaultCount: number): string[] {
  const ids: string[] = [];
  for (const ev of trace.events) {
    if (ev.t > 0) break;
    if (ev.event === 'join') ids.push(ev.peer);
  }
  return ids.length > 0 ? ids : defaultPeerIds(defaultCount);
}

/**
 * Checks that the trace is consistent with its population: no join of a present peer, no
 * leave/crash/slow/partition of an absent one, no partition into the main group's name.
 * Throws TraceError naming the line and the `peer` field.
 */
export function checkTraceConsistency(trace: Trace, defaultCount: number): void {
  const present = new Set<string>();
  const explicitStart = trace.events.some((e) => e.t === 0 && e.event === 'join');
  if (!explicitStart) for (const id of defaultPeerIds(defaultCount)) present.add(id);
  trace.events.forEach((ev, i) => {
    const line = trace.lines[i];
    switch (ev.event) {
      case 'join':
        if (present.has(ev.peer)) throw new TraceError(line, 'peer', `"${ev.peer}" joins but is already present`);
        present.add(ev.peer);
        break;
      case 'leave':
      case 'crash':
        if (!present.has(ev.peer)) throw new TraceError(line, 'peer', `"${ev.peer}" is not present (${ev.event})`);
        present.delete(ev.peer);
        break;
      case 'slow':
        if (!present.has(ev.peer)) throw new TraceError(line, 'peer', `"${ev.peer}" is not present (slow)`);
        break;
      case 'partition':
        if (!present.has(ev.peer)) throw new TraceError(line, 'peer', `"${ev.peer}" is not present (partition)`);
        if (ev.group === MAIN_GROUP) throw new TraceError(line, 'group', `"${MAIN_GROUP}" is the unpartitioned group; use "heal"`);
        break;
      case 'heal':
        if (ev.peer !== undefined && !present.has(ev.peer)) throw new TraceError(line, 'peer', `"${ev.peer}" is not present (heal)`);
        break;
    }
  });
}

const FIELD_ORDER = ['t', 'event', 'peer', 'group', 'factor', 'computeMs', 'uplinkMbps', 'downlinkMbps', 'latencyMs', 'jitterMs', 'loss'] as const;

/** One event as a JSON line with a fixed key order. */
export function formatTraceEvent(ev: TraceEvent): string {
  const rec = ev as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of FIELD_ORDER) if (rec[k] !== undefined) parts.push(`${JSON.stringify(k)}:${JSON.stringify(rec[k])}`);
  return `{${parts.join(',')}}`;
}

/** A whole trace as JSON Lines text (trailing newline; empty string for no events). */
export function formatTrace(events: readonly TraceEvent[]): string {
  let s = '';
  for (const ev of events) s += formatTraceEvent(ev) + '\n';
  return s;
}

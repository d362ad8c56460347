/**
 * What a relay remembers about the runs announced through it, so that `masha status` can say that
 * a run ended (and how) after its launcher has gone: gossip keeps no history, and announcements
 * stop when the launcher exits. The relay answers a `/masha/runs/1.0.0` stream with one
 * length-prefixed UTF-8 JSON document `{ v: 1, runs: RunRecord[] }` (at most MAX_RUN_RECORDS,
 * newest first) and closes it.
 *
 * Untrusted: a relay may lie or be another program. The reader checks the size (MAX_REGISTRY_BYTES),
 * the shape (zod) and every run id; a record is what the relay says it heard, shown as such.
 */
import { utf8DecodeStrict, utf8Encode } from '../utf8.js';
import { ValidationError } from '../errors.js';
import { z } from 'zod';
import type { RunAnnouncement } from './announce.js';
import { STOP_REASONS } from './summary.js';

export const REGISTRY_VERSION = 1;
export const MAX_RUN_RECORDS = 64;
export const MAX_REGISTRY_BYTES = 256 * 1024;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const recordSchema = z.strictObject({
  runId: z.string().regex(/^[0-9a-f]{64}$/),
  state: z.enum(['open', 'finished']),
  method: z.string().max(64),
  compressor: z.string().max(200),
  launcher: z.string().max(200),
  /** Launcher's wall clock when the run was first published (ms since the epoch). */
  startedAt: count,
  /** How long ago the relay last heard the announcement (ms, by the relay's clock). */
  lastSeenMsAgo: count,
  outcome: z.strictObject({ stop: z.enum(STOP_REASONS), reached: z.boolean().nullable(), iterations: count, committedRounds: count }).nullable(),
});

const documentSchema = z.strictObject({
  v: z.literal(REGISTRY_VERSION),
  runs: z.array(recordSchema).max(MAX_RUN_RECORDS),
});

export type RunRecord = z.infer<typeof recordSchema>;

/** The record of an announcement heard `agoMs` ago. */
export function runRecordOf(a: RunAnnouncement, agoMs: number): RunRecord {
  return {
    runId: a.runId,
    state: a.state,
    method: a.manifest.method.name,
    compressor: a.manifest.compressors.device,
    launcher: a.launcher,
    startedAt: a.startedAt,
    lastSeenMsAgo: Math.max(0, Math.round(agoMs)),
    outcome: a.outcome ?? null,
  };
}

export function encodeRegistry(runs: readonly RunRecord[]): Uint8Array {
  return utf8Encode(JSON.stringify({ v: REGISTRY_VERSION, runs: runs.slice(0, MAX_RUN_RECORDS) }));
}

/** Parses a relay's answer; throws ValidationError naming the first bad field. */
export function decodeRegistry(bytes: Uint8Array): RunRecord[] {
  if (bytes.byteLength > MAX_REGISTRY_BYTES) throw new ValidationError('registry', `answer of ${bytes.byteLength} bytes exceeds ${MAX_REGISTRY_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(utf8DecodeStrict(bytes));
  } catch (e) {
    throw new ValidationError('registry', `not UTF-8 JSON: ${(e as Error).message}`);
  }
  const r = documentSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ValidationError(`registry.${issue.path.join('.')}`, issue.message);
  }
  return r.data.runs;
}

/**
 * events.jsonl: one schema for the simulator's event log and the real swarm's (the launcher's and
 * every volunteer's), so one tool reads both.
 *
 * Every line is a JSON object whose first keys are `t` and `ev`:
 * - `t`: seconds — simulated seconds since the start in the simulator, Unix time (seconds, with
 *   millisecond resolution) in the swarm. Differences of `t` are durations in both.
 * - `ev`: what happened. The peer-host records (`start`, `receive`, `commit`, `election`, `metric`,
 *   `done`, `reject`, `held`, `state`, `timer`, `error`, `tree`; see host/records.ts) have the same
 *   fields everywhere. The simulator adds its network and churn events (`send`, `relay`, `broadcast`, `drop`,
 *   `join`, `leave`, `crash`, `slow`, `partition`, `heal`); the swarm adds the runtime's (`engine-start`,
 *   `launch`, `resume`, `checkpoint`, `peer`, `peer-silent`, `peer-back`, `end`, `summary`, `exit`,
 *   and `device`: where a volunteer computes, once at its start).
 *
 * `parseEventLine` validates one line (unknown `ev` values and extra fields are refused: a reader
 * that accepts a line knows what every field means).
 */
import { z } from 'zod';
import { ENGINE_COUNTERS } from '../engine/types.js';
import { MashaError } from '../errors.js';
import { TREE_MILESTONES } from '../host/records.js';
import { DEVICE_PROVIDERS, DEVICE_REQUESTS } from './status.js';

const num = z.number().refine(Number.isFinite, 'must be finite');
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const peer = z.string().min(1).max(128);
const hex = z.string().regex(/^[0-9a-f]+$/);
const base = { t: num.min(0) };

/** The host's records (host/records.ts), as lines. */
const hostLines = [
  z.strictObject({ ...base, ev: z.literal('start'), peer, runId: hex, role: z.enum(['volunteer', 'observer']) }),
  z.strictObject({ ...base, ev: z.literal('receive'), peer, from: peer, kind: count, epoch: count, round: count, phase: count, bytes: count }),
  z.strictObject({ ...base, ev: z.literal('commit'), peer, epoch: count, round: count, iteration: count, phase: z.string(), included: count, digest: hex }),
  z.strictObject({ ...base, ev: z.literal('election'), peer, epoch: count, aggregator: peer }),
  z.strictObject({ ...base, ev: z.literal('metric'), peer, name: z.enum(ENGINE_COUNTERS), value: num }),
  z.strictObject({
    ...base,
    ev: z.literal('done'),
    peer,
    reason: z.enum(['iterations', 'target']),
    round: count,
    iteration: count,
    digest: hex,
    relDist: num.min(0).nullable(),
  }),
  z.strictObject({ ...base, ev: z.literal('reject'), peer, from: peer.nullable(), reason: z.string().max(64) }),
  z.strictObject({ ...base, ev: z.literal('held'), peer, round: count, shards: z.array(count) }),
  z.strictObject({ ...base, ev: z.literal('state'), peer, round: count, digest: hex, iteration: count }),
  z.strictObject({ ...base, ev: z.literal('timer'), peer, id: z.enum(['hb', 'wd', 'claim', 'gather', 'deadline', 'sync', 'behind', 'commit']) }),
  z.strictObject({ ...base, ev: z.literal('error'), peer: peer.optional(), message: z.string() }),
  z.strictObject({
    ...base,
    ev: z.literal('tree'),
    peer,
    what: z.enum(TREE_MILESTONES),
    origin: peer,
    kind: count,
    epoch: count,
    round: count,
    have: count,
    frames: count,
    stripe: count.nullable(),
  }),
] as const;

/** The simulator's network and churn events. */
const simLines = [
  z.strictObject({
    ...base,
    ev: z.enum(['send', 'relay']),
    peer,
    to: peer,
    kind: count,
    epoch: count,
    round: count,
    phase: count,
    frames: count,
    bytes: count,
  }),
  z.strictObject({
    ...base,
    ev: z.literal('broadcast'),
    peer,
    kind: count,
    epoch: count,
    round: count,
    phase: count,
    frames: count,
    bytes: count,
    recipients: count,
  }),
  z.strictObject({ ...base, ev: z.literal('drop'), peer, from: peer, reason: z.enum(['dead', 'partition', 'lost', 'unreachable']), bytes: count }),
  z.strictObject({ ...base, ev: z.enum(['join', 'leave', 'crash']), peer }),
  z.strictObject({ ...base, ev: z.literal('slow'), peer, factor: num.positive() }),
  z.strictObject({ ...base, ev: z.literal('partition'), peer, group: z.string() }),
  z.strictObject({ ...base, ev: z.literal('heal'), peer: peer.nullable() }),
] as const;

/** One GPU provider's probe result (node/src/model/device.ts), or a browser's adapter check. */
const probeLine = z.strictObject({
  provider: z.enum(DEVICE_PROVIDERS),
  ok: z.boolean(),
  reason: z.string().max(500),
  worstError: num.min(0).nullable(),
  ms: num.min(0).nullable(),
});

/** The swarm runtime's own events (launcher, volunteers); their fields are the runtime's business. */
const runtimeLines = [
  z.looseObject({ ...base, ev: z.enum(['engine-start', 'launch', 'resume', 'checkpoint', 'peer', 'peer-silent', 'peer-back', 'end', 'summary', 'exit']) }),
  // Where a volunteer computes (issue 17), once at its start: what was asked, what was chosen and why.
  z.strictObject({
    ...base,
    ev: z.literal('device'),
    peer,
    requested: z.enum(DEVICE_REQUESTS),
    provider: z.enum(DEVICE_PROVIDERS),
    gpu: z.boolean(),
    reason: z.string().max(2000),
    probes: z.array(probeLine).max(8),
  }),
] as const;

export const eventLineSchema = z.union([...hostLines, ...simLines, ...runtimeLines]);

export type EventLine = z.output<typeof eventLineSchema>;

/** Each line's schema by its `ev`, so that a refusal names the field of that event, not the union. */
const BY_EV = new Map<string, z.ZodType<EventLine>>();
for (const schema of [...hostLines, ...simLines, ...runtimeLines]) {
  const tag = schema.shape.ev;
  for (const ev of tag instanceof z.ZodEnum ? tag.options : [tag.value]) BY_EV.set(ev, schema);
}

export class EventLineError extends MashaError {
  constructor(message: string) {
    super('bad-event-line', message);
  }
}

/** Parses and validates one line of an events.jsonl file. Throws EventLineError naming the problem. */
export function parseEventLine(line: string): EventLine {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (e) {
    throw new EventLineError(`not JSON: ${(e as Error).message}`);
  }
  const ev = typeof json === 'object' && json !== null && 'ev' in json ? json.ev : undefined;
  const schema = typeof ev === 'string' ? BY_EV.get(ev) : undefined;
  if (schema === undefined) throw new EventLineError(`unknown event ${JSON.stringify(ev ?? null)} (known: ${[...BY_EV.keys()].sort().join(', ')})`);
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new EventLineError(`event '${ev as string}': ${issue ? `${issue.path.join('.') || '(line)'}: ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}

/**
 * The binary wire form of a peer status report (status.ts). Every volunteer publishes one about
 * every second and the status topic's mesh forwards each to every subscriber, so its size is paid
 * many times over: as JSON a report was ~870 bytes (mostly counter names); this form is ~150–250.
 *
 * Layout (integers are LEB128 varints, minimal, at most 2^53 − 1; ids are length-prefixed
 * printable ASCII; text is length-prefixed strict UTF-8):
 *
 * ```
 * u8   format = STATUS_WIRE_FORMAT
 * u16  counter dictionary check (little-endian; the low 16 bits of FNV-1a over the names)
 * 32   run id
 * var  seq
 * u8   flags: 1 launcher role, 2 isAggregator, 4 aggregator present, 8 relDist present,
 *      16 done present, 32 device present (other bits zero)
 * var  epoch, round, iteration
 * id   aggregator                                   (flag 4)
 * 32   digest
 * f64  relDist                                      (flag 8)
 * var  n held listed (≤ MAX_LISTED_SHARDS), then n varints
 * var  heldCount
 * text done (≤ 64 characters, ≤ 256 bytes)          (flag 16)
 * var  uptimeMs; bytes.direct, .broadcast, .received, .wireSent, .wireReceived; rejected
 * var  n counters (≤ MAX_COUNTERS), each: var key (k < dictionary size: that name; k = size: a
 *      text name of 1–48 characters follows), var value
 * u8   device: provider index | gpu << 2 | requested index << 3   (flag 32)
 * ```
 *
 * Counter names come from a fixed dictionary (the host's and links' counters, then the engine's
 * ENGINE_COUNTERS in order); any other name travels as text. Peers whose dictionaries differ
 * (other builds) refuse each other's reports rather than misname counters: the check says so.
 * Decoding checks every bound and the result is validated against the report schema as well
 * (status.ts); this module throws StatusError only.
 */
import { ENGINE_COUNTERS } from '../engine/types.js';
import { ByteReader, ByteWriter, MessageError } from '../engine/bytes.js';
import { toHex, writeHex } from '../frames/format.js';
import { utf8DecodeStrict, utf8Encode } from '../utf8.js';
// status.ts imports this module too; only functions here use its bindings (no evaluation-order issue).
import { DEVICE_PROVIDERS, DEVICE_REQUESTS, MAX_COUNTERS, MAX_LISTED_SHARDS, STATUS_VERSION, StatusError, type PeerStatus } from './status.js';

/** First byte of a binary report (a JSON document would start with `{`, 0x7b). */
export const STATUS_WIRE_FORMAT = 0x02;

/**
 * First byte of a status query: `u8 0x03, 32 run id, var nonce` (35–43 bytes). A watcher that
 * has just subscribed (`masha status`) publishes one on the run's status topic, and every peer that
 * hears it sends its report at its next status tick instead of waiting for its steady period. A
 * query costs each peer at most one report per status interval, whoever sends how many.
 */
export const STATUS_QUERY_FORMAT = 0x03;

/** Whether the bytes on a status topic are a query (to be parsed with decodeStatusQuery), not a report. */
export function isStatusQuery(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === STATUS_QUERY_FORMAT;
}

/** A status query for `runId`; `nonce` makes repeated queries distinct for gossip de-duplication. */
export function encodeStatusQuery(runId: string, nonce: number): Uint8Array {
  const run = new Uint8Array(32);
  writeHex(runId, run, 0);
  return new ByteWriter(48).u8(STATUS_QUERY_FORMAT).raw(run).varint(nonce).finish().slice();
}

/** Parses an untrusted status query. Throws StatusError only. */
export function decodeStatusQuery(bytes: Uint8Array): { readonly runId: string; readonly nonce: number } {
  try {
    const r = new ByteReader(bytes, 'status-query');
    const format = r.u8('format');
    if (format !== STATUS_QUERY_FORMAT) r.fail('format', `not a status query (first byte ${format})`);
    const runId = toHex(r.raw(32, 'runId'));
    const nonce = r.varint('nonce');
    r.end();
    return { runId, nonce };
  } catch (e) {
    if (e instanceof MessageError) throw new StatusError(e.message);
    throw e;
  }
}

/** Counters every host and link reports: the dictionary's first names (append only). */
const HOST_COUNTERS = [
  'net-uplinks-sent',
  'net-commits-sent',
  'net-frames-refused',
  'net-uplink-body-bytes',
  'net-commit-body-bytes',
  'net-tree-relayed-bytes',
  'net-tree-repairs',
  'net-send-failed',
  'net-publish-failed',
  'net-relay-failed',
  'net-transport-refused',
  'net-uplink-stream-bytes',
  'net-gossip-stream-bytes',
  'net-tree-stream-bytes',
  'net-webrtc-links',
] as const;

/** Counter names sent as a dictionary index. */
export const STATUS_COUNTER_NAMES: readonly string[] = [...HOST_COUNTERS, ...ENGINE_COUNTERS];
const INDEX = new Map<string, number>(STATUS_COUNTER_NAMES.map((n, i) => [n, i]));

function fnv16(names: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const n of names) {
    for (let i = 0; i < n.length; i++) h = Math.imul(h ^ n.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x0a, 0x01000193);
  }
  return h & 0xffff;
}

/** Identifies the counter dictionary (a report from a build with another one is refused). */
export const STATUS_DICTIONARY_CHECK = fnv16(STATUS_COUNTER_NAMES);

const F_LAUNCHER = 1;
const F_IS_AGGREGATOR = 2;
const F_AGGREGATOR = 4;
const F_REL_DIST = 8;
const F_DONE = 16;
const F_DEVICE = 32;
const F_ALL = 63;

const MAX_DONE_BYTES = 256;
const MAX_NAME_BYTES = 192;

function text(w: ByteWriter, s: string): void {
  w.bytes(utf8Encode(s));
}

/** The report's bytes. The caller has validated `s` against the schema (status.ts). */
export function writeStatus(s: PeerStatus): Uint8Array {
  const w = new ByteWriter(256);
  w.u8(STATUS_WIRE_FORMAT);
  w.u8(STATUS_DICTIONARY_CHECK & 0xff).u8(STATUS_DICTIONARY_CHECK >>> 8);
  const run = new Uint8Array(32);
  writeHex(s.runId, run, 0);
  w.raw(run);
  w.varint(s.seq);
  let flags = 0;
  if (s.role === 'launcher') flags |= F_LAUNCHER;
  if (s.isAggregator) flags |= F_IS_AGGREGATOR;
  if (s.aggregator !== null) flags |= F_AGGREGATOR;
  if (s.relDist !== null) flags |= F_REL_DIST;
  if (s.done !== null) flags |= F_DONE;
  if (s.device !== undefined) flags |= F_DEVICE;
  w.u8(flags);
  w.varint(s.epoch).varint(s.round).varint(s.iteration);
  if (s.aggregator !== null) w.ident(s.aggregator);
  const digest = new Uint8Array(32);
  writeHex(s.digest, digest, 0);
  w.raw(digest);
  if (s.relDist !== null) w.f64(s.relDist);
  w.varint(s.held.length);
  for (const h of s.held) w.varint(h);
  w.varint(s.heldCount);
  if (s.done !== null) text(w, s.done);
  w.varint(s.uptimeMs);
  const b = s.bytes;
  w.varint(b.direct).varint(b.broadcast).varint(b.received).varint(b.wireSent).varint(b.wireReceived);
  w.varint(s.rejected);
  const names = Object.keys(s.counters);
  w.varint(names.length);
  for (const name of names) {
    const k = INDEX.get(name);
    if (k !== undefined) w.varint(k);
    else {
      w.varint(STATUS_COUNTER_NAMES.length);
      text(w, name);
    }
    w.varint(s.counters[name] ?? 0);
  }
  if (s.device !== undefined) {
    w.u8(DEVICE_PROVIDERS.indexOf(s.device.provider) | (s.device.gpu ? 4 : 0) | (DEVICE_REQUESTS.indexOf(s.device.requested) << 3));
  }
  return w.finish().slice();
}

function readText(r: ByteReader, field: string, maxBytes: number): string {
  const bytes = r.bytes(field, maxBytes);
  try {
    return utf8DecodeStrict(bytes);
  } catch {
    return r.fail(field, 'not UTF-8');
  }
}

/**
 * Parses the bytes of a report into the report's shape (not yet checked against the schema's
 * ranges: status.ts does that). Throws StatusError only.
 */
export function readStatus(bytes: Uint8Array): unknown {
  try {
    return readFields(bytes);
  } catch (e) {
    if (e instanceof MessageError) throw new StatusError(e.message);
    throw e;
  }
}

function readFields(bytes: Uint8Array): unknown {
  const r = new ByteReader(bytes, 'status');
  const format = r.u8('format');
  if (format !== STATUS_WIRE_FORMAT) r.fail('format', `not a binary status report (first byte ${format}, expected ${STATUS_WIRE_FORMAT})`);
  const check = r.u8('dictionary') | (r.u8('dictionary') << 8);
  if (check !== STATUS_DICTIONARY_CHECK)
    r.fail('dictionary', `counter dictionary ${check} differs from this build's ${STATUS_DICTIONARY_CHECK} (another version)`);
  const runId = toHex(r.raw(32, 'runId'));
  const seq = r.varint('seq');
  const flags = r.u8('flags');
  if ((flags & ~F_ALL) !== 0) r.fail('flags', `unknown flag bits ${flags}`);
  const epoch = r.varint('epoch');
  const round = r.varint('round');
  const iteration = r.varint('iteration');
  const aggregator = (flags & F_AGGREGATOR) !== 0 ? r.ident('aggregator') : null;
  const digest = toHex(r.raw(32, 'digest'));
  let relDist: number | null = null;
  if ((flags & F_REL_DIST) !== 0) {
    const f = new Float64Array(1);
    r.f64sInto(f, 'relDist');
    relDist = f[0];
  }
  const listed = r.varint('held', MAX_LISTED_SHARDS);
  const held: number[] = [];
  for (let i = 0; i < listed; i++) held.push(r.varint('held', 1e6, i));
  const heldCount = r.varint('heldCount');
  const done = (flags & F_DONE) !== 0 ? readText(r, 'done', MAX_DONE_BYTES) : null;
  const uptimeMs = r.varint('uptimeMs');
  const sent = {
    direct: r.varint('bytes.direct'),
    broadcast: r.varint('bytes.broadcast'),
    received: r.varint('bytes.received'),
    wireSent: r.varint('bytes.wireSent'),
    wireReceived: r.varint('bytes.wireReceived'),
  };
  const rejected = r.varint('rejected');
  const n = r.varint('counters', MAX_COUNTERS);
  const counters: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = r.varint('counters', STATUS_COUNTER_NAMES.length, i, 'name');
    const name = k < STATUS_COUNTER_NAMES.length ? STATUS_COUNTER_NAMES[k] : readText(r, `counters[${i}].name`, MAX_NAME_BYTES);
    if (Object.hasOwn(counters, name)) r.fail(`counters[${i}]`, `counter ${JSON.stringify(name)} twice`);
    counters[name] = r.varint('counters', Number.MAX_SAFE_INTEGER, i, 'value');
  }
  let device: { provider: string; gpu: boolean; requested: string } | undefined;
  if ((flags & F_DEVICE) !== 0) {
    const d = r.u8('device');
    const provider = DEVICE_PROVIDERS[d & 3];
    const requested = DEVICE_REQUESTS[d >>> 3];
    if (d >>> 3 >= DEVICE_REQUESTS.length || requested === undefined) r.fail('device', `unknown device byte ${d}`);
    device = { provider, gpu: (d & 4) !== 0, requested };
  }
  r.end();
  return {
    v: STATUS_VERSION,
    runId,
    seq,
    role: (flags & F_LAUNCHER) !== 0 ? 'launcher' : 'volunteer',
    epoch,
    aggregator,
    isAggregator: (flags & F_IS_AGGREGATOR) !== 0,
    round,
    iteration,
    digest,
    relDist,
    held,
    heldCount,
    done,
    uptimeMs,
    bytes: sent,
    rejected,
    counters,
    ...(device !== undefined ? { device } : {}),
  };
}

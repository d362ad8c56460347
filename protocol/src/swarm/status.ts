/**
 * Peer status reports: a small document each peer of a run publishes on the run's status topic
 * every second or so (and once more when it finishes). `masha status` renders them as a table;
 * the launcher sums their counters into summary.json. On the wire a report is binary
 * (status-wire.ts: ~200 bytes where its JSON was ~870, and every report is forwarded by the
 * whole status mesh).
 *
 * Untrusted input: a report is at most MAX_STATUS_BYTES, parsed with hard bounds (status-wire.ts)
 * and validated with zod (integers and finite numbers in range, bounded strings and lists);
 * anything else is refused with a StatusError. The reporting peer's identity is the gossip message's signed author, never
 * a field of the report.
 */
import { readStatus, writeStatus } from './status-wire.js';
import { MashaError } from '../errors.js';
import { z } from 'zod';

export const STATUS_VERSION = 1;
export const MAX_STATUS_BYTES = 8 * 1024;
/** Most held shards listed in a report (`heldCount` gives the total). */
export const MAX_LISTED_SHARDS = 256;
/**
 * A volunteer's report cadence on Node: it checks every second and reports when its role, epoch,
 * aggregator, held shards or end changed, when a watcher asked (a status query), and otherwise
 * every STATUS_STEADY_MS. Each report is forwarded by the whole status mesh, so on 0.2–0.5 s
 * rounds a report a second from every peer was most of a round's gossip. Watchers count a peer
 * live for somewhat more than this.
 */
export const STATUS_STEADY_MS = 5_000;
/** Most counters in a report. */
export const MAX_COUNTERS = 48;

export class StatusError extends MashaError {
  constructor(message: string) {
    super('bad-status', message);
  }
}

const count = () => z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));
const peerId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/);

const bytesSchema = z.strictObject({
  /** Frame bytes this peer sent on direct streams (uplinks, heartbeats, state transfer). */
  direct: count(),
  /** Frame bytes this peer published on the broadcast topic (each broadcast counted once). */
  broadcast: count(),
  /** Frame bytes this peer received (direct and gossip). */
  received: count(),
  /** Transport-level bytes of the whole node (TCP/WebSocket connections, encryption and muxing included). */
  wireSent: count(),
  wireReceived: count(),
});

/**
 * Where a peer computes its operator evaluations (issue 17): the ONNX Runtime execution provider
 * (`cpu`, `cuda`, `webgpu` — Node's onnxruntime-node, or a browser's onnxruntime-web WebGPU
 * backend — or `wasm`, a browser's or Node's onnxruntime-web on the CPU) and what the volunteer
 * asked for. Informational only: nothing in the engine trusts it.
 */
export const DEVICE_PROVIDERS = ['cpu', 'cuda', 'webgpu', 'wasm'] as const;
export type DeviceProvider = (typeof DEVICE_PROVIDERS)[number];
export const DEVICE_REQUESTS = ['auto', 'cpu', 'gpu'] as const;
export type DeviceRequest = (typeof DEVICE_REQUESTS)[number];
export const deviceSchema = z.strictObject({
  provider: z.enum(DEVICE_PROVIDERS),
  /** The provider computes on a GPU (`cuda`, `webgpu`). */
  gpu: z.boolean(),
  requested: z.enum(DEVICE_REQUESTS),
});
export type StatusDevice = z.output<typeof deviceSchema>;

export const statusSchema = z.strictObject({
  v: z.literal(STATUS_VERSION),
  runId: hex(64),
  /** Increases with every report of a peer (and makes each report's bytes unique for gossip de-duplication). */
  seq: count(),
  role: z.enum(['volunteer', 'launcher']),
  epoch: count(),
  aggregator: peerId.nullable(),
  isAggregator: z.boolean(),
  /** Last committed round applied, its iteration count and replica digest. */
  round: count(),
  iteration: count(),
  digest: hex(64),
  /** Relative squared distance of the peer's iterate to z* (null when unknown). */
  relDist: z.number().min(0).refine(Number.isFinite, 'must be finite').nullable(),
  held: z.array(z.number().int().min(0).max(1e6)).max(MAX_LISTED_SHARDS),
  heldCount: count(),
  done: z.string().max(64).nullable(),
  /** Milliseconds since the peer started on this run. */
  uptimeMs: count(),
  bytes: bytesSchema,
  /** Frames or messages this peer refused (bad bytes, limits, bodies the engine refused). */
  rejected: count(),
  /** Engine counters (stale-epoch, late-uplink, round-retry, …) and driver counters. */
  counters: z.record(z.string().min(1).max(48), count()).refine((r) => Object.keys(r).length <= MAX_COUNTERS, `at most ${MAX_COUNTERS} counters`),
  /** Where this peer computes (model runs; absent when the peer does not say). */
  device: deviceSchema
    .optional()
    .refine((d) => d === undefined || d.gpu === (d.provider === 'cuda' || d.provider === 'webgpu'), 'gpu must say whether the provider is a GPU one'),
});

export type PeerStatus = z.output<typeof statusSchema>;

/** Serialises a report; refuses one that would not pass `decodeStatus` (a bug on our side). */
export function encodeStatus(status: PeerStatus): Uint8Array {
  const checked = statusSchema.safeParse(status);
  if (!checked.success) throw new StatusError(`invalid status report: ${checked.error.issues[0]?.message ?? 'unknown'}`);
  const bytes = writeStatus(checked.data);
  if (bytes.length > MAX_STATUS_BYTES) throw new StatusError(`status report of ${bytes.length} bytes exceeds ${MAX_STATUS_BYTES}`);
  return bytes;
}

/** Validates a report's fields (already parsed) against the schema. Throws StatusError only. */
export function checkStatus(value: unknown): PeerStatus {
  const r = statusSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new StatusError(`status report: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  return r.data;
}

/** Parses and validates an untrusted report. Throws StatusError only. */
export function decodeStatus(bytes: Uint8Array): PeerStatus {
  if (bytes.length === 0 || bytes.length > MAX_STATUS_BYTES) throw new StatusError(`status report of ${bytes.length} bytes (limit ${MAX_STATUS_BYTES})`);
  return checkStatus(readStatus(bytes));
}

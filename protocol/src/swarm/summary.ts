/**
 * summary.json: one schema for a simulated run (`masha-sim run`, host "simulator") and a real
 * swarm run (`masha launch` / `npm start`, host "swarm"), so that one tool reads both. Both writers
 * validate their summary with `parseRunSummary` before writing it; readers validate it again.
 *
 * Units and clocks:
 * - `wallSeconds`: elapsed wall-clock seconds of the run, measured on the writer's monotonic clock
 *   (`performance.now()`). Simulator: the simulation itself (inputs already read and checked).
 *   Swarm: the launcher, from the moment a relay answered (just before the run is published) to
 *   the end of the run. `npm start`'s own total also counts starting the relay and volunteers and
 *   stopping them, and is printed as such, not as `wallSeconds`.
 * - `simSeconds`: simulated (virtual) seconds; null for a swarm.
 * - `startedAt`: the start of the run as an ISO 8601 UTC date-time (wall clock).
 * - Bytes are bytes. `uplinkBytes` and `downlinkBytes` count *frame* bytes (Masha's frames: payload
 *   plus frame headers, as the peers produce them): point-to-point messages (uplinks, state
 *   transfers) summed over senders, and broadcasts (commits, heartbeats) counted once per broadcast.
 *   `wireBytes` counts what crossed the links: in the simulator every frame on every link (each
 *   relay hop), in a swarm every byte the processes sent on their connections (TCP/WebSocket, with
 *   encryption, multiplexing and gossip overhead and every gossip copy).
 *
 * Counters (same meaning for both hosts; where the measurement differs it says so):
 * - `rounds`: round attempts; `committedRounds`: rounds of the final state (the lineage the peers
 *   end on); `abortedRounds`: attempts that did not become part of the final state (retried,
 *   aborted, cut short by a failover, or on the losing side of a partition). The simulator sees
 *   every attempt; a swarm counts what the aggregators reported (retries and aborts), so a round
 *   cut short by an aggregator that died before reporting it is not counted.
 * - `elections`: distinct epochs adopted, the bootstrap election included.
 * - `lateFrames`: uplinks that arrived after their round had committed; `rejectedFrames`: frames
 *   or messages refused as malformed; `staleMessages`: messages of an older epoch, ignored.
 * - `framesLost`: frames dropped by the simulator's loss model; null for a swarm (a real
 *   transport retransmits).
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { zodValidationError } from '../zod-errors.js';

const count = z.number().int().min(0);
const nonNegative = z.number().min(0);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');

/** Why a run ended. */
export const STOP_REASONS = [
  /** The target was met (every peer finished / the launcher's observer applied the final commit). */
  'done:target',
  /** The iteration budget (`stop.iterations`) was spent. */
  'done:iterations',
  /** Swarm: every live volunteer reported done before the launcher's observer caught up. */
  'done:volunteers',
  /** Simulator: nothing left to happen before every peer finished (the run stalled). */
  'idle',
  /** Simulator: the simulated-time limit was reached (`--max-sim-seconds`). */
  'time',
  /** Simulator: the event limit was reached. */
  'events',
  /** Swarm: the launcher's `--timeout` passed. */
  'timeout',
  /** Swarm: the launcher was interrupted (Ctrl-C, SIGTERM, SIGHUP). */
  'interrupted',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

/** Simulator only: the network model. */
const simulationSchema = z.strictObject({
  /** Network seed (jitter, loss, relay layouts). */
  seed: count,
  /** Broadcast relay fan-out. */
  fanout: count,
  /** The default link of every peer (trace joins may override fields). */
  link: z.strictObject({
    computeMs: nonNegative,
    uplinkMbps: nonNegative,
    downlinkMbps: nonNegative,
    latencyMs: nonNegative,
    jitterMs: nonNegative,
    loss: z.number().min(0).max(1),
  }),
  /** Which events events.jsonl holds: every one, or commits/elections/membership only. */
  events: z.enum(['all', 'commits']),
});

/** Swarm only: one volunteer's figures, from its last status report. */
const peerFiguresSchema = z.strictObject({
  peer: z.string().min(1),
  round: count,
  iteration: count,
  digest: z.string(),
  done: z.string().nullable(),
  isAggregator: z.boolean(),
  heldCount: count,
  uptimeMs: nonNegative,
  /** Frame bytes sent point to point / published / received, and the process's wire bytes. */
  directBytes: count,
  broadcastBytes: count,
  receivedBytes: count,
  wireSent: count,
  wireReceived: count,
  rejected: count,
  /** COMMIT broadcasts sent as aggregator, UPLINK messages sent as a device. */
  commitsSent: count,
  uplinksSent: count,
  /** Message body bytes (payload before framing) of those UPLINKs and COMMITs. */
  uplinkBodyBytes: count,
  commitBodyBytes: count,
  /** Bytes sent on uplink streams and on gossipsub streams (above the multiplexer). */
  uplinkStreamBytes: count,
  gossipStreamBytes: count,
});

/** Swarm only: where and how the run was followed. */
const swarmSchema = z.strictObject({
  relays: z.array(z.string()),
  /** Peer id of the launcher. */
  launcher: z.string().min(1),
  frameBytes: count,
  /** The launcher's own connection bytes. */
  launcherWire: z.strictObject({ sent: count, received: count }),
  /** Every volunteer ever seen, in order of first report. */
  peers: z.array(peerFiguresSchema),
});

export const runSummarySchema = z.strictObject({
  /** Which host wrote it. */
  host: z.enum(['simulator', 'swarm']),
  runId: hex64,
  startedAt: z.iso.datetime(),
  stop: z.enum(STOP_REASONS),
  /** The target was met: relative squared distance ≤ target, or ‖F‖²/‖F(z⁰)‖² ≤ target when z* is unknown. */
  reached: z.boolean(),
  /** The target `reached` was judged against; null: none (a swarm run without a known solution or stop.target). */
  target: z.number().positive().nullable(),
  iterations: count,
  rounds: count,
  committedRounds: count,
  abortedRounds: count,
  elections: count,
  lateFrames: count,
  rejectedFrames: count,
  staleMessages: count,
  framesLost: count.nullable(),
  /** ‖z − z*‖²/‖z⁰ − z*‖² of the final state; null when z* is unknown. */
  finalRelDist: nonNegative.nullable(),
  /** ‖F(z)‖² of the final iterate; null when it is not finite (a diverged run). */
  finalOpNormSq: nonNegative.nullable(),
  uplinkBytes: count,
  downlinkBytes: count,
  wireBytes: count,
  /** SHA-256 of events.jsonl as written (the simulator's determinism fingerprint). */
  logSha256: hex64.nullable(),
  simSeconds: nonNegative.nullable(),
  wallSeconds: nonNegative,
  /** Every peer that finished ends on the same replica digest (swarm: and the launcher's observer). */
  consistent: z.boolean(),
  /** Peers present at the end (swarm: volunteers that reported within 3 s of the last report). */
  peersAtEnd: count,
  /** Replica digest of the final state (hex). */
  digest: z
    .string()
    .regex(/^[0-9a-f]+$/)
    .optional(),
  /** Swarm only: volunteers ever seen. */
  peersSeen: count.optional(),
  simulation: simulationSchema.optional(),
  swarm: swarmSchema.optional(),
});

export type RunSummary = z.infer<typeof runSummarySchema>;
export type PeerFigures = z.infer<typeof peerFiguresSchema>;

/**
 * Validates a run summary (one being written, or one read from a file). Throws ValidationError
 * naming the first offending field; `simulation` belongs to the simulator, `swarm` to a swarm.
 */
export function parseRunSummary(value: unknown): RunSummary {
  const r = runSummarySchema.safeParse(value, { reportInput: true });
  if (!r.success) throw zodValidationError(r.error, { schema: runSummarySchema, value, root: 'summary' });
  const s = r.data;
  if (s.host === 'simulator' && (s.swarm !== undefined || s.simSeconds === null || s.framesLost === null)) {
    throw new ValidationError('host', 'a simulator summary has simSeconds and framesLost and no swarm section');
  }
  if (s.host === 'swarm' && (s.simulation !== undefined || s.simSeconds !== null || s.framesLost !== null)) {
    throw new ValidationError('host', 'a swarm summary has simSeconds and framesLost null and no simulation section');
  }
  if (s.committedRounds > s.rounds) throw new ValidationError('committedRounds', `exceeds rounds (${s.rounds})`);
  return s;
}

/** JSON has no form for non-finite numbers: null instead (what JSON.stringify writes). */
export function finiteOrNull(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}

/**
 * summary.json of a real run: the simulator's summary fields (sim/src/run/run-files.ts, same
 * names and meaning where they apply) plus what only a real swarm has (per-peer figures, the
 * relays, the launcher's own verification of the final state).
 *
 * Where the figures come from:
 * - final state (`iterations`, `finalRelDist`, `finalOpNormSq`, `committedRounds`, `digest`):
 *   the launcher's observer engine, which applied the run's commits itself; `consistent` says
 *   whether every volunteer that finished reports the same digest;
 * - counters (`lateFrames`, `staleMessages`, retries, rejected frames) and bytes: the sum over
 *   every volunteer ever seen of its last status report (a volunteer killed mid-run contributes
 *   what it had reported before it died);
 * - `elections`: distinct epochs seen (the bootstrap election included), as in the simulator.
 *
 * `simSeconds` and `framesLost` have no meaning for a real run and are null; `wallSeconds` is the
 * launcher's wall-clock time from publishing to the end.
 */
import type { Manifest } from '@masha/protocol';
import type { ByteCount } from '../net/wire-meter.js';
import type { PeerDriver } from '../peer/driver.js';
import type { PeerEntry } from './directory.js';

export interface PeerFigures {
  readonly peer: string;
  readonly round: number;
  readonly iteration: number;
  readonly digest: string;
  readonly done: string | null;
  readonly isAggregator: boolean;
  readonly heldCount: number;
  readonly uptimeMs: number;
  /** Frame bytes sent point to point / published / received, and the node's wire bytes. */
  readonly directBytes: number;
  readonly broadcastBytes: number;
  readonly receivedBytes: number;
  readonly wireSent: number;
  readonly wireReceived: number;
  readonly rejected: number;
  /** COMMIT broadcasts this peer sent as aggregator, UPLINK messages it sent as a device. */
  readonly commitsSent: number;
  readonly uplinksSent: number;
  /** Message body bytes of the UPLINKs it sent and the COMMITs it broadcast (payload, before framing). */
  readonly uplinkBodyBytes: number;
  readonly commitBodyBytes: number;
  /** Bytes it sent on uplink streams and on gossipsub streams (above the muxer). */
  readonly uplinkStreamBytes: number;
  readonly gossipStreamBytes: number;
}

export interface LaunchSummary {
  readonly runId: string;
  readonly rounds: number;
  readonly committedRounds: number;
  readonly abortedRounds: number;
  readonly elections: number;
  readonly lateFrames: number;
  readonly rejectedFrames: number;
  readonly finalRelDist: number | null;
  readonly finalOpNormSq: number;
  readonly uplinkBytes: number;
  readonly downlinkBytes: number;
  readonly wireBytes: number;
  readonly logSha256: string | null;
  readonly simSeconds: null;
  readonly wallSeconds: number;
  readonly reached: boolean;
  readonly iterations: number;
  readonly staleMessages: number;
  readonly framesLost: null;
  readonly consistent: boolean;
  readonly peersAtEnd: number;
  /** Why the run ended: done:target, done:iterations, done:volunteers, timeout, interrupted. */
  readonly stop: string;
  readonly target: number | null;
  /** Replica digest of the final state (the launcher's). */
  readonly digest: string;
  readonly peersSeen: number;
  readonly network: {
    readonly relays: readonly string[];
    readonly launcher: string;
    readonly frameBytes: number;
    readonly launcherWire: ByteCount;
    readonly startedAt: string;
  };
  readonly peers: readonly PeerFigures[];
}

export interface SummaryInput {
  readonly runId: string;
  readonly manifest: Manifest;
  readonly observer: PeerDriver;
  readonly peers: readonly PeerEntry[];
  readonly epochs: ReadonlySet<number>;
  readonly endReason: string;
  readonly target: number | null;
  readonly opNorm0: number;
  readonly finalOpNormSq: number;
  readonly wallSeconds: number;
  readonly startedAt: number;
  readonly launcherWire: ByteCount;
  readonly launcher: string;
  readonly relays: readonly string[];
  readonly logSha256: string | null;
}

/** A peer is counted at the end when it reported within this window of the last report seen. */
const AT_END_WINDOW_MS = 3_000;

export function buildSummary(input: SummaryInput): LaunchSummary {
  const { observer, peers } = input;
  const volunteers = peers.filter((p) => p.status.role === 'volunteer');
  const sum = (f: (e: PeerEntry) => number): number => volunteers.reduce((s, e) => s + f(e), 0);
  const counter = (name: string) => (e: PeerEntry): number => e.status.counters[name] ?? 0;
  const engine = observer.engine;
  // The observer may trail a volunteer that finished (if it could not fetch the last state): use the most advanced report then.
  const committedRounds = Math.max(engine.committedRound, ...volunteers.map((e) => e.status.round));
  const observerFinal = engine.committedRound === committedRounds;
  const finalRelDist = observerFinal ? engine.relDist() : (volunteers.find((e) => e.status.round === committedRounds)?.status.relDist ?? null);
  const finished = volunteers.filter((e) => e.status.done !== null);
  const digest = engine.digestHex;
  const consistent = observerFinal && finished.every((e) => e.status.round !== committedRounds || e.status.digest === digest);
  const retries = sum(counter('round-retry')) + sum(counter('aborted-round'));
  const target = input.target;
  const metric = finalRelDist ?? input.finalOpNormSq / (input.opNorm0 > 0 ? input.opNorm0 : 1);
  const reached = input.endReason.startsWith('done') && (target === null ? true : metric <= target);
  const lastSeen = Math.max(0, ...volunteers.map((e) => e.lastSeen));
  const observerRejected = observer.rejectedTotal();
  return {
    runId: input.runId,
    rounds: committedRounds + retries,
    committedRounds,
    abortedRounds: retries,
    elections: [...input.epochs].filter((e) => e > 0).length,
    lateFrames: sum(counter('late-uplink')),
    rejectedFrames: sum((e) => e.status.rejected) + observerRejected,
    finalRelDist,
    finalOpNormSq: input.finalOpNormSq,
    uplinkBytes: sum((e) => e.status.bytes.direct),
    downlinkBytes: sum((e) => e.status.bytes.broadcast),
    wireBytes: sum((e) => e.status.bytes.wireSent) + input.launcherWire.sent,
    logSha256: input.logSha256,
    simSeconds: null,
    wallSeconds: input.wallSeconds,
    reached,
    iterations: observerFinal ? engine.replica.iteration : Math.max(0, ...volunteers.map((e) => e.status.iteration)),
    staleMessages: sum(counter('stale-epoch')),
    framesLost: null,
    consistent,
    peersAtEnd: volunteers.filter((e) => lastSeen - e.lastSeen <= AT_END_WINDOW_MS).length,
    stop: input.endReason,
    target,
    digest,
    peersSeen: volunteers.length,
    network: {
      relays: input.relays,
      launcher: input.launcher,
      frameBytes: input.manifest.network.frameBytes,
      launcherWire: input.launcherWire,
      startedAt: new Date(input.startedAt).toISOString(),
    },
    peers: volunteers.map((e) => ({
      peer: e.peer,
      round: e.status.round,
      iteration: e.status.iteration,
      digest: e.status.digest,
      done: e.status.done,
      isAggregator: e.status.isAggregator,
      heldCount: e.status.heldCount,
      uptimeMs: e.status.uptimeMs,
      directBytes: e.status.bytes.direct,
      broadcastBytes: e.status.bytes.broadcast,
      receivedBytes: e.status.bytes.received,
      wireSent: e.status.bytes.wireSent,
      wireReceived: e.status.bytes.wireReceived,
      rejected: e.status.rejected,
      commitsSent: e.status.counters['net-commits-sent'] ?? 0,
      uplinksSent: e.status.counters['net-uplinks-sent'] ?? 0,
      uplinkBodyBytes: e.status.counters['net-uplink-body-bytes'] ?? 0,
      commitBodyBytes: e.status.counters['net-commit-body-bytes'] ?? 0,
      uplinkStreamBytes: e.status.counters['net-uplink-stream-bytes'] ?? 0,
      gossipStreamBytes: e.status.counters['net-gossip-stream-bytes'] ?? 0,
    })),
  };
}

/**
 * summary.json of a real run, in the schema the simulator writes too (@masha/protocol/swarm
 * `RunSummary`, host "swarm"; field meanings, units and clocks are documented there), plus what
 * only a real swarm has (per-peer figures, the relays, the launcher's own verification of the
 * final state) in its `swarm` section.
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
 * `simSeconds` and `framesLost` have no meaning for a real run and are null.
 */
import type { Manifest } from '@masha/protocol';
import { finiteOrNull, type RunSummary, type StopReason } from '@masha/protocol/swarm';
import type { ByteCount } from '../net/wire-meter.js';
import type { PeerDriver } from '../peer/driver.js';
import type { PeerEntry } from './directory.js';

/** What `masha launch` writes and prints (`--json`). */
export type LaunchSummary = RunSummary;

export interface SummaryInput {
  readonly runId: string;
  readonly manifest: Manifest;
  readonly observer: PeerDriver;
  readonly peers: readonly PeerEntry[];
  readonly epochs: ReadonlySet<number>;
  readonly endReason: StopReason;
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
  const counter =
    (name: string) =>
    (e: PeerEntry): number =>
      e.status.counters[name] ?? 0;
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
  const summary: RunSummary = {
    host: 'swarm',
    runId: input.runId,
    startedAt: new Date(input.startedAt).toISOString(),
    stop: input.endReason,
    reached,
    target,
    iterations: observerFinal ? engine.replica.iteration : Math.max(0, ...volunteers.map((e) => e.status.iteration)),
    rounds: committedRounds + retries,
    committedRounds,
    abortedRounds: retries,
    elections: [...input.epochs].filter((e) => e > 0).length,
    lateFrames: sum(counter('late-uplink')),
    rejectedFrames: sum((e) => e.status.rejected) + observerRejected,
    staleMessages: sum(counter('stale-epoch')),
    framesLost: null,
    finalRelDist: finiteOrNull(finalRelDist),
    finalOpNormSq: finiteOrNull(input.finalOpNormSq),
    uplinkBytes: sum((e) => e.status.bytes.direct),
    downlinkBytes: sum((e) => e.status.bytes.broadcast),
    wireBytes: sum((e) => e.status.bytes.wireSent) + input.launcherWire.sent,
    logSha256: input.logSha256,
    simSeconds: null,
    wallSeconds: input.wallSeconds,
    consistent,
    peersAtEnd: volunteers.filter((e) => lastSeen - e.lastSeen <= AT_END_WINDOW_MS).length,
    digest,
    peersSeen: volunteers.length,
    swarm: {
      relays: [...input.relays],
      launcher: input.launcher,
      frameBytes: input.manifest.network.frameBytes,
      launcherWire: { sent: input.launcherWire.sent, received: input.launcherWire.received },
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
    },
  };
  return summary;
}

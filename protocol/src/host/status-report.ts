/**
 * A host's live status report (swarm/status.ts): the engine's snapshot, the host's and the link's
 * byte counts, refusals and counters (host and link counters first, then the engine's
 * alphabetically, up to the cap).
 */
import type { MashaPeer } from '../engine/peer.js';
import type { EngineRole } from '../engine/types.js';
import type { LinkStats } from '../ports/frame-link.js';
import { MAX_COUNTERS, MAX_LISTED_SHARDS, STATUS_VERSION, type PeerStatus, type StatusDevice } from '../swarm/status.js';

/** What the report is made of. */
export interface StatusInput {
  readonly engine: MashaPeer;
  readonly runId: string;
  readonly seq: number;
  readonly role: EngineRole;
  readonly link: LinkStats | null;
  /** The host's counters (`sent-<kind>`, `body-<kind>`, `tree-…`). */
  readonly counters: Readonly<Record<string, number>>;
  /** Refused inbound frames by reason. */
  readonly rejected: Readonly<Record<string, number>>;
  /** All refused input (PeerHost.rejectedTotal). */
  readonly rejectedTotal: number;
  readonly bytes: { readonly direct: number; readonly broadcast: number; readonly received: number; readonly relayed: number };
  readonly uptimeMs: number;
  /** Where this peer computes (PeerHost.setDevice); null = not said. */
  readonly device: StatusDevice | null;
}

export function hostStatus(s: StatusInput): PeerStatus {
  const snap = s.engine.snapshot();
  const link = s.link;
  // Host and link counters first, then the engine's (alphabetically) up to the cap.
  const counters: Record<string, number> = {
    'net-uplinks-sent': s.counters['sent-uplink'] ?? 0,
    'net-commits-sent': s.counters['sent-commit'] ?? 0,
    'net-frames-refused': Object.values(s.rejected).reduce((a, b) => a + b, 0),
    // Payload accounting (benchmarks): message bodies sent.
    'net-uplink-body-bytes': s.counters['body-uplink'] ?? 0,
    'net-commit-body-bytes': s.counters['body-commit'] ?? 0,
    // Relay trees: frame bytes this peer sent on the tree channel, repairs it asked for.
    'net-tree-relayed-bytes': s.bytes.relayed,
    'net-tree-repairs': (s.counters['tree-repair'] ?? 0) + (s.counters['tree-foster-pull'] ?? 0),
    ...(link?.counters ?? {}),
  };
  const engineCounters = s.engine.counters;
  for (const name of Object.keys(engineCounters).sort()) {
    if (Object.keys(counters).length >= MAX_COUNTERS) break;
    counters[name] = engineCounters[name as keyof typeof engineCounters] ?? 0;
  }
  const relDist = s.engine.relDist();
  return {
    v: STATUS_VERSION,
    runId: s.runId,
    seq: s.seq,
    role: s.role === 'observer' ? 'launcher' : 'volunteer',
    epoch: snap.epoch,
    aggregator: snap.aggregator,
    isAggregator: snap.isAggregator,
    round: snap.round,
    iteration: snap.iteration,
    digest: snap.digest,
    relDist: relDist !== null && Number.isFinite(relDist) ? relDist : null,
    held: snap.held.slice(0, MAX_LISTED_SHARDS),
    heldCount: snap.held.length,
    done: snap.done,
    uptimeMs: s.uptimeMs,
    bytes: {
      direct: s.bytes.direct,
      broadcast: s.bytes.broadcast,
      received: s.bytes.received,
      wireSent: link?.wireSent ?? 0,
      wireReceived: link?.wireReceived ?? 0,
    },
    rejected: s.rejectedTotal,
    counters,
    ...(s.device !== null ? { device: s.device } : {}),
  };
}

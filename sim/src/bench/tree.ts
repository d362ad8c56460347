import { parseManifest, type Manifest } from '@masha/protocol';
import { DEFAULT_LINK } from '../des/link-model.js';
import { simulate } from '../run/simulate.js';
import { progress, resultRow, type BenchResult, type Suite } from './harness.js';

/**
 * Relay trees in the simulator (issue 15), each row with the gossip model measured in the same
 * run as its baseline (the simulator's broadcast: a random relay tree of fan-out 6 per message,
 * gossipsub's mesh degree, store-and-forward per frame), on the default home links (20 Mbit/s up,
 * 100 Mbit/s down, 20 ms one way: 40 ms per hop).
 *
 * - `tree-sim/aggregator-copies/N peers`: the aggregator's upload per broadcast, in copies of the
 *   commit (every byte it puts on its uplink in the steady rounds — commits, anchors, rosters,
 *   announcements — over the commit bodies), for 4 to 1,000 peers. QGDA + RandK 1 % up, dense
 *   (identity, 160 KB) commits in 16 KiB frames, d = 40,000, min(N, 100) shards.
 * - `tree-sim/1000 peers/...`: 1,000 peers, QGDA + RandK 1 % on a quadratic with d = 400,000 and
 *   100 shards: each round 100 answers of 16 KB go up and one 1.6 MB commit comes down (4 KiB
 *   frames). Seconds per round in the steady state against the link-limited minimum
 *
 *       T_min = max(S_up / U, H · S_up / D) + L + S_down / U + L
 *
 *   (H answering devices, answers of S_up bytes, a commit of S_down bytes, upload U = 20 Mbit/s,
 *   download D = 100 Mbit/s, hop latency L = 40 ms; compute is negligible here): every answer must
 *   leave its device and enter the aggregator, and the aggregator must push at least one copy of
 *   the commit out, whose last byte then needs at least one hop. Also the two phases of a round —
 *   the broadcast (aggregator's commit until the last peer applied it) and the rest (answers in,
 *   aggregation) — which is what decides whether sliced aggregation is worth its cost.
 *
 * The 1,000-peer run holds 1,000 replicas of 3.2 MB: about 4–5 GB while it runs, and a few
 * minutes for both modes.
 */

interface Config {
  readonly peers: number;
  readonly shards: number;
  readonly d: number;
  readonly frameBytes: number;
  readonly iterations: number;
  readonly tree: boolean;
}

interface Measured {
  /** Seconds per round at the aggregator, from the window start on. */
  readonly secondsPerRound: number;
  /** Aggregator upload per round over the commit body bytes per round. */
  readonly aggregatorCopies: number;
  /** Mean time from the aggregator's commit to the last peer's application (s). */
  readonly broadcastSeconds: number;
  /** Mean commit body bytes and answer (uplink) frame bytes per device per round. */
  readonly commitBytes: number;
  readonly uplinkBytes: number;
  readonly holders: number;
  readonly consistent: boolean;
  readonly wallSeconds: number;
}

function manifestOf(c: Config): Manifest {
  return parseManifest({
    problem: { kind: 'quadratic', d: c.d, n: c.shards, seed: 1 },
    method: { name: 'qgda', gamma: 0.05 },
    compressors: { device: 'randk:0.01', server: 'identity' },
    stop: { iterations: c.iterations },
    network: {
      frameBytes: c.frameBytes,
      heartbeatMs: 1_000,
      leaseMs: 8_000,
      roundDeadlineMs: 20_000,
      quorum: 1,
      minPeers: c.peers,
      broadcast: { tree: c.tree, stripes: 16 },
    },
    seed: 1,
  });
}

/** Steady state: from this iteration on (after the bootstrap election and the first rounds). */
const WINDOW_FROM = 2;

function measure(c: Config): Measured {
  const manifest = manifestOf(c);
  const ids = Array.from({ length: c.peers }, (_, i) => `p${i}`);
  const commits = new Map<number, { agg: number; last: number }>();
  let aggregator = '';
  let mark: { t: number; up: number; round: number } | null = null;
  let uploadedAt: (id: string) => number = () => 0;
  const t0 = performance.now();
  const r = simulate({
    manifest,
    trace: { events: ids.map((peer) => ({ t: 0, event: 'join' as const, peer })), lines: [] },
    onIteration: (info) => {
      uploadedAt = info.uploadedBytes;
      if (info.iteration === WINDOW_FROM) {
        aggregator = info.peer.id;
        mark = { t: info.simSeconds, up: info.uploadedBytes(aggregator), round: info.peer.committedRound };
      }
    },
    onCommit: (peer, round, ms) => {
      if (mark === null) return;
      let e = commits.get(round);
      if (e === undefined) commits.set(round, (e = { agg: Number.NaN, last: 0 }));
      if (peer === aggregator) e.agg = ms / 1000;
      else if (ms / 1000 > e.last) e.last = ms / 1000;
    },
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const m = mark as { t: number; up: number; round: number } | null;
  if (m === null || aggregator === '') throw new Error(`tree bench: the run of ${c.peers} peers never reached iteration ${WINDOW_FROM}`);
  const host = r.hosts.get(aggregator);
  if (host === undefined) throw new Error('tree bench: no aggregator host');
  const rounds = host.engine.committedRound - m.round;
  let last = 0;
  let bcast = 0;
  let n = 0;
  for (const [round, e] of commits) {
    if (round <= m.round || !Number.isFinite(e.agg)) continue;
    if (e.agg > last) last = e.agg;
    if (e.last >= e.agg) {
      bcast += e.last - e.agg;
      n++;
    }
  }
  const commitsSent = host.counters['sent-commit'] ?? 1;
  const commitBytes = (host.counters['body-commit'] ?? 0) / commitsSent;
  let uplinkBytes = 0;
  let holders = 0;
  for (const h of r.hosts.values()) {
    const sent = h.counters['sent-uplink'] ?? 0;
    if (sent === 0 || h.id === aggregator) continue;
    holders++;
    uplinkBytes += (h.counters['body-uplink'] ?? 0) / sent;
  }
  uplinkBytes = holders > 0 ? uplinkBytes / holders : 0;
  const up = uploadedAt(aggregator) - m.up;
  return {
    secondsPerRound: (last - m.t) / rounds,
    aggregatorCopies: up / (rounds * commitBytes),
    broadcastSeconds: n > 0 ? bcast / n : Number.NaN,
    commitBytes,
    uplinkBytes,
    // The aggregator answers for its own shards without the network.
    holders: holders + 1,
    consistent: r.summary.consistent,
    wallSeconds,
  };
}

/** The link-limited minimum round time (s) of the module comment, default links. */
export function linkLimitedMinimum(upBytes: number, holders: number, commitBytes: number): number {
  const U = DEFAULT_LINK.uplinkMbps * 125_000; // bytes/s
  const D = DEFAULT_LINK.downlinkMbps * 125_000;
  const L = (2 * DEFAULT_LINK.latencyMs) / 1000;
  return Math.max(upBytes / U, ((holders - 1) * upBytes) / D) + L + commitBytes / U + L;
}

export const treeSuite: Suite = {
  name: 'tree-sim',
  async run(include) {
    const out: BenchResult[] = [];
    const copies = (n: number): string => `tree-sim/aggregator-copies/${n} peers`;
    for (const peers of [4, 16, 64, 256, 1000]) {
      if (!include(copies(peers))) continue;
      const base: Omit<Config, 'tree'> = { peers, shards: Math.min(peers, 100), d: 40_000, frameBytes: 16_384, iterations: 6 };
      progress(`${copies(peers)}: trees`);
      const tree = measure({ ...base, tree: true });
      progress(`${copies(peers)}: gossip`);
      const gossip = measure({ ...base, tree: false });
      progress(
        `${copies(peers)}: ${tree.aggregatorCopies.toFixed(2)} copies (gossip ${gossip.aggregatorCopies.toFixed(2)}), ` +
          `${tree.secondsPerRound.toFixed(3)} s/round (gossip ${gossip.secondsPerRound.toFixed(3)}), wall ${(tree.wallSeconds + gossip.wallSeconds).toFixed(0)} s`,
      );
      if (!tree.consistent || !gossip.consistent) throw new Error(`${copies(peers)}: the run ended on more than one state`);
      out.push(resultRow(copies(peers), tree.aggregatorCopies, 'copies', { name: 'gossip (fan-out 6), same run', value: gossip.aggregatorCopies }));
    }
    const big = 'tree-sim/1000 peers/qgda-randk0.01-identity/d=4e5';
    if (include(big)) {
      const base: Omit<Config, 'tree'> = { peers: 1000, shards: 100, d: 400_000, frameBytes: 4096, iterations: 4 };
      progress(`${big}: trees`);
      const tree = measure({ ...base, tree: true });
      progress(`${big}: gossip`);
      const gossip = measure({ ...base, tree: false });
      if (!tree.consistent || !gossip.consistent) throw new Error(`${big}: the run ended on more than one state`);
      const tmin = linkLimitedMinimum(tree.uplinkBytes, tree.holders, tree.commitBytes);
      progress(
        `${big}: ${tree.secondsPerRound.toFixed(3)} s/round (broadcast ${tree.broadcastSeconds.toFixed(3)} s), gossip ${gossip.secondsPerRound.toFixed(3)} s/round, ` +
          `link-limited minimum ${tmin.toFixed(3)} s (answers ${tree.holders} × ${(tree.uplinkBytes / 1e3).toFixed(1)} kB, commit ${(tree.commitBytes / 1e6).toFixed(2)} MB); ` +
          `aggregator ${tree.aggregatorCopies.toFixed(2)} copies; wall ${(tree.wallSeconds + gossip.wallSeconds).toFixed(0)} s`,
      );
      out.push(
        resultRow(`${big}: s per round`, tree.secondsPerRound, 's', { name: 'link-limited minimum max(S_up/U, H·S_up/D) + S_down/U + 2L', value: tmin }),
      );
      out.push(resultRow(`${big}: s per round vs gossip`, tree.secondsPerRound, 's', { name: 'gossip (fan-out 6), same run', value: gossip.secondsPerRound }));
      out.push(
        resultRow(`${big}: broadcast phase`, tree.broadcastSeconds, 's', {
          name: 'S_down/U + L (one copy from the aggregator, one hop)',
          value: tree.commitBytes / (DEFAULT_LINK.uplinkMbps * 125_000) + (2 * DEFAULT_LINK.latencyMs) / 1000,
        }),
      );
      out.push(
        resultRow(`${big}: answers and aggregation phase`, tree.secondsPerRound - tree.broadcastSeconds, 's', {
          name: 'broadcast phase',
          value: tree.broadcastSeconds,
        }),
      );
      out.push(
        resultRow(`${big}: aggregator copies`, tree.aggregatorCopies, 'copies', { name: 'gossip (fan-out 6), same run', value: gossip.aggregatorCopies }),
      );
    }
    // Is the aggregator's download the next limit? Every one of 1,000 peers answers (1,000 shards).
    const all = 'tree-sim/1000 peers/1000 answering/qgda-randk0.01-identity/d=4e4';
    if (include(all)) {
      progress(`${all}: trees`);
      const tree = measure({ peers: 1000, shards: 1000, d: 40_000, frameBytes: 4096, iterations: 5, tree: true });
      if (!tree.consistent) throw new Error(`${all}: the run ended on more than one state`);
      const download = ((tree.holders - 1) * tree.uplinkBytes) / (DEFAULT_LINK.downlinkMbps * 125_000);
      progress(
        `${all}: ${tree.secondsPerRound.toFixed(3)} s/round, broadcast ${tree.broadcastSeconds.toFixed(3)} s, answers and aggregation ${(tree.secondsPerRound - tree.broadcastSeconds).toFixed(3)} s ` +
          `(the aggregator's download alone ${download.toFixed(3)} s: ${tree.holders} × ${(tree.uplinkBytes / 1e3).toFixed(2)} kB)`,
      );
      out.push(
        resultRow(`${all}: answers and aggregation phase`, tree.secondsPerRound - tree.broadcastSeconds, 's', {
          name: 'broadcast phase',
          value: tree.broadcastSeconds,
        }),
      );
    }
    return out;
  },
};

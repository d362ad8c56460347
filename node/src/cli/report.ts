/** The closing report `npm start` prints (start.ts). */
import { join } from 'node:path';
import type { RunSummary } from '@masha/protocol/swarm';
import { LATEST } from '../launcher/run-dir.js';
import { formatBytes, formatMetric } from './io.js';

/** The closing report: what the run did, what each figure counts, and where its files are. */
export function startReport(s: RunSummary, dir: string, totalSeconds: number): string {
  const metric = s.finalRelDist !== null ? `relative distance ${formatMetric(s.finalRelDist)}` : `‖F‖² ${formatMetric(s.finalOpNormSq)}`;
  const lines = [
    '',
    `Masha run ${s.runId}`,
    `  ${s.reached ? 'target reached' : `target NOT reached (${s.stop})`}: ${metric}${s.target !== null ? ` (target ${formatMetric(s.target)})` : ''} after ${s.iterations} iterations`,
    `  rounds: ${s.committedRounds} committed, ${s.abortedRounds} aborted; elections: ${s.elections}`,
    `  traffic: ${(s.uplinkBytes / 1e6).toFixed(2)} MB up, ${(s.downlinkBytes / 1e6).toFixed(2)} MB down in Masha frames (payload and frame headers, each message once);`,
    `           ${formatBytes(s.wireBytes)} on the wire (every byte the processes sent: encryption, multiplexing, every gossip copy)`,
    `  volunteers: ${s.peersSeen ?? s.peersAtEnd} (${s.peersAtEnd} at the end), state ${s.consistent ? 'consistent on every peer' : 'INCONSISTENT'}`,
    `  time: the run took ${s.wallSeconds.toFixed(1)} s (wallSeconds in summary.json); ${totalSeconds.toFixed(1)} s in all, with starting and stopping the processes`,
    `  files: ${dir}/ (also ${join(dir, '..', LATEST)}/)`,
    `         summary.json, events.jsonl, run.svg, peers/ (one event log per volunteer), logs/ (each process's output)`,
    '',
  ];
  return lines.join('\n');
}

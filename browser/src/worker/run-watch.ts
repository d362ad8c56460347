/**
 * What the worker learns by listening, before (and beside) the engine: which run to take part in
 * (the launchers' announcements on `masha/runs/1`) and how that run is doing (the status reports
 * its peers publish on the run's status topic). Everything here is untrusted input and goes
 * through the protocol's validating decoders (AnnouncementReader, decodeStatus); refusals are
 * counted by reason, never thrown at the page.
 */
import type { Manifest } from '@masha/protocol';
import {
  AnnouncementReader,
  decodeStatus,
  isRunId,
  isStatusQuery,
  STATUS_STEADY_MS,
  StatusError,
  type PeerStatus,
  type RunAnnouncement,
} from '@masha/protocol/swarm';
import type { RunInfo, RunProblem, SwarmView } from '../worker-protocol.js';

/**
 * Status reports older than this no longer count a volunteer as live (ms): Node volunteers report
 * every STATUS_STEADY_MS once steady (tabs every second).
 */
export const LIVE_WINDOW_MS = STATUS_STEADY_MS + 4_000;
/** Most metric points kept for the chart (older ones are thinned out). */
const MAX_POINTS = 2_000;

function problemName(m: Manifest): string {
  const p = m.problem;
  switch (p.kind) {
    case 'bilinear':
      return `bilinear game, d = ${p.d}, M = ${p.M}`;
    case 'quadratic':
      return `quadratic, d = ${p.d}, n = ${p.n}`;
    case 'file':
      return `problem file ${p.path}`;
    case 'inline':
      return 'inline problem';
    case 'model': {
      const t = p.task;
      return `${t.adversarial ? 'adversarial ' : ''}${t.objective} training of ALBERT (hidden ${t.model.hidden}, ${t.model.layers} layers) on ${p.dataset}`;
    }
    case 'softmax':
      return `softmax model, ${p.features} features × ${p.classes} classes`;
    default: {
      const never: never = p;
      return String(never);
    }
  }
}

export function runInfo(a: RunAnnouncement): RunInfo {
  const m = a.manifest;
  const method = m.method.name.toUpperCase();
  const compressor = m.compressors.device;
  const problem = problemName(m);
  return {
    runId: a.runId,
    name: `${method} + ${compressor} on the ${problem.split(',')[0]}`,
    method,
    compressor,
    problem,
    launcher: a.launcher,
    state: a.state,
    startedAt: a.startedAt,
    target: m.stop.target ?? null,
    iterations: m.stop.iterations,
  };
}

/** Picks the run (the one asked for, else the newest open one) and notices when it is missing or over. */
export class RunChooser {
  private readonly reader = new AnnouncementReader(() => Date.now());
  private chosen: RunAnnouncement | null = null;
  private readonly newest = new Map<string, RunAnnouncement>();

  constructor(private readonly wanted: string | null) {
    if (wanted !== null && !isRunId(wanted)) throw new RangeError(`not a run id: ${wanted}`);
  }

  get rejected(): Readonly<Record<string, number>> {
    return this.reader.rejected;
  }

  get run(): RunAnnouncement | null {
    return this.chosen;
  }

  /**
   * One announcement frame from `author` (the gossip message's signed author). Returns the chosen
   * run when this frame chose it or updated it, else null.
   */
  accept(frame: Uint8Array, now: number, author: string): RunAnnouncement | null {
    const a = this.reader.accept(frame, now, author);
    if (a === null) return null;
    this.newest.set(a.runId, a);
    if (this.chosen !== null) {
      if (a.runId !== this.chosen.runId) return null;
      this.chosen = a;
      return a;
    }
    if (this.wanted !== null ? a.runId === this.wanted : a.state === 'open') {
      this.chosen = a;
      return a;
    }
    return null;
  }

  expire(now: number): void {
    this.reader.expire(now);
  }

  /** Why there is no run to take part in (null while there is one, or it is still too early to say). */
  problem(waitedEnough: boolean): RunProblem | null {
    if (this.chosen !== null) return this.chosen.state === 'finished' ? 'run-finished' : null;
    if (this.wanted !== null) {
      const seen = this.newest.get(this.wanted);
      if (seen?.state === 'finished') return 'run-finished';
      return waitedEnough ? 'run-not-found' : null;
    }
    return waitedEnough ? 'no-runs' : null;
  }
}

interface Entry {
  status: PeerStatus;
  lastSeen: number;
}

/** The newest status report of each peer of the run, and the metric over iterations for the chart. */
export class StatusBoard {
  private readonly entries = new Map<string, Entry>();
  private readonly iterations: number[] = [];
  private readonly metric: number[] = [];
  readonly rejected: Record<string, number> = {};

  constructor(private readonly runId: string) {}

  /** One report frame from `author`; returns whether it was accepted. */
  accept(bytes: Uint8Array, now: number, author: string): boolean {
    // A watcher's status query (`masha status`): not a report. A tab reports every second anyway.
    if (isStatusQuery(bytes)) return false;
    let s: PeerStatus;
    try {
      s = decodeStatus(bytes);
    } catch (e) {
      if (e instanceof StatusError) {
        this.rejected[e.code] = (this.rejected[e.code] ?? 0) + 1;
        return false;
      }
      throw e;
    }
    if (s.runId !== this.runId) {
      this.rejected['other-run'] = (this.rejected['other-run'] ?? 0) + 1;
      return false;
    }
    const e = this.entries.get(author);
    if (e !== undefined && s.seq < e.status.seq) return false;
    this.entries.set(author, { status: s, lastSeen: now });
    if (s.relDist !== null) this.addPoint(s.iteration, s.relDist);
    return true;
  }

  private addPoint(iteration: number, value: number): void {
    const n = this.iterations.length;
    if (n > 0 && iteration <= this.iterations[n - 1]) return;
    this.iterations.push(iteration);
    this.metric.push(value);
    if (this.iterations.length > MAX_POINTS) {
      // Keep every other point of the older half: the chart stays smooth, the memory bounded.
      const half = this.iterations.length >> 1;
      for (const arr of [this.iterations, this.metric]) {
        const kept = arr.slice(0, half).filter((_, i) => i % 2 === 0);
        arr.splice(0, half, ...kept);
      }
    }
  }

  series(): { iteration: readonly number[]; metric: readonly number[] } {
    return { iteration: this.iterations, metric: this.metric };
  }

  view(now: number): SwarmView | null {
    let newest: PeerStatus | null = null;
    const shards: Array<{ peer: string; held: number }> = [];
    let volunteers = 0;
    for (const [peer, e] of this.entries) {
      if (now - e.lastSeen > LIVE_WINDOW_MS) continue;
      const s = e.status;
      if (newest === null || s.epoch > newest.epoch || (s.epoch === newest.epoch && s.round > newest.round)) newest = s;
      if (s.role === 'volunteer') {
        volunteers++;
        shards.push({ peer, held: s.heldCount });
      }
    }
    if (newest === null) return null;
    const metric = this.metric.length > 0 ? this.metric[this.metric.length - 1] : null;
    return {
      volunteers,
      aggregator: newest.aggregator,
      epoch: newest.epoch,
      round: newest.round,
      iteration: newest.iteration,
      metric,
      shards: shards.sort((a, b) => (a.peer < b.peer ? -1 : 1)),
    };
  }
}

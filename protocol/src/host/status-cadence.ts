/**
 * When a host publishes its status report: at each status tick (`intervalMs`) only if a watcher
 * asked (a status query), the peer's place in the run changed (epoch, aggregator, held shards,
 * end), or the steady period (`steadyMs`) is over since the last report; a query is answered at
 * once unless a report went out less than an interval ago (at most one answer per interval).
 */
import type { PeerStatus } from '../swarm/status.js';

export type StatusPlace = Pick<PeerStatus, 'epoch' | 'aggregator' | 'isAggregator' | 'heldCount' | 'done'>;

export class StatusCadence {
  readonly intervalMs: number;
  readonly steadyMs: number;
  /** Reports published so far (the report's sequence number). */
  seq = 0;
  private at = Number.NEGATIVE_INFINITY;
  private key = '';
  private asked = false;

  constructor(intervalMs: number, steadyMs: number) {
    this.intervalMs = intervalMs;
    this.steadyMs = Math.max(intervalMs, steadyMs);
  }

  /** Whether this host reports at all. */
  get enabled(): boolean {
    return this.intervalMs > 0;
  }

  /** A report went out at `now` saying `place`. */
  published(now: number, place: StatusPlace): void {
    this.at = now;
    this.key = placeKey(place);
    this.asked = false;
  }

  /** A watcher asked: true when the report should go out now, else it goes at the next tick. */
  ask(now: number): boolean {
    if (!this.enabled) return false;
    if (now - this.at >= this.intervalMs) return true;
    this.asked = true;
    return false;
  }

  /** At a tick: whether to report (`place` is read only when nothing else decides). */
  due(now: number, place: () => StatusPlace): boolean {
    if (this.asked || now - this.at >= this.steadyMs - this.intervalMs / 2) return true;
    return placeKey(place()) !== this.key;
  }
}

/** What a report says of a peer's place in the run: a change is reported at once. */
function placeKey(s: StatusPlace): string {
  return `${s.epoch}|${s.aggregator ?? ''}|${s.isAggregator ? 1 : 0}|${s.heldCount}|${s.done ?? ''}`;
}

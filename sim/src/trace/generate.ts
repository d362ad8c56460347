import { keyedRng, SHARED } from '@masha/protocol';
import { type Rng } from '@masha/protocol/rng';
import type { TraceEvent } from './schema.js';

/**
 * Churn trace generators (SPEC §6). All draws come from the keyed stream
 * (seed, 0, 'trace:<kind>', SHARED), so a (kind, peers, duration, seed, options) tuple always
 * yields the same trace. Initial peers are `p0 … p(N−1)` joining at t = 0; newcomers get the next
 * free numbers. Times are rounded to milliseconds.
 *
 * - poisson: every peer stays an exponential session (mean `meanSession`, default = duration),
 *   then crashes (probability `crashFraction`, default 0.5) or leaves; newcomers arrive as a
 *   Poisson process of rate N / meanSession, so the population is stationary around N.
 * - preemptible: spot/preemptible machines. Preemption bursts arrive as a Poisson process (mean gap
 *   `burstGap`, default duration / 3); each burst crashes a fraction uniform in
 *   [`burstMin`, `burstMax`] (default 0.1–0.4) of the live peers at the same instant, and each
 *   preempted machine is replaced by a new peer after a restart delay uniform in
 *   [0.5, 1.5] × `restartDelay` (default duration / 10).
 * - diurnal: volunteer availability over a day compressed into `period` (default = duration):
 *   target population N(t) = N·(1 − a·(1 − cos 2πt/period)/2), a = `amplitude` (default 0.6), so it
 *   starts at N, dips to (1 − a)N mid-period and recovers. Peers depart at rate 1/meanSession
 *   plus whatever the falling target requires; arrivals at rate N(t)/meanSession plus the rising
 *   target's slope. Simulated in steps of period/400.
 */
export type TraceKind = 'poisson' | 'preemptible' | 'diurnal';
export const TRACE_KINDS: readonly TraceKind[] = ['poisson', 'preemptible', 'diurnal'];

export interface TraceGenOptions {
  readonly kind: TraceKind;
  /** Initial (and nominal) number of peers N ≥ 1. */
  readonly peers: number;
  /** Length of the trace in seconds (> 0). */
  readonly duration: number;
  readonly seed: number;
  /** Mean session length in seconds (poisson, diurnal). */
  readonly meanSession?: number;
  /** Fraction of departures that are crashes rather than graceful leaves (poisson, diurnal). */
  readonly crashFraction?: number;
  /** Mean time between preemption bursts in seconds (preemptible). */
  readonly burstGap?: number;
  readonly burstMin?: number;
  readonly burstMax?: number;
  /** Mean restart delay of a preempted machine in seconds (preemptible). */
  readonly restartDelay?: number;
  /** Length of the availability cycle in seconds (diurnal). */
  readonly period?: number;
  /** Depth of the availability dip in (0, 1) (diurnal). */
  readonly amplitude?: number;
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(msg);
}

/** Rounds to milliseconds, never to 0 (a t = 0 event would count as part of the initial population). */
const roundMs = (t: number): number => Math.max(0.001, Math.round(t * 1000) / 1000);

function exp(rng: Rng, mean: number): number {
  let u = rng.nextFloat53();
  while (u === 0) u = rng.nextFloat53();
  return -Math.log(u) * mean;
}

function poissonCount(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * rng.nextGaussian()));
  const l = Math.exp(-mean);
  let k = 0;
  let p = rng.nextFloat53();
  while (p > l) {
    k++;
    p *= rng.nextFloat53();
  }
  return k;
}

interface Draft {
  t: number;
  order: number;
  ev: TraceEvent;
}

/** Generates a churn trace (sorted by time; ties keep generation order). */
export function generateTrace(options: TraceGenOptions): TraceEvent[] {
  const { kind, peers, duration, seed } = options;
  check(Number.isInteger(peers) && peers >= 1 && peers <= 10_000_000, `peers must be an integer in [1, 1e7], got ${peers}`);
  check(Number.isFinite(duration) && duration > 0 && duration <= 1e8, `duration must be in (0, 1e8] seconds, got ${duration}`);
  check(Number.isSafeInteger(seed) && seed >= 0, `seed must be a non-negative safe integer, got ${seed}`);
  const rng = keyedRng(seed, 0, `trace:${kind}`, SHARED);
  const drafts: Draft[] = [];
  let order = 0;
  const push = (t: number, ev: TraceEvent): void => {
    drafts.push({ t, order: order++, ev });
  };
  for (let i = 0; i < peers; i++) push(0, { t: 0, event: 'join', peer: `p${i}` });
  let nextId = peers;

  switch (kind) {
    case 'poisson': {
      const meanSession = options.meanSession ?? duration;
      const crashFraction = options.crashFraction ?? 0.5;
      check(meanSession > 0, 'meanSession must be > 0');
      check(crashFraction >= 0 && crashFraction <= 1, 'crashFraction must be in [0, 1]');
      const depart = (id: string, from: number): void => {
        const t = roundMs(from + exp(rng, meanSession));
        if (t <= duration) push(t, { t, event: rng.nextFloat53() < crashFraction ? 'crash' : 'leave', peer: id });
      };
      for (let i = 0; i < peers; i++) depart(`p${i}`, 0);
      let t = 0;
      for (;;) {
        t += exp(rng, meanSession / peers);
        const tj = roundMs(t);
        if (tj > duration) break;
        const id = `p${nextId++}`;
        push(tj, { t: tj, event: 'join', peer: id });
        depart(id, tj);
      }
      break;
    }
    case 'preemptible': {
      const burstGap = options.burstGap ?? duration / 3;
      const lo = options.burstMin ?? 0.1;
      const hi = options.burstMax ?? 0.4;
      const restart = options.restartDelay ?? duration / 10;
      check(burstGap > 0 && restart >= 0, 'burstGap must be > 0 and restartDelay ≥ 0');
      check(lo >= 0 && hi <= 1 && lo <= hi, 'need 0 ≤ burstMin ≤ burstMax ≤ 1');
      // Live peers with the time they (re)joined, processed in time order.
      const live: string[] = Array.from({ length: peers }, (_, i) => `p${i}`);
      const pendingJoins: { t: number; id: string }[] = [];
      let t = 0;
      for (;;) {
        t += exp(rng, burstGap);
        if (t > duration) break;
        const tb = roundMs(t);
        // Replacements that restarted before this burst are live again.
        pendingJoins.sort((a, b) => a.t - b.t);
        while (pendingJoins.length > 0 && pendingJoins[0].t <= tb) live.push(pendingJoins.shift()!.id);
        const frac = lo + (hi - lo) * rng.nextFloat53();
        const victims = Math.min(live.length, Math.round(frac * live.length));
        // Partial Fisher–Yates: the first `victims` entries become a uniform random subset.
        for (let v = 0; v < victims; v++) {
          const j = v + rng.nextInt(live.length - v);
          const tmp = live[v];
          live[v] = live[j];
          live[j] = tmp;
        }
        const preempted = live.splice(0, victims);
        for (const id of preempted) {
          push(tb, { t: tb, event: 'crash', peer: id });
          const tj = roundMs(tb + restart * (0.5 + rng.nextFloat53()));
          const newId = `p${nextId++}`;
          if (tj <= duration) {
            push(tj, { t: tj, event: 'join', peer: newId });
            pendingJoins.push({ t: tj, id: newId });
          }
        }
      }
      break;
    }
    case 'diurnal': {
      const period = options.period ?? duration;
      const amp = options.amplitude ?? 0.6;
      const meanSession = options.meanSession ?? period;
      const crashFraction = options.crashFraction ?? 0.5;
      check(period > 0 && meanSession > 0, 'period and meanSession must be > 0');
      check(amp > 0 && amp < 1, 'amplitude must be in (0, 1)');
      const target = (s: number): number => peers * (1 - (amp * (1 - Math.cos((2 * Math.PI * s) / period))) / 2);
      const live: string[] = Array.from({ length: peers }, (_, i) => `p${i}`);
      const dt = period / 400;
      for (let s = 0; s < duration; s += dt) {
        const step = Math.min(dt, duration - s);
        const slope = (target(s + step) - target(s)) / step;
        const n = live.length;
        // Departures: base hazard plus what the falling target needs, spread over the live peers.
        const hazard = 1 / meanSession + (slope < 0 && n > 0 ? -slope / n : 0);
        const pLeave = 1 - Math.exp(-hazard * step);
        const departing: number[] = [];
        for (let i = 0; i < n; i++) if (rng.nextFloat53() < pLeave) departing.push(i);
        const arrivals = poissonCount(rng, (target(s) / meanSession + Math.max(0, slope)) * step);
        const stepEvents: Draft[] = [];
        for (let j = departing.length - 1; j >= 0; j--) {
          const id = live[departing[j]];
          live[departing[j]] = live[live.length - 1];
          live.pop();
          const te = Math.min(duration, roundMs(s + step * rng.nextFloat53()));
          stepEvents.push({ t: te, order: 0, ev: { t: te, event: rng.nextFloat53() < crashFraction ? 'crash' : 'leave', peer: id } });
        }
        for (let j = 0; j < arrivals; j++) {
          const id = `p${nextId++}`;
          const te = Math.min(duration, roundMs(s + step * rng.nextFloat53()));
          stepEvents.push({ t: te, order: 0, ev: { t: te, event: 'join', peer: id } });
          live.push(id);
        }
        for (const e of stepEvents) push(e.t, e.ev);
      }
      break;
    }
    default:
      throw new RangeError(`unknown trace kind "${String(kind)}" (expected ${TRACE_KINDS.join(', ')})`);
  }
  drafts.sort((a, b) => a.t - b.t || a.order - b.order);
  return drafts.map((d) => d.ev);
}

import { plotConvergence } from '../plot/index.js';

/** Convergence and membership of a simulated run, one point per committed iteration (and per membership change for `alive`). */
export interface RunSeries {
  /** Iteration k of each metric point. */
  readonly iteration: readonly number[];
  /** Simulated seconds at which iteration k was first committed. */
  readonly simSeconds: readonly number[];
  /** The metric at iteration k: relative squared distance (or ‖F‖² / ‖F(z⁰)‖² when z* is unknown). */
  readonly metric: readonly number[];
  /** Live peers over simulated time (a step function sampled at every change). */
  readonly aliveSeconds: readonly number[];
  readonly alive: readonly number[];
}

/** The convergence figure (`plotConvergence`) of a simulated run, in simulated time. */
export function plotRun(series: RunSeries, options: { title: string; metricLabel: string; target?: number }): string {
  return plotConvergence({ ...series, seconds: series.simSeconds }, { ...options, clock: 'simulated', participants: 'peers' });
}

import { plotConvergence, type ConvergenceSeries } from '@masha/protocol/plot';

/**
 * Convergence and membership of a simulated run, one point per committed iteration (and per
 * membership change for `alive`): the convergence series with its clock named `simSeconds`
 * (simulated seconds at which iteration k was first committed). The metric is the relative squared
 * distance, or ‖F‖² / ‖F(z⁰)‖² when z* is unknown.
 */
export type RunSeries = Omit<ConvergenceSeries, 'seconds'> & { readonly simSeconds: readonly number[] };

/** The convergence figure (`plotConvergence`) of a simulated run, in simulated time. */
export function plotRun(series: RunSeries, options: { title: string; metricLabel: string; target?: number }): string {
  return plotConvergence({ ...series, seconds: series.simSeconds }, { ...options, clock: 'simulated', participants: 'peers' });
}

import { plotConvergence } from '@masha/protocol/plot';

/** Convergence and membership of a real run, as the launcher saw it. */
export interface LaunchSeries {
  /** Iteration of each metric point. */
  readonly iteration: number[];
  /** Wall-clock seconds since the launch at which the iteration was applied by the launcher's observer. */
  readonly seconds: number[];
  readonly metric: number[];
  /** Live volunteers over wall-clock time (a step function sampled at every change). */
  readonly aliveSeconds: number[];
  readonly alive: number[];
}

/** The simulator's convergence figure (`plotConvergence`) of a real run, in wall-clock time. */
export function plotLaunch(series: LaunchSeries, options: { title: string; metricLabel: string; target?: number }): string {
  return plotConvergence(series, { ...options, clock: 'wall-clock', participants: 'volunteers' });
}

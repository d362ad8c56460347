import { renderLineChart, type Panel } from '../plot/index.js';

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

/**
 * Three panels: the metric against iterations, the metric against simulated time, and the number of
 * live peers against simulated time — so a stall in convergence can be matched with a churn event.
 */
export function plotRun(series: RunSeries, options: { title: string; metricLabel: string; target?: number }): string {
  const reference = options.target !== undefined ? { y: options.target, label: `target ${options.target}` } : undefined;
  const panels: Panel[] = [
    {
      title: 'convergence by iteration',
      xLabel: 'iteration',
      yLabel: options.metricLabel,
      ...(reference ? { reference } : {}),
      series: [{ name: options.metricLabel, x: series.iteration, y: series.metric }],
    },
    {
      title: 'convergence in simulated time',
      xLabel: 'simulated seconds',
      yLabel: options.metricLabel,
      ...(reference ? { reference } : {}),
      series: [{ name: options.metricLabel, x: series.simSeconds, y: series.metric }],
    },
    {
      title: 'membership',
      xLabel: 'simulated seconds',
      yLabel: 'live peers',
      yScale: 'linear',
      series: [{ name: 'live peers', x: series.aliveSeconds, y: series.alive, color: '#7f7f7f' }],
    },
  ];
  return renderLineChart({ title: options.title, panels, panelWidth: 440, panelHeight: 340 });
}

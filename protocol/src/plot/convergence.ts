import { renderLineChart, type Panel } from './line-chart.js';

/** Convergence and membership of a run: one point per iteration, and the live-peer count as a step function. */
export interface ConvergenceSeries {
  /** Iteration of each metric point. */
  readonly iteration: readonly number[];
  /** Time (simulated or wall-clock seconds) at which each iteration was applied. */
  readonly seconds: readonly number[];
  /** The metric at each iteration. */
  readonly metric: readonly number[];
  /** Live peers over time, sampled at every change. */
  readonly aliveSeconds: readonly number[];
  readonly alive: readonly number[];
}

export interface ConvergencePlotOptions {
  readonly title: string;
  readonly metricLabel: string;
  /** Drawn as a horizontal reference line when given. */
  readonly target?: number;
  /** Which clock `seconds` is: 'simulated' or 'wall-clock' (axis and panel titles say so). */
  readonly clock: 'simulated' | 'wall-clock';
  /** What a live participant is called: 'peers' or 'volunteers'. */
  readonly participants: string;
}

/**
 * Three panels: the metric against iterations, the metric against time, and the number of live
 * participants against time — so a stall in convergence can be matched with a churn event. The
 * simulator's run plot and the launcher's plot of a real run are both this figure.
 */
export function plotConvergence(series: ConvergenceSeries, options: ConvergencePlotOptions): string {
  const reference = options.target !== undefined ? { y: options.target, label: `target ${options.target}` } : undefined;
  const timeLabel = options.clock === 'simulated' ? 'simulated seconds' : 'seconds since launch';
  const panels: Panel[] = [
    {
      title: 'convergence by iteration',
      xLabel: 'iteration',
      yLabel: options.metricLabel,
      ...(reference ? { reference } : {}),
      series: [{ name: options.metricLabel, x: series.iteration, y: series.metric }],
    },
    {
      title: `convergence in ${options.clock} time`,
      xLabel: timeLabel,
      yLabel: options.metricLabel,
      ...(reference ? { reference } : {}),
      series: [{ name: options.metricLabel, x: series.seconds, y: series.metric }],
    },
    {
      title: options.participants,
      xLabel: timeLabel,
      yLabel: `live ${options.participants}`,
      yScale: 'linear',
      series: [{ name: `live ${options.participants}`, x: series.aliveSeconds, y: series.alive, color: '#7f7f7f' }],
    },
  ];
  return renderLineChart({ title: options.title, panels, panelWidth: 440, panelHeight: 340 });
}

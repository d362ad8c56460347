import { renderLineChart, type Panel } from '@masha/sim';

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

/** Three panels, as the simulator's run plot but in wall-clock time: metric by iteration, metric by time, live volunteers. */
export function plotLaunch(series: LaunchSeries, options: { title: string; metricLabel: string; target?: number }): string {
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
      title: 'convergence in wall-clock time',
      xLabel: 'seconds since launch',
      yLabel: options.metricLabel,
      ...(reference ? { reference } : {}),
      series: [{ name: options.metricLabel, x: series.seconds, y: series.metric }],
    },
    {
      title: 'volunteers',
      xLabel: 'seconds since launch',
      yLabel: 'live volunteers',
      yScale: 'linear',
      series: [{ name: 'live volunteers', x: series.aliveSeconds, y: series.alive, color: '#7f7f7f' }],
    },
  ];
  return renderLineChart({ title: options.title, panels, panelWidth: 440, panelHeight: 340 });
}

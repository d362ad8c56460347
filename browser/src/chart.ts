/**
 * The run's metric chart for the page: the CLI's SVG line-chart code (@masha/protocol/plot), one
 * panel, drawn on the main thread from the series the worker sends (d3 stays out of the worker's
 * bundle, which carries the engine).
 */
import { renderLineChart } from '@masha/protocol/plot';

export function plotLineChartSvg(series: { iteration: readonly number[]; metric: readonly number[] }, target: number | null): string {
  const svg = renderLineChart({
    panels: [
      {
        title: 'relative squared distance to the solution',
        xLabel: 'iteration',
        yLabel: '‖z − z*‖² / ‖z₀ − z*‖²',
        ...(target !== null ? { reference: { y: target, label: `target ${target}` } } : {}),
        series: [{ name: 'the run (peers\u2019 reports)', x: series.iteration, y: series.metric }],
      },
    ],
    panelWidth: 560,
    panelHeight: 320,
  });
  // Inline in HTML: drop the XML declaration.
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

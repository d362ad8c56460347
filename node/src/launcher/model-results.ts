/**
 * The result files of a model run (besides summary.json and events.jsonl), written atomically:
 *   model.json   the test-loss curve against iterations and wall-clock seconds (probe: the first
 *                test examples), the final test loss / accuracy / robust accuracy on the whole
 *                test split, bytes, and the time per round and per iteration from the commits
 *   rounds.csv   one line per committed round: seconds, round, iteration, phase, shards included
 *   loss.svg     the test loss against iterations and against seconds
 */
import { join } from 'node:path';
import type { Manifest } from '@masha/protocol';
import { renderLineChart } from '@masha/protocol/plot';
import type { RunSummary } from '@masha/protocol/swarm';
import type { ModelMeasure } from '../model/swarm-model.js';
import { writeJsonFile, writeTextFile } from './files.js';

export interface ModelSeries {
  readonly iteration: number[];
  readonly seconds: number[];
  readonly loss: number[];
  readonly accuracy: number[];
  readonly commits: { t: number; round: number; iteration: number; phase: string; included: number }[];
}

export interface RoundTimes {
  /** Mean and standard deviation of the seconds between successive commits, by phase and over all. */
  readonly perRound: { readonly mean: number; readonly std: number; readonly count: number };
  readonly perPhase: Readonly<Record<string, { readonly mean: number; readonly count: number }>>;
  /** Seconds per completed iteration (first to last iteration commit). */
  readonly perIteration: number | null;
}

export function roundTimes(commits: ModelSeries['commits']): RoundTimes {
  const gaps: number[] = [];
  const byPhase = new Map<string, number[]>();
  for (let i = 1; i < commits.length; i++) {
    const dt = commits[i].t - commits[i - 1].t;
    gaps.push(dt);
    const list = byPhase.get(commits[i].phase) ?? [];
    list.push(dt);
    byPhase.set(commits[i].phase, list);
  }
  const mean = gaps.length > 0 ? gaps.reduce((a, b) => a + b, 0) / gaps.length : 0;
  const std = gaps.length > 1 ? Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / (gaps.length - 1)) : 0;
  const perPhase: Record<string, { mean: number; count: number }> = {};
  for (const [p, list] of byPhase) perPhase[p] = { mean: list.reduce((a, b) => a + b, 0) / list.length, count: list.length };
  const iters = commits.filter((c) => c.phase !== 'init');
  const first = commits.find((c) => c.phase === 'init');
  const last = iters.length > 0 ? iters[iters.length - 1] : null;
  const perIteration = first && last && last.iteration > 0 ? (last.t - first.t) / last.iteration : null;
  return { perRound: { mean, std, count: gaps.length }, perPhase, perIteration };
}

export async function writeModelResults(
  dir: string,
  input: { runId: string; manifest: Manifest; series: ModelSeries; final: ModelMeasure | null; summary: RunSummary; title: string },
): Promise<{ results: string; plot: string }> {
  const { series, summary } = input;
  const results = join(dir, 'model.json');
  const plot = join(dir, 'loss.svg');
  const times = roundTimes(series.commits);
  await writeJsonFile(results, {
    runId: input.runId,
    method: input.manifest.method,
    compressor: input.manifest.compressors.device,
    iterations: summary.iterations,
    committedRounds: summary.committedRounds,
    curve: { iteration: series.iteration, seconds: series.seconds, testLoss: series.loss, testAccuracy: series.accuracy },
    final: input.final,
    bytes: { uplink: summary.uplinkBytes, downlink: summary.downlinkBytes, wire: summary.wireBytes },
    seconds: times,
  });
  const lines = [
    'seconds,round,iteration,phase,included',
    ...series.commits.map((c) => `${c.t.toFixed(4)},${c.round},${c.iteration},${c.phase},${c.included}`),
  ];
  await writeTextFile(join(dir, 'rounds.csv'), `${lines.join('\n')}\n`);
  const svg = renderLineChart({
    title: `${input.title} — run ${input.runId.slice(0, 12)}`,
    panels: [
      { title: 'test loss by iteration', xLabel: 'iteration', yLabel: 'test loss', series: [{ name: 'test loss', x: series.iteration, y: series.loss }] },
      { title: 'test loss by time', xLabel: 'seconds', yLabel: 'test loss', series: [{ name: 'test loss', x: series.seconds, y: series.loss }] },
    ],
  });
  await writeTextFile(plot, svg);
  return { results, plot };
}

/** Small helpers shared by the commands: streams, interrupt handling, number formatting. */
import type { ProgressMode } from './progress.js';

export interface CliStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface CliContext {
  readonly stdout: CliStream;
  readonly stderr: CliStream;
  readonly cwd: string;
  readonly progress: ProgressMode;
}

/** The signals that stop a command gracefully (a terminal closing sends SIGHUP). */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const satisfies readonly NodeJS.Signals[];

/**
 * An AbortSignal fired by the first SIGINT, SIGTERM or SIGHUP; a second one exits at once. The
 * handlers are removed by the returned `dispose`.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) process.exit(130);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  for (const sig of STOP_SIGNALS) process.on(sig, handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const sig of STOP_SIGNALS) process.off(sig, handler);
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(2)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function formatMetric(v: number | null): string {
  if (v === null) return '—';
  return v === 0 ? '0' : v.toExponential(2);
}

export function shortId(id: string | null): string {
  if (id === null) return '—';
  return id.length > 14 ? `…${id.slice(-10)}` : id;
}

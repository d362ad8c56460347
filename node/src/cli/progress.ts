/**
 * Progress display of the `masha` commands, always on stderr (stdout stays clean for `--json`).
 *
 * - `bar`: a cli-progress bar redrawn in place; chosen automatically when the stream is a TTY.
 * - `lines`: one plain line at the start, then at most one every `intervalMs`, then a final line;
 *   chosen automatically otherwise (CI logs, redirected output, `npm start`'s children).
 * - `off`: nothing.
 *
 * Every display names its unit (`units(value, total)`, e.g. "45.0% done" or "120/2000
 * iterations"), and the bar shows an ETA only once one can be estimated (cli-progress's own
 * placeholder prints "NFs" for an unknown one).
 */
import cliProgress, { type Options, type Params, type SingleBar as Bar } from 'cli-progress';

// CommonJS: Node's ESM loader sees only some of its named exports (not `Format`).
const { Format, SingleBar } = cliProgress;

export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'off';
export const PROGRESS_MODES = ['auto', 'bar', 'lines', 'off'] as const satisfies readonly ProgressMode[];

export interface ProgressOptions {
  readonly stream: ProgressStream;
  readonly mode?: ProgressMode;
  /** How the amount of work reads, with its unit. */
  readonly units: (value: number, total: number) => string;
  /** Minimum time between plain lines (default 5000 ms). */
  readonly intervalMs?: number;
  /** Clock in ms (default Date.now); injectable for tests. */
  readonly now?: () => number;
}

export interface Progress {
  /** Sets the absolute amount of work done (clamped to [0, total]). */
  update(value: number, detail?: string): void;
  /** Ends the display with a final line/redraw. Idempotent. */
  stop(detail?: string): void;
  readonly value: number;
  readonly total: number;
}

export function resolveProgressMode(mode: ProgressMode, stream: ProgressStream): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY === true ? 'bar' : 'lines';
}

/** "1m05s", "12s" — or "?" while cli-progress has no estimate ("INF", "NULL"). */
export function formatEta(eta: unknown): string {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) return '?';
  return Format.TimeFormat(eta, { autopaddingChar: '0' }, 1);
}

class LineProgress implements Progress {
  value = 0;
  private last: number;
  private stopped = false;
  private readonly start: number;

  constructor(
    private readonly label: string,
    readonly total: number,
    private readonly options: ProgressOptions,
    private readonly now: () => number,
  ) {
    this.start = now();
    this.last = this.start;
    this.emit('started', '');
  }

  private emit(state: string, detail: string): void {
    const secs = ((this.now() - this.start) / 1000).toFixed(1);
    this.options.stream.write(`${this.label}: ${state} ${this.options.units(this.value, this.total)} [${secs} s]${detail ? ` ${detail}` : ''}\n`);
  }

  update(value: number, detail = ''): void {
    if (this.stopped) return;
    this.value = Math.max(0, Math.min(this.total, value));
    const t = this.now();
    if (t - this.last >= (this.options.intervalMs ?? 5000)) {
      this.last = t;
      this.emit('progress', detail);
    }
  }

  stop(detail = ''): void {
    if (this.stopped) return;
    this.stopped = true;
    this.emit('done', detail);
  }
}

class BarProgress implements Progress {
  value = 0;
  private stopped = false;
  private readonly bar: Bar;

  constructor(
    label: string,
    readonly total: number,
    options: ProgressOptions,
  ) {
    const units = options.units;
    this.bar = new SingleBar({
      stream: options.stream as NodeJS.WritableStream,
      format: (opts: Options, params: Params, payload: { detail?: string }): string => {
        const bar = Format.BarFormat(params.progress, opts);
        const elapsed = Math.round(((params.stopTime ?? Date.now()) - params.startTime) / 1000);
        const eta = params.value > 0 && params.value < params.total ? ` · ETA ${formatEta(params.eta)}` : '';
        return `${label} [${bar}] ${units(params.value, params.total)} · ${elapsed} s${eta} · ${payload.detail ?? ''}`;
      },
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    });
    this.bar.start(total, 0, { detail: '' });
  }

  update(value: number, detail = ''): void {
    if (this.stopped) return;
    this.value = Math.max(0, Math.min(this.total, value));
    this.bar.update(this.value, { detail });
  }

  stop(detail = ''): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar.update(this.value, { detail });
    this.bar.stop();
  }
}

class NoProgress implements Progress {
  value = 0;
  constructor(readonly total: number) {}
  update(value: number): void {
    this.value = Math.max(0, Math.min(this.total, value));
  }
  stop(): void {}
}

/** Starts a progress display for `total` units of work. */
export function startProgress(label: string, total: number, options: ProgressOptions): Progress {
  const mode = resolveProgressMode(options.mode ?? 'auto', options.stream);
  const t = Math.max(0, Math.floor(total));
  switch (mode) {
    case 'off':
      return new NoProgress(t);
    case 'bar':
      return new BarProgress(label, t, options);
    case 'lines':
      return new LineProgress(label, t, options, options.now ?? Date.now);
    default: {
      const never: never = mode;
      throw new Error(`unknown progress mode ${String(never)}`);
    }
  }
}

/**
 * Progress display for long runs, always on stderr (stdout stays clean for `--json`).
 *
 * - `bar`: a cli-progress bar redrawn in place; chosen automatically when the stream is a TTY.
 * - `lines`: one plain line at the start, then at most one every `intervalMs`, then a final line;
 *   chosen automatically otherwise (CI logs, redirected output).
 * - `off`: nothing.
 */
import cliProgress, { type Options, type SingleBar as Bar } from 'cli-progress';

// CommonJS: Node's ESM loader sees only some of its named exports (not `Format`).
const { Format, SingleBar } = cliProgress;

export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'off';

export interface ProgressOptions {
  readonly stream: ProgressStream;
  readonly mode?: ProgressMode;
  /** Minimum time between plain lines (default 5000 ms). */
  readonly intervalMs?: number;
  /** Clock in ms (default Date.now); injectable for tests. */
  readonly now?: () => number;
  /** What one unit of work is, shown after the count (`120/2000 iterations`). */
  readonly unit?: string;
}

/** cli-progress's ETA as text, or "?" while it has none (its own formatter prints "NFs" for "INF"). */
export function formatEta(eta: unknown, options: Options = { autopaddingChar: '0' }, roundTo = 1): string {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) return '?';
  return Format.TimeFormat(eta, options, roundTo);
}

export interface Progress {
  /** Sets the absolute amount of work done (clamped to [0, total]). */
  update(value: number, detail?: string): void;
  /** Adds to the amount of work done. */
  increment(delta: number, detail?: string): void;
  /** Ends the display with a final line/redraw. Idempotent. */
  stop(detail?: string): void;
  readonly value: number;
  readonly total: number;
}

export function resolveProgressMode(mode: ProgressMode, stream: ProgressStream): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY ? 'bar' : 'lines';
}

function percent(value: number, total: number): number {
  return total > 0 ? Math.floor((100 * value) / total) : 100;
}

class LineProgress implements Progress {
  value = 0;
  private last: number;
  private stopped = false;
  private readonly start: number;

  constructor(
    private readonly label: string,
    readonly total: number,
    private readonly stream: ProgressStream,
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly unit: string,
  ) {
    this.start = now();
    this.last = this.start;
    this.emit('started', '');
  }

  private emit(state: string, detail: string): void {
    const secs = ((this.now() - this.start) / 1000).toFixed(1);
    const d = detail ? ` ${detail}` : '';
    this.stream.write(
      `${this.label}: ${state} ${this.value}/${this.total}${this.unit ? ` ${this.unit}` : ''} (${percent(this.value, this.total)}%) [${secs}s]${d}\n`,
    );
  }

  update(value: number, detail = ''): void {
    if (this.stopped) return;
    this.value = Math.max(0, Math.min(this.total, value));
    const t = this.now();
    if (t - this.last >= this.intervalMs) {
      this.last = t;
      this.emit('progress', detail);
    }
  }

  increment(delta: number, detail = ''): void {
    this.update(this.value + delta, detail);
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
    stream: ProgressStream,
    unit: string,
  ) {
    this.bar = new SingleBar({
      stream: stream as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {value}/{total}${unit ? ` ${unit}` : ''} | ETA {eta_formatted} | {detail}`,
      formatTime: (t, options, roundTo) => formatEta(t, options, roundTo),
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

  increment(delta: number, detail = ''): void {
    this.update(this.value + delta, detail);
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
  increment(delta: number): void {
    this.update(this.value + delta);
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
      return new BarProgress(label, t, options.stream, options.unit ?? '');
    case 'lines':
      return new LineProgress(label, t, options.stream, options.intervalMs ?? 5000, options.now ?? Date.now, options.unit ?? '');
  }
}

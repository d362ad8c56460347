/**
 * The volunteer's CPU-share setting: the worker may be busy at most `share` of the time. All the
 * engine work of a tab runs in the worker inside `CpuGovernor.run` (frames in, timers, the answers
 * of evaluations), so the governor sees every busy span; for each millisecond of work it owes
 * (1/share − 1) ms of idle time, paid off by the idle time that follows. The worker idles between
 * rounds by answering an evaluation only once the idle time owed so far has passed
 * (`ThrottledEvaluator`): the tab then computes its next round later, and over time its busy
 * fraction stays under the share.
 *
 * The wait is capped (`maxDelayMs`, half the run's round deadline): a tab whose work per round
 * does not fit its share at the swarm's pace still answers in time rather than missing every
 * deadline and losing its shards — the share is a ceiling on idle-paced work, not a reason to stall
 * the run. Times are milliseconds of one monotonic clock, given by the caller (pure logic).
 */
import type { EvaluationRequest } from '@masha/protocol';
import type { Evaluator } from '@masha/protocol/ports';

export class CpuGovernor {
  private share: number;
  /** Idle time owed (ms) as of `lastEnd`. */
  private owed = 0;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private depth = 0;
  private spanStart = 0;
  /** Busy time measured so far (ms). */
  busyMs = 0;

  constructor(
    share: number,
    private readonly clock: () => number,
    readonly maxDelayMs: number,
  ) {
    this.share = CpuGovernor.clamp(share);
  }

  /** A share in [0.05, 1]; anything else (NaN, ≤ 0) becomes 1 or the floor. */
  static clamp(share: number): number {
    return Number.isFinite(share) ? Math.min(1, Math.max(0.05, share)) : 1;
  }

  get cpuShare(): number {
    return this.share;
  }

  setShare(share: number): void {
    this.share = CpuGovernor.clamp(share);
  }

  /** Idle ms owed per busy ms. */
  private get rate(): number {
    return 1 / this.share - 1;
  }

  /** Accounts a busy span [start, end] (ms). */
  account(start: number, end: number): void {
    const idle = Math.max(0, start - this.lastEnd);
    const busy = Math.max(0, end - start);
    this.owed = Math.max(0, this.owed - idle) + busy * this.rate;
    this.lastEnd = Math.max(this.lastEnd, end);
    this.busyMs += busy;
  }

  /** Runs `fn` as busy time (nested calls count once, in the outermost span). */
  run<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.depth = 1;
    this.spanStart = this.clock();
    try {
      return fn();
    } finally {
      this.depth = 0;
      this.account(this.spanStart, this.clock());
    }
  }

  /** How long to stay idle from `now` before more work (ms, at most `maxDelayMs`), counting a span still running. */
  delay(now: number): number {
    let owed = this.owed;
    let since = this.lastEnd;
    if (this.depth > 0) {
      owed = Math.max(0, owed - Math.max(0, this.spanStart - since)) + Math.max(0, now - this.spanStart) * this.rate;
      since = now;
    }
    const idle = Math.max(0, now - since);
    return Math.min(this.maxDelayMs, Math.max(0, owed - idle));
  }
}

/** Mean of the last `size` samples. */
export class RecentMean {
  private readonly xs: number[] = [];
  constructor(private readonly size: number) {}
  add(x: number): void {
    this.xs.push(x);
    if (this.xs.length > this.size) this.xs.shift();
  }
  get value(): number | null {
    if (this.xs.length === 0) return null;
    let s = 0;
    for (const x of this.xs) s += x;
    return s / this.xs.length;
  }
}

/**
 * An evaluator that answers only after the idle time the governor asks for: the inner evaluator
 * computes at once (its time is measured for the page), then the answer waits `governor.delay`.
 */
export class ThrottledEvaluator implements Evaluator {
  /** Evaluation time per request (ms), last 20. */
  readonly evaluateMs = new RecentMean(20);
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly inner: Evaluator,
    private readonly governor: CpuGovernor,
    private readonly clock: () => number,
  ) {}

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    const t0 = this.clock();
    this.inner.evaluate(request, (error) => {
      const t1 = this.clock();
      this.evaluateMs.add(t1 - t0);
      const wait = this.governor.delay(t1);
      if (wait <= 0) {
        complete(error);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.governor.run(() => complete(error));
      }, wait);
      this.timers.add(timer);
    });
  }

  /** Drops the answers still waiting (the host stopped). */
  cancel(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * The clock and the one timer of a host. `now` is monotone milliseconds (virtual in the
 * simulator, `performance.now()` in Node and browsers). `wakeAt(t)` asks the runtime to call the
 * host's `wake()` once at or after time t; each call replaces the previous request, and
 * `wakeAt(Infinity)` cancels it. A spurious or early wake is harmless: the host fires only timers
 * that are due.
 */
export interface Scheduler {
  now(): number;
  wakeAt(t: number): void;
}

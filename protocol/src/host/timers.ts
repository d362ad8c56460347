/**
 * A host's timer table: one deadline per kind (setting a kind that is set replaces it), ordered by
 * (deadline, order of setting) — the order a discrete-event queue would fire them in.
 */
export class TimerTable<K extends string> {
  private readonly at = new Map<K, { readonly t: number; readonly seq: number }>();
  private seq = 0;

  set(kind: K, t: number): void {
    this.at.set(kind, { t, seq: this.seq++ });
  }

  clear(kind: K): void {
    this.at.delete(kind);
  }

  clearAll(): void {
    this.at.clear();
  }

  has(kind: K): boolean {
    return this.at.has(kind);
  }

  /** The earliest deadline (Infinity when none is set). */
  next(): number {
    let best = Number.POSITIVE_INFINITY;
    for (const e of this.at.values()) if (e.t < best) best = e.t;
    return best;
  }

  /** Removes and returns the first timer due at `now`, or null. */
  popDue(now: number): K | null {
    let best: K | null = null;
    let bt = Number.POSITIVE_INFINITY;
    let bs = Number.POSITIVE_INFINITY;
    for (const [k, e] of this.at) {
      if (e.t > now) continue;
      if (e.t < bt || (e.t === bt && e.seq < bs)) {
        best = k;
        bt = e.t;
        bs = e.seq;
      }
    }
    if (best !== null) this.at.delete(best);
    return best;
  }
}

/**
 * A host's timer table: one deadline per kind (setting a kind that is set replaces it), ordered by
 * (deadline, order of setting) — the order a discrete-event queue would fire them in.
 */
export class TimerTable<K extends string> {
  private readonly at = new Map<K, { readonly t: number; readonly seq: number }>();
  private seq = 0;
  /** The earliest deadline, or NaN when it must be recomputed. */
  private earliest = Number.POSITIVE_INFINITY;

  set(kind: K, t: number): void {
    const old = this.at.get(kind);
    this.at.set(kind, { t, seq: this.seq++ });
    if (old !== undefined && old.t === this.earliest) this.earliest = Number.NaN;
    else if (t < this.earliest) this.earliest = t;
  }

  clear(kind: K): void {
    const old = this.at.get(kind);
    if (old === undefined) return;
    this.at.delete(kind);
    if (old.t === this.earliest) this.earliest = Number.NaN;
  }

  clearAll(): void {
    this.at.clear();
    this.earliest = Number.POSITIVE_INFINITY;
  }

  has(kind: K): boolean {
    return this.at.has(kind);
  }

  /** The earliest deadline (Infinity when none is set). */
  next(): number {
    if (Number.isNaN(this.earliest)) {
      let best = Number.POSITIVE_INFINITY;
      for (const e of this.at.values()) if (e.t < best) best = e.t;
      this.earliest = best;
    }
    return this.earliest;
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
    if (best !== null) {
      this.at.delete(best);
      if (bt === this.earliest) this.earliest = Number.NaN;
    }
    return best;
  }
}

/**
 * A host's timer table: one deadline per kind (setting a kind that is set replaces it), ordered by
 * (deadline, order of setting) — the order a discrete-event queue would fire them in. The kinds
 * are fixed when the table is made: deadlines live in a typed array (no allocation per timer set,
 * which a simulator running thousands of hosts does millions of times).
 */
export class TimerTable<K extends string> {
  private readonly index: ReadonlyMap<K, number>;
  private readonly kinds: readonly K[];
  /** Deadline per kind index; NaN when not set. */
  private readonly at: Float64Array;
  private readonly order: Float64Array;
  private seq = 0;
  private count = 0;
  /** The earliest deadline, or NaN when it must be recomputed. */
  private earliest = Number.POSITIVE_INFINITY;

  constructor(kinds: readonly K[]) {
    this.kinds = kinds;
    this.index = new Map(kinds.map((k, i) => [k, i]));
    this.at = new Float64Array(kinds.length).fill(Number.NaN);
    this.order = new Float64Array(kinds.length);
  }

  private slot(kind: K): number {
    const i = this.index.get(kind);
    if (i === undefined) throw new RangeError(`unknown timer '${kind}'`);
    return i;
  }

  set(kind: K, t: number): void {
    const i = this.slot(kind);
    const old = this.at[i];
    if (Number.isNaN(old)) this.count++;
    this.at[i] = t;
    this.order[i] = this.seq++;
    if (old === this.earliest) this.earliest = Number.NaN;
    else if (t < this.earliest) this.earliest = t;
  }

  clear(kind: K): void {
    const i = this.slot(kind);
    const old = this.at[i];
    if (Number.isNaN(old)) return;
    this.at[i] = Number.NaN;
    this.count--;
    if (old === this.earliest) this.earliest = Number.NaN;
  }

  clearAll(): void {
    this.at.fill(Number.NaN);
    this.count = 0;
    this.earliest = Number.POSITIVE_INFINITY;
  }

  has(kind: K): boolean {
    return !Number.isNaN(this.at[this.slot(kind)]);
  }

  /** The earliest deadline (Infinity when none is set). */
  next(): number {
    if (Number.isNaN(this.earliest)) {
      let best = Number.POSITIVE_INFINITY;
      const at = this.at;
      for (let i = 0; i < at.length; i++) if (at[i] < best) best = at[i];
      this.earliest = best;
    }
    return this.earliest;
  }

  /** Removes and returns the first timer due at `now`, or null. */
  popDue(now: number): K | null {
    if (this.count === 0 || !(this.next() <= now)) return null;
    let best = -1;
    const at = this.at;
    for (let i = 0; i < at.length; i++) {
      const t = at[i];
      if (!(t <= now)) continue;
      if (best < 0 || t < at[best] || (t === at[best] && this.order[i] < this.order[best])) best = i;
    }
    if (best < 0) return null;
    const t = at[best];
    at[best] = Number.NaN;
    this.count--;
    if (t === this.earliest) this.earliest = Number.NaN;
    return this.kinds[best];
  }
}

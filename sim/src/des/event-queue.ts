/**
 * A binary min-heap of events ordered by (time, sequence number).
 *
 * The sequence number is assigned at insertion and strictly increases, so two events scheduled for
 * the same virtual time pop in the order they were scheduled: tie-breaking is deterministic and
 * independent of heap internals. Times and sequence numbers live in parallel arrays (no entry
 * objects), which keeps the hot path allocation-free apart from the caller's event payloads.
 */
export class EventQueue<E> {
  private times: number[] = [];
  private seqs: number[] = [];
  private events: E[] = [];
  private nextSeq = 0;
  private lastTime = 0;

  /** Number of pending events. */
  get size(): number {
    return this.times.length;
  }

  /** Time of the earliest pending event, or +∞ when empty. */
  peekTime(): number {
    return this.times.length > 0 ? this.times[0] : Number.POSITIVE_INFINITY;
  }

  /** Time of the last popped event (the virtual clock). */
  get now(): number {
    return this.lastTime;
  }

  /** Inserts an event at `time` (must be finite and not before the last popped time). */
  push(time: number, event: E): void {
    if (!(time >= this.lastTime) || time === Number.POSITIVE_INFINITY) {
      throw new RangeError(`cannot schedule at t=${time} (clock is at ${this.lastTime})`);
    }
    const seq = this.nextSeq++;
    const times = this.times;
    const seqs = this.seqs;
    const events = this.events;
    let i = times.length;
    times.push(time);
    seqs.push(seq);
    events.push(event);
    // Sift up.
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = times[p];
      if (pt < time || (pt === time && seqs[p] < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[p];
      events[i] = events[p];
      i = p;
    }
    times[i] = time;
    seqs[i] = seq;
    events[i] = event;
  }

  /** Removes and returns the earliest event (advancing the clock), or undefined when empty. */
  pop(): E | undefined {
    const times = this.times;
    const n = times.length;
    if (n === 0) return undefined;
    const seqs = this.seqs;
    const events = this.events;
    const top = events[0];
    this.lastTime = times[0];
    const lastT = times.pop() as number;
    const lastS = seqs.pop() as number;
    const lastE = events.pop() as E;
    const m = n - 1;
    if (m > 0) {
      // Sift the former last element down from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= m) break;
        const r = l + 1;
        let c = l;
        if (r < m && (times[r] < times[l] || (times[r] === times[l] && seqs[r] < seqs[l]))) c = r;
        const ct = times[c];
        if (ct > lastT || (ct === lastT && seqs[c] > lastS)) break;
        times[i] = ct;
        seqs[i] = seqs[c];
        events[i] = events[c];
        i = c;
      }
      times[i] = lastT;
      seqs[i] = lastS;
      events[i] = lastE;
    }
    return top;
  }

  /** Drops every pending event (the clock keeps its value). */
  clear(): void {
    this.times.length = 0;
    this.seqs.length = 0;
    this.events.length = 0;
  }
}

/**
 * The aggregator's running sum of one round's uplinks: sum = (1/M) Σ decompress(payload_m).
 *
 * Uplinks are added as they arrive, into one d-vector accumulator. The terms are added in
 * ascending shard order all the same: floating-point addition is not associative, and the commit
 * must be the same bits whoever aggregates and whatever the arrival order (the swarm is bitwise
 * the reference runner). An answer that arrives in order (every lower shard already added, or
 * answered without a payload) is added at once; one that arrives early is checked (decoded) and
 * waits until the shards below it are in, or until the commit, which adds whatever is left in
 * order, skipping the shards that never answered. A small early payload waits decoded; a large
 * one (over HOLD_DECODED_BYTES on the wire: a dense model update) waits as its encoded bytes — a
 * view of the message that brought it, no copy — and is decoded again when its turn comes, so the
 * aggregator never holds decoded copies of large answers besides the accumulator.
 *
 * A running bound's warm-up answer (guard.ts, warmup-reference.ts) waits the same way, and holds
 * up the shards above it, until the commit gives its verdict: `finish(scales)` adds it as it is or
 * clipped (scaled), still in ascending shard order.
 */
import type { Payload } from '../compress/types.js';
import type { PhaseName } from '../methods/types.js';
import type { Vec, AnyMethod, PhaseInfo, ReplicaState, UplinkSum } from '../methods/types.js';

/** Early payloads up to this size (encoded) wait decoded; larger ones wait as bytes. */
export const HOLD_DECODED_BYTES = 64 * 1024;

export class RoundSum {
  readonly sum: Float64Array;
  /** Shards below `next` are added or skipped (answered without a payload). */
  private next = 0;
  /** Per shard: 0 unanswered, 1 waiting, 2 added, 3 answered without a payload, 4 waiting for its verdict. */
  private readonly state: Uint8Array;
  /**
   * What a waiting shard's answer is held as: its decoded payload (small), its encoded bytes
   * (large), or a dense contribution already weighted (a clipped answer: guard.ts).
   */
  private readonly held: (Payload | Uint8Array | Float64Array | null)[];
  private readonly included: number[] = [];
  private phase: PhaseName = 'init';
  private info: PhaseInfo | null = null;
  private replica: ReplicaState<Vec> | null = null;
  /** A deferred answer's contribution before its scale (allocated at the first clipped one). */
  private scratch: Float64Array | null = null;
  /** Deferred answers that `finish` added, and those it clipped. */
  deferred = 0;
  clipped = 0;

  constructor(
    private readonly method: AnyMethod,
    private readonly dim: number,
  ) {
    const M = method.shards;
    this.sum = new Float64Array(dim);
    this.state = new Uint8Array(M);
    this.held = new Array<Payload | Uint8Array | Float64Array | null>(M).fill(null);
  }

  /** Starts the sum of a new round (of `phase`, on `replica`, which must not change until `finish`). */
  reset(replica: ReplicaState<Vec>, phase: PhaseName, info: PhaseInfo): void {
    this.sum.fill(0);
    this.state.fill(0);
    this.held.fill(null);
    this.included.length = 0;
    this.next = 0;
    this.deferred = 0;
    this.clipped = 0;
    this.replica = replica;
    this.phase = phase;
    this.info = info;
  }

  /**
   * Shard s answered with encoded `bytes`, already decoded (checked) into `payload`: added now
   * when every lower shard is in, else held (see the module doc). The sum takes the payload over.
   */
  add(s: number, bytes: Uint8Array, payload: Payload): void {
    if (s === this.next) {
      this.fold(s, payload);
      this.advance();
      return;
    }
    this.hold(s, bytes, payload);
  }

  private hold(s: number, bytes: Uint8Array, payload: Payload): void {
    this.state[s] = 1;
    if (bytes.length <= HOLD_DECODED_BYTES) this.held[s] = payload;
    else {
      (this.info as PhaseInfo).uplink.release?.(payload);
      this.held[s] = bytes;
    }
  }

  /** Shard s's answer (as for `add`) waits for its verdict, given to `finish`. */
  addDeferred(s: number, bytes: Uint8Array, payload: Payload): void {
    this.hold(s, bytes, payload);
    this.state[s] = 4;
  }

  /**
   * Shard s's contribution as a dense vector already weighted (sum += dense): a clipped answer.
   * Copied: the caller may reuse `dense`.
   */
  addDense(s: number, dense: Float64Array): void {
    this.state[s] = 1;
    this.held[s] = dense.slice();
    this.advance();
  }

  /** Shard s answered without a payload (a fresh holder): it counts as answered, adds nothing. */
  skip(s: number): void {
    this.state[s] = 3;
    this.advance();
  }

  /**
   * Adds everything still waiting, in ascending order — a deferred answer of shard s scaled by
   * scales[s] (guard.settle: 1 as it is, < 1 clipped) — and returns the sum and the shards in it.
   */
  finish(scales: Float64Array | null = null): UplinkSum {
    const M = this.state.length;
    for (let s = this.next; s < M; s++) {
      const st = this.state[s];
      if (st === 1) this.foldHeld(s);
      else if (st === 4) {
        this.deferred++;
        const k = scales === null || Number.isNaN(scales[s]) ? 1 : scales[s];
        if (k < 1) this.foldScaled(s, k);
        else this.foldHeld(s);
      }
    }
    this.next = M;
    return { sum: this.sum, included: this.included };
  }

  /** Adds a waiting answer clipped: (1/M)·decode(payload)·k, as guard.ts's clip does. */
  private foldScaled(s: number, k: number): void {
    const h = this.held[s] as Payload | Uint8Array;
    this.held[s] = null;
    const info = this.info as PhaseInfo;
    const payload = h instanceof Uint8Array ? info.uplink.decode(h, this.dim) : h;
    const d = (this.scratch ??= new Float64Array(this.dim));
    d.fill(0);
    this.method.accumulateUplink(this.replica as ReplicaState<Vec>, this.phase, s, payload, d);
    info.uplink.release?.(payload);
    const sum = this.sum;
    for (let i = 0; i < sum.length; i++) sum[i] += d[i] * k;
    this.state[s] = 2;
    this.included.push(s);
    this.clipped++;
  }

  private fold(s: number, payload: Payload): void {
    const info = this.info as PhaseInfo;
    this.method.accumulateUplink(this.replica as ReplicaState<Vec>, this.phase, s, payload, this.sum);
    info.uplink.release?.(payload);
    this.state[s] = 2;
    this.included.push(s);
  }

  private foldHeld(s: number): void {
    const h = this.held[s] as Payload | Uint8Array | Float64Array;
    this.held[s] = null;
    if (h instanceof Float64Array) {
      const sum = this.sum;
      for (let i = 0; i < sum.length; i++) sum[i] += h[i];
      this.state[s] = 2;
      this.included.push(s);
      return;
    }
    this.fold(s, h instanceof Uint8Array ? (this.info as PhaseInfo).uplink.decode(h, this.dim) : h);
  }

  /** Moves `next` past every answered shard, adding the held ones. */
  private advance(): void {
    const M = this.state.length;
    while (this.next < M) {
      const st = this.state[this.next];
      if (st === 0 || st === 4) break;
      if (st === 1) this.foldHeld(this.next);
      this.next++;
    }
  }
}

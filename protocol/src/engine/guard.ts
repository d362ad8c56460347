/**
 * The update guard — updates that cannot poison the run (issue 14): what the aggregator does with
 * answers it cannot trust. It lives as long as the peer (across the epochs it aggregates), so a
 * ban is for the run. (Signed commits, certified epochs and equivocation bans are trust.ts.)
 *
 * **Refusals.** An answer whose payload does not decode (NaN, ±∞, a wrong length…) or lies beyond
 * its bound is *refused*: it counts as a miss of its holder at once (the holder is benched and
 * its shards move at the next boundary — the aggregator re-opens the round without waiting for
 * the deadline when nothing else is outstanding), and after `refusalLimit` refusals the sender is
 * banned for the run: its heartbeats and answers are dropped, it holds no shard and is never a
 * successor. A refused answer never resets the holder's miss count (only an accepted one does).
 *
 * **Benching.** A holder that misses `missLimit` deadlines in a row — or one, in a round that
 * needs every shard, if it never had an answer accepted — is benched for leaseMs·2^(strikes−1)
 * (its strikes count the benches since its last accepted answer with a payload, capped at 2^10
 * leases; benches survive this peer's epochs). A peer that never answers — a free identity that
 * only heartbeats — is therefore out of the assignment for ever longer stretches, so a few honest
 * peers get every shard and the run goes on however many mute identities join; an honest slow
 * peer comes back after its bench and its first accepted answer clears its strikes.
 *
 * **Lipschitz bounds** (problems with known L_m: bilinear games, quadratics). The method states
 * per phase what an honest uplink is (`MethodInstance.uplinkShape`):
 *   - a compressed difference C(F_m(x₀) − F_m(x₁)): ‖F_m(x₀) − F_m(x₁)‖ ≤ L_m‖x₀ − x₁‖
 *     (finite-sum F_{m,π}: each term is √r·L_m-Lipschitz when F_m is L_m-Lipschitz in mean square);
 *   - a (compressed) value C(F_m(x)): ‖F_m(x)‖ ≤ ‖F_m(0)‖ + L_m‖x‖;
 *   - opaque: it depends on the holder's own memory (error feedback e_m, MARINA's telescoped
 *     differences), which the aggregator cannot see — no Lipschitz bound.
 * times the compressor's worst-case gain G = sup ‖decode(C(x))‖/‖x‖ over *every* draw
 * (`Compressor.maxGain`: RandK d/K, PermK M, natural 2, dithering 2 + √d·2^(1−s), identity 1…).
 * Every factor is a worst case, not an expectation, so an honest answer satisfies the bound with
 * c = 1 up to floating-point rounding: L_m is computed as an upper bound, the evaluation of F in
 * float64 errs by far less than 10⁻⁹ relative (covered by an explicit term) and the float32
 * rounding of payloads is inside G. The factor c (`boundFactor`, default 2) is pure margin; the
 * tests run honest runs of every method and compressor with the bounds on and check that no
 * answer exceeds its bound even before the factor c (sim/test/guard-honest.test.ts records the
 * largest ratio seen per phase).
 *
 * **Running bounds** (tasks without L_m: models). Per shard and phase the aggregator keeps the
 * norms of the last `window` accepted answers — a difference's norm per unit of ‖x₀ − x₁‖, i.e. an
 * empirical Lipschitz constant of the shard, which stays steady while ‖x₀ − x₁‖ swings from round
 * to round; a value's norm as it is — and once `warmup` are in, an answer above `factor`·median is
 * *clipped* to it (scaled, same direction) instead of rejected, and enters the history as the
 * median (so a persistent attacker cannot ratchet the bound up). Effect
 * on convergence: nothing changes unless some shard's update exceeds `factor` times its own
 * recent median; a clipped update keeps its direction with a smaller step for that shard in that
 * round, so the round's aggregate errs by at most (1 − 1/ratio) of that shard's 1/M share — a
 * per-shard step-size cap, like gradient clipping: stochastic-gradient methods keep converging
 * (to a neighbourhood whose size scales with how often honest updates are clipped), and honest
 * norms that shrink as training converges are never clipped. A poisoned update contributes at most
 * factor times its shard's usual size per round: a ×10⁶ answer no longer diverges the run (tested),
 * but a lie within the factor still biases it — and with an aggressive stepsize a persistent
 * ×factor shard can still destabilise it — which is what audits are for. The limitation: an honest
 * shard whose scale truly jumps by more than `factor` and stays there is clipped for as long as it
 * stays (a smaller step, never a wrong sign). The median is per shard and over rounds: shards are
 * heterogeneous by design, and a tight cross-shard bound would bias F.
 *
 * **Warm-up** (warmup-reference.ts). A (shard, phase) with fewer than `warmup` norms in its history
 * has no median of its own — every phase's first rounds at each aggregator, a model run's 'init'
 * round among them, and a shard that a liar holds from its start would seed that median with its
 * lies. Such an answer is judged against the other shards instead, generously: at the commit (an
 * attacker answers first — garbage needs no computing — so on its arrival there may be nothing to
 * compare with; it waits in the round's sum, round-sum.ts), against the lower median over the
 * other shards of their level (the median of their history once warmed up, else their norm in this
 * round). Only an answer beyond CROSS_FACTOR = 64 times that reference is clipped — and then to the
 * reference itself, not to 64× it (64 is the test for a lie, not a size to grant one: clipped to
 * 64× the reference, a liar from iteration 0 kicked the simulated MASHA1 run to 0.715 / loss 2.24,
 * honest answers clipped in its wake; clipped to the reference, 0.7325 / 0.949, none) — and it
 * enters its history as the reference, so a liar cannot seed its shard's median. Honest warm-up
 * answers come nowhere near 64: the largest honest ratio measured on the softmax model is 1.55
 * (MASHA1) / 1.83 (MASHA2). The verdicts depend on the round's set of answers and the histories,
 * never on the arrival order, and the sum adds deferred answers in ascending shard order like all
 * others: an honest run stays bitwise the run with bounds off. Limits: with nothing to compare
 * (no other judged answer in the round and no warmed-up shard: M ≤ 2 when the aggregator holds the
 * other shard — its own answers are not judged —, or a round with a single remote answer) the
 * answer is accepted and enters as it is, as before; liars holding half or more of a round's other
 * answers set the reference; a liar that stays within 64× in its shard's warm-up seeds its median
 * up to 64× the others' (as one within 8× can already ratchet its median up later) — lies inside
 * the bounds are the audits' job.
 *
 * **Model runs** (manifest/model-run.ts). A model has no L_m, so a model run's bounds are the
 * running bounds: the manifest's default `updates.bounds` ('lipschitz') and 'running' both resolve
 * to 'running'; only 'off' turns them off. `ModelMethod.uplinkShape` says what is judged: the
 * 'init'/'refresh' values F̃_{m,s}(w) as they are; MASHA1's 'diff' per unit of ‖z^{k+½} − w^k‖
 * over the w-part (an empirical Lipschitz constant of shard m's minibatch operator); MASHA2's
 * 'diff' is opaque (C(D_m + e_m) depends on the holder's error-feedback memory) and is judged as
 * it is. Measured on the softmax model in the simulator with the real engines (8 peers, 8 shards,
 * 600 iterations; sim/test/model-guard.test.ts): honest runs (MASHA1 plain γ float32; MASHA2 with
 * SGD momentum and PowerSGD) clip 0 answers and end bitwise equal to the runs with bounds off. A
 * holder that scales its answers ×10⁶ from iteration 100 on diverges the run without bounds (the
 * iterate leaves the float32 range); with them all 567 of its answers are clipped and the run ends
 * at test accuracy 0.7675 / loss 0.791 against 0.7725 / 0.630 honest (MASHA1), 0.740 / 0.996
 * against 0.7525 / 0.688 (MASHA2): the clipped lies (8× one shard of eight) still bias the run,
 * within 2 accuracy points and 1.6× the loss — removing the liar is the audits' job: with
 * `audit` = 0.2 it is banned after 4 (MASHA1) / 16 (MASHA2) clipped answers and the run ends at the
 * honest accuracy, its loss within 10⁻⁵ relative. A ×10⁶ liar from iteration 0 or 5 — whose
 * shard's histories are still forming — wrecked the run with the running bounds before the warm-up
 * reference (accuracy 0.53 / 0.41, loss 4·10³⁵ / 1.3·10⁵ for MASHA1; 0.27 / 0.25, loss 3·10¹³ /
 * 3·10⁶ for MASHA2); now every one of its answers is clipped (676 / 669), no honest one is, and the
 * run ends at 0.7325 / 0.949 and 0.74 / 0.950 (MASHA1), 0.735 / 1.318 and 0.735 / 1.320 (MASHA2):
 * clipped from the start at its shard's early level, the liar biases the run more than the sleeper
 * (within 4 accuracy points and 1.9× the loss). (The shape makes a model run's values and
 * MASHA1's differences auditable; MASHA2's opaque differences are not.) Answers of
 * NaN or ±∞ are refused (whatever the bounds), three refusals ban the sender, and the run ends
 * within 0.003 accuracy and 0.1 % loss of the honest one. On a real swarm (test/test/
 * swarm-model-poison.test.ts: 4 `masha join` volunteers and a ×10⁶ attacker joined over libp2p, 8
 * shards, MASHA1 γ = 0.2) all of the attacker's answers are clipped (1,430 and 1,526 in two runs)
 * and the run ends at 0.7425 / 0.700 and 0.745 / 0.713 against 0.7625 / 0.633 honest. Joined at
 * round 5 instead, it diverged 2 of 4 runs before the warm-up reference (accuracy ~0.3, loss
 * ~10³⁶); with it 6 of 6 runs train, 0.73–0.7475 / 0.698–0.808, every answer of the attacker
 * clipped and no other; joined at round 0, it diverged 2 of 2 runs before (0.5325 and 0.615, loss
 * ~10³⁷), 0.695–0.7025 / 0.87–0.88 with it (2 runs). The limit of clipping at 8×: with γ = 0.5 the
 * attacker held 2 of the 8 shards there, and two shards' lies at 8× their size (an aggregate up to
 * 2.75× the honest one) still diverged the run — a clip bounds a liar's weight, it does not remove
 * it. The honest ALBERT swarm run (test/test/swarm-model.test.ts: MASHA2, LAMB, 8-bit) clips 0
 * answers (tested; 12 warm-up answers judged against the other shards, counter `warmup-judged`).
 *
 * **Audits** (BOINC-style, `audit` = p). With probability p per round and shard (drawn from this
 * peer's private stream, so a holder cannot know whether it is checked) the aggregator asks a
 * second member to compute the same shard for the same round (an AUDIT message sent to that member
 * alone). Answers are deterministic functions of the round's base state — compressors draw their
 * randomness from (run, iteration, purpose, shard), never from the holder — so honest answers are
 * equal bit for bit. A mismatch is settled by a third computation, the aggregator's own; whoever
 * disagrees with it is banned, and the round continues with the agreed answer. Phases whose
 * answers depend on holder memory (`opaque`) are not audited; a fresh holder's "fresh" marker has
 * nothing to audit. Audits need bit-reproducible evaluators (synthetic problems, and model runs
 * whose volunteers share one ONNX backend).
 */
import type { Compressor, Payload } from '../compress/types.js';
import type { AnyMethod, PhaseName, ReplicaState, UplinkShape } from '../methods/types.js';
import type { Vec } from '../vec/kernels.js';
import { Streams } from '../rng/streams.js';
import { WarmupReference } from './warmup-reference.js';
import type { PeerId } from './types.js';

/** Per-shard constants of a problem with known Lipschitz constants. */
export interface ShardConstants {
  /** L_m (an upper bound). */
  lipschitz(m: number): number;
  /** ‖F_m(0)‖. */
  anchor(m: number): number;
  /** Finite-sum size r (1 without one). */
  readonly samples: number;
}

export type BoundMode = 'lipschitz' | 'running' | 'off';

export interface GuardSettings {
  /** Refused answers before the sender is banned for the run (≥ 1). */
  readonly refusalLimit: number;
  /** Margin c ≥ 1 of the Lipschitz bounds. */
  readonly boundFactor: number;
  /** How answers are bounded. */
  readonly bounds: BoundMode;
  /** Lipschitz constants and anchors (needed by 'lipschitz'). */
  readonly shards: ShardConstants | null;
  /** Running bounds: rounds remembered, answers before the bound applies, clip factor over the median. */
  readonly running: { readonly window: number; readonly warmup: number; readonly factor: number };
  /** Probability p that a shard's answer is audited in a round. */
  readonly audit: number;
}

export const GUARD_DEFAULTS = {
  refusalLimit: 3,
  boundFactor: 2,
  running: { window: 15, warmup: 3, factor: 8 },
  audit: 0,
} as const;

/** Relative slack for the floating-point evaluation of F (see the module doc). */
const EVAL_SLACK = 1e-9;
/** Largest bench, in leases. */
const MAX_BENCH_DOUBLINGS = 10;

export type Verdict =
  | { readonly kind: 'ok' }
  | { readonly kind: 'reject'; readonly norm: number; readonly bound: number }
  | { readonly kind: 'clip'; readonly scale: number }
  /** A running bound's warm-up answer: judged at the commit (`settle`, warmup-reference.ts). */
  | { readonly kind: 'defer' };

const OK: Verdict = { kind: 'ok' };

/** Resolves the settings of a run from partial ones (RunContextInit.guard). */
export function guardSettings(init: Partial<GuardSettings> | undefined, shards: ShardConstants | null): GuardSettings {
  const bounds = init?.bounds ?? (shards !== null ? 'lipschitz' : 'off');
  return {
    refusalLimit: init?.refusalLimit ?? GUARD_DEFAULTS.refusalLimit,
    boundFactor: init?.boundFactor ?? GUARD_DEFAULTS.boundFactor,
    bounds: bounds === 'lipschitz' && shards === null ? 'off' : bounds,
    shards,
    running: init?.running ?? GUARD_DEFAULTS.running,
    audit: init?.audit ?? GUARD_DEFAULTS.audit,
  };
}

/** How long a holder benched for the `strikes`-th time sits out, in ms. */
export function benchMs(leaseMs: number, strikes: number): number {
  return leaseMs * 2 ** Math.min(Math.max(0, strikes - 1), MAX_BENCH_DOUBLINGS);
}

/**
 * The per-round bound: for shard m, the largest norm of the decoded payload an honest holder can
 * send (before the factor c), or null when unbounded. Computed once per round from the method's
 * shape of the phase.
 */
export class RoundBound {
  constructor(
    private readonly shape: UplinkShape,
    private readonly gain: number,
    private readonly k: ShardConstants,
    private readonly dim: number,
  ) {}

  /** ‖honest payload of shard m‖ ≤ this. */
  of(m: number): number {
    const s = this.shape;
    const L = this.k.lipschitz(m) * (s.kind !== 'opaque' && s.sampled ? Math.sqrt(this.k.samples) : 1);
    const A = this.k.anchor(m);
    const G = this.gain;
    switch (s.kind) {
      case 'difference':
        return G * s.scale * (L * s.distance + EVAL_SLACK * (A + L * s.pointNorm)) + Math.sqrt(this.dim) * 2 ** -120;
      case 'value':
        return G * s.scale * (A + L * s.norm) * (1 + EVAL_SLACK) + Math.sqrt(this.dim) * 2 ** -120;
      case 'opaque':
        return Number.POSITIVE_INFINITY;
      default:
        return assertNever(s);
    }
  }
}

/** Norms of the last answers of one (shard, phase): a ring buffer and its median. */
class NormHistory {
  private readonly values: Float64Array;
  private readonly sorted: Float64Array;
  private n = 0;
  private next = 0;
  constructor(window: number) {
    this.values = new Float64Array(window);
    this.sorted = new Float64Array(window);
  }
  get count(): number {
    return this.n;
  }
  push(x: number): void {
    this.values[this.next] = x;
    this.next = (this.next + 1) % this.values.length;
    if (this.n < this.values.length) this.n++;
  }
  median(): number {
    const s = this.sorted.subarray(0, this.n);
    s.set(this.values.subarray(0, this.n));
    s.sort();
    const h = this.n >> 1;
    return this.n & 1 ? s[h] : 0.5 * (s[h - 1] + s[h]);
  }
}

export class Guard {
  readonly settings: GuardSettings;
  /** Peers banned for the run, and why. */
  readonly banned = new Map<PeerId, string>();
  /** Benched holders (membership.ts) and how often, kept across this peer's epochs. */
  readonly benches = new Map<PeerId, { strikes: number; until: number }>();
  /** Peers that have had an answer with a payload accepted by this peer (across its epochs). */
  readonly proven = new Set<PeerId>();
  private readonly refusals = new Map<PeerId, number>();
  private readonly history = new Map<string, NormHistory>();
  private readonly streams: Streams;
  /**
   * The running bounds' warm-up answers of the round, judged against the other shards at the
   * commit; made at the first one (five M-vectors: most peers never judge, and Lipschitz bounds never defer).
   */
  private warm: WarmupReference | null = null;
  /** (1/M)·decode(payload) of the answer judged last; allocated when this peer first judges one. */
  private scratch: Float64Array | null = null;
  private bound: RoundBound | null = null;
  /** What a running bound divides a norm by this round (see beginRound). */
  private unit = 1;
  /** Largest ‖answer‖ / (its bound before the factor c) judged so far (how close answers come to the bound). */
  maxRatio = 0;
  /** The same, per phase. */
  readonly maxRatioByPhase = new Map<PhaseName, number>();
  private boundKey = '';

  constructor(
    private readonly method: AnyMethod,
    settings: GuardSettings,
    secret: number,
  ) {
    this.settings = settings;
    this.streams = new Streams(secret);
  }

  isBanned(peer: PeerId): boolean {
    return this.banned.has(peer);
  }

  /** Hook: this peer's guard banned `peer` (the peer spreads the ban to the swarm: bans.ts). */
  onBan: (peer: PeerId) => void = () => {};

  ban(peer: PeerId, reason: string): boolean {
    if (this.banned.has(peer)) return false;
    this.banned.set(peer, reason);
    this.onBan(peer);
    return true;
  }

  /** Counts a refused answer of `peer`; true when this one reaches the ban. */
  refuse(peer: PeerId): boolean {
    const n = (this.refusals.get(peer) ?? 0) + 1;
    this.refusals.set(peer, n);
    return n >= this.settings.refusalLimit && this.ban(peer, 'refused answers');
  }

  /** Whether shard m's answer of `round` is audited (this peer's private draw). */
  audits(round: number, m: number): boolean {
    const p = this.settings.audit;
    return p > 0 && this.streams.rng(round, 'audit', m).nextBool(p);
  }

  /** One of `candidates` (non-empty), drawn privately for (round, m). */
  pick<T>(round: number, m: number, candidates: readonly T[]): T {
    return candidates[this.streams.rng(round, 'auditor', m).nextInt(candidates.length)];
  }

  /** Starts a round: the Lipschitz bound of its phase (cached per round), and whether its answers can be audited. */
  beginRound(round: number, replica: ReplicaState<Vec>, phase: PhaseName, uplink: Compressor): { auditable: boolean } {
    const shape = this.method.uplinkShape?.(replica, phase) ?? null;
    // Running bounds compare a difference's norm per unit of ‖x₀ − x₁‖ (an empirical Lipschitz
    // constant of the shard, steady across rounds), anything else as it is.
    this.unit = shape !== null && shape.kind === 'difference' && shape.distance > 0 ? shape.distance : 1;
    this.warm?.begin();
    const key = `${round}:${replica.iteration}:${phase}`;
    if (key !== this.boundKey) {
      this.boundKey = key;
      this.bound = null;
      const k = this.settings.shards;
      if (this.settings.bounds === 'lipschitz' && shape !== null && shape.kind !== 'opaque' && k !== null) {
        const gain = uplink.maxGain?.(this.method.dim, this.method.shards);
        if (gain !== undefined && Number.isFinite(gain)) this.bound = new RoundBound(shape, gain, k, this.method.dim);
      }
    }
    return { auditable: shape !== null && shape.kind !== 'opaque' };
  }

  /** Whether answers of this round are checked at all (saves decoding twice when not). */
  get checking(): boolean {
    return this.bound !== null || this.settings.bounds === 'running';
  }

  /**
   * Judges shard m's decoded payload: its norm against the round's bound (Lipschitz: reject
   * beyond c·bound; running: clip beyond factor·median). `dense` receives (1/M)·decode(payload)
   * when the verdict is 'clip' (already scaled), for the caller to add instead of the payload.
   */
  judge(replica: ReplicaState<Vec>, phase: PhaseName, m: number, payload: Payload): Verdict {
    const s = (this.scratch ??= new Float64Array(this.method.dim));
    s.fill(0);
    this.method.accumulateUplink(replica, phase, m, payload, s);
    let sq = 0;
    for (let i = 0; i < s.length; i++) sq += s[i] * s[i];
    const norm = Math.sqrt(sq) * this.method.shards;
    if (!Number.isFinite(norm)) return { kind: 'reject', norm, bound: 0 };
    if (this.bound !== null) {
      const honest = this.bound.of(m);
      const ratio = norm / honest;
      if (ratio > this.maxRatio) this.maxRatio = ratio;
      if (ratio > (this.maxRatioByPhase.get(phase) ?? 0)) this.maxRatioByPhase.set(phase, ratio);
      const bound = this.settings.boundFactor * honest;
      return norm <= bound ? OK : { kind: 'reject', norm, bound };
    }
    if (this.settings.bounds !== 'running') return OK;
    const key = `${phase}:${m}`;
    let h = this.history.get(key);
    if (h === undefined) {
      h = new NormHistory(this.settings.running.window);
      this.history.set(key, h);
    }
    const stat = norm / this.unit;
    if (h.count >= this.settings.running.warmup) {
      const median = h.median();
      const limit = this.settings.running.factor * median;
      if (stat > limit) {
        // A clipped answer enters the history as the median: persistent large answers cannot
        // ratchet the bound up.
        h.push(median);
        const scale = limit / stat;
        for (let i = 0; i < s.length; i++) s[i] *= scale;
        return { kind: 'clip', scale };
      }
    } else return (this.warm ??= new WarmupReference(this.method.shards)).defer(m, stat);
    h.push(stat);
    return OK;
  }

  /**
   * The verdicts of the round's deferred (warm-up) answers, at its commit: per shard the scale to
   * add its answer with (1: as it is, < 1: clipped, NaN: not deferred), or null when none was.
   */
  settle(phase: PhaseName): Float64Array | null {
    return this.warm === null ? null : this.warm.settle((m) => this.history.get(`${phase}:${m}`), this.settings.running.warmup);
  }

  /** Largest ‖warm-up answer‖ / its cross-shard reference seen so far (warmup-reference.ts). */
  get warmRatio(): number {
    return this.warm?.maxRatio ?? 0;
  }

  /** The clipped contribution of the last `judge` that answered 'clip' ((1/M)·scale·decoded). */
  get clipped(): Float64Array {
    return this.scratch as Float64Array;
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}

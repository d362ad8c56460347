/**
 * Epochs and the election without votes (see peer.ts for the design): which epoch this peer is in
 * and who its aggregator is, the lease watchdog, and the claim of the next epoch when the
 * aggregator goes silent.
 *
 * The aggregator of epoch e is the highest rendezvous weight H(runId, e, p) among the live peers.
 * When a device has heard nothing from its aggregator for a lease, successor i of the published list
 * claims epoch e + 1 after i·claimStep; a peer outside the list claims after the list's turns plus a
 * delay that falls with its own weight (`claimSpread`). Peers adopt the highest epoch they see; two
 * claimants of one epoch are ordered by weight and the lower steps down when it hears the higher.
 */
import type { RunContext } from './context.js';
import type { Outbox } from './outbox.js';
import { outranks, peerBaseHash, rendezvousWeight } from './rendezvous.js';
import type { EngineMessage, PeerId } from './types.js';

/** What the election needs from the rest of the peer. */
export interface ElectionHooks {
  /** True while this peer is the aggregator of its epoch. */
  isAggregating(): boolean;
  /** A new epoch (or a higher-ranked claimant) was adopted; runs before the `election` action. */
  beforeAdopt(aggregator: PeerId): void;
  /** Runs after the `election` action. */
  afterAdopt(aggregator: PeerId): void;
  /** This peer's claim timer fired with the aggregator still silent: claim `epoch`. */
  claim(epoch: number): void;
}

/** No honest epoch reaches this (see `maxPlausibleEpoch`). */
export const EPOCH_PLAUSIBLE_MAX = 0x7fffffff;

export class Election {
  epoch = 0;
  aggregator: PeerId | null = null;
  successors: readonly string[] = [];
  lastHeardAgg = 0;
  /** When the current epoch was adopted (or the peer started). */
  adoptedAt = 0;
  private aggWeight = 0;
  private suspectAt: number | null = null;
  private readonly base: number;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly hooks: ElectionHooks,
  ) {
    this.base = peerBaseHash(ctx.runId, outbox.id);
    // A resumed run continues above the epochs it had reached.
    this.epoch = ctx.resume?.epoch ?? 0;
  }

  get id(): PeerId {
    return this.outbox.id;
  }

  /** This peer's rendezvous base hash (for its membership record). */
  get selfBase(): number {
    return this.base;
  }

  weightOf(peer: PeerId, epoch: number): number {
    return rendezvousWeight(peer === this.id ? this.base : peerBaseHash(this.ctx.runId, peer), epoch);
  }

  start(): void {
    this.lastHeardAgg = this.outbox.now;
    this.adoptedAt = this.outbox.now;
  }

  /**
   * Highest epoch a message may plausibly carry now. Epochs advance by one claim after a lease of
   * silence, so in an honest swarm no side of any partition gets more than about one epoch per
   * lease ahead of the epoch this peer adopted: allowed are 8 + 2 per lease since then. A peer
   * that has not adopted an aggregator yet (a joiner) cannot know the run's epoch and allows any
   * up to EPOCH_PLAUSIBLE_MAX (2³¹ − 1: 136 years of one election per two seconds).
   */
  maxPlausibleEpoch(now: number): number {
    if (this.aggregator === null) return EPOCH_PLAUSIBLE_MAX;
    const leases = Math.max(0, now - this.adoptedAt) / this.ctx.timing.leaseMs;
    return Math.min(EPOCH_PLAUSIBLE_MAX, this.epoch + 8 + Math.ceil(2 * leases));
  }

  /**
   * Epoch rule for messages an aggregator sends (ANNOUNCE, OPEN, COMMIT): true when the message is
   * from this peer's aggregator (adopting a newer epoch, or a higher-ranked claimant of the same
   * epoch, on the way).
   */
  acceptAggregator(msg: EngineMessage): boolean {
    if (msg.epoch < this.epoch) {
      this.outbox.count('stale-epoch');
      return false;
    }
    if (msg.epoch > this.epoch) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    if (msg.sender === this.aggregator) {
      this.lastHeardAgg = this.outbox.now;
      return true;
    }
    if (this.aggregator === null) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    const w = this.weightOf(msg.sender, msg.epoch);
    if (outranks(w, msg.sender, this.aggWeight, this.aggregator) > 0) {
      this.adopt(msg.epoch, msg.sender);
      return true;
    }
    this.outbox.count('epoch-conflict');
    return false;
  }

  /** Takes the successor list of an aggregator's message (when it carries one). */
  takeSuccessors(successors: readonly string[]): void {
    if (successors.length > 0) this.successors = successors;
  }

  adopt(epoch: number, aggregator: PeerId): void {
    this.hooks.beforeAdopt(aggregator);
    this.epoch = epoch;
    this.aggregator = aggregator;
    this.aggWeight = this.weightOf(aggregator, epoch);
    this.lastHeardAgg = this.outbox.now;
    this.adoptedAt = this.outbox.now;
    this.successors = [];
    this.suspectAt = null;
    this.outbox.clearTimer('claim');
    this.outbox.push({ type: 'election', epoch, aggregator });
    this.hooks.afterAdopt(aggregator);
  }

  onWatchdog(): void {
    const { leaseMs } = this.ctx.timing;
    if (this.hooks.isAggregating()) return; // re-armed on stepping down
    const now = this.outbox.now;
    const silent = now - this.lastHeardAgg;
    if (silent < leaseMs) {
      this.outbox.setTimer('wd', leaseMs - silent);
      return;
    }
    if (this.suspectAt === null || this.suspectAt < this.lastHeardAgg) {
      this.suspectAt = now;
      this.outbox.setTimer('claim', this.claimDelay());
    }
    this.outbox.setTimer('wd', leaseMs);
  }

  /**
   * Successor i claims after i steps; others after the list's turns plus `claimSpread` windows,
   * earlier the higher their weight.
   */
  private claimDelay(): number {
    const { claimStepMs, claimWindowMs } = this.ctx.timing;
    const i = this.successors.indexOf(this.id);
    if (i >= 0) return i * claimStepMs;
    const w = this.weightOf(this.id, this.epoch + 1);
    return this.successors.length * claimStepMs + claimWindowMs * claimSpread(1 - w / 4294967296, this.ctx.shards);
  }

  onClaimTimer(): void {
    if (this.hooks.isAggregating() || this.suspectAt === null || this.lastHeardAgg > this.suspectAt) return;
    this.hooks.claim(this.epoch + 1);
  }
}

/**
 * Claim delay, in claim windows, of an unlisted peer whose weight ranks at `x` = 1 − w/2³² ∈ (0, 1]
 * (uniform over peers): log₂(1 + n·x), with n the run's shard count, the expected swarm size.
 *
 * Why not a linear spread: the k-th highest of N uniform weights sits at x ≈ k/N, so a linear
 * delay W·x leaves W/N between successive claimants, and every peer whose timer fires before
 * the first claim has crossed the gossip tree (propagation P) claims too: about N·P/W of them
 * (~150 peers at N = 1,000, P ≈ 150 ms, W = 500 ms), each claim a broadcast to the whole swarm.
 * With the logarithm the k-th claims at ≈ W·log₂(1 + k·n/N): for N ≈ n the top peer claims after
 * about one window and the others only within P of it, k < 2^(1 + P/W) − 1 — one or two claimants
 * whatever the swarm size. The order (highest weight first) is unchanged; for n = 1 the spread is
 * within 0.09 W of the linear one; a swarm much smaller than n waits ≈ W·log₂(n/N) longer.
 */
export function claimSpread(x: number, n: number): number {
  return Math.log2(1 + n * x);
}

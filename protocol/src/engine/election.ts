/**
 * Epochs and the election without votes (see peer.ts for the design): which epoch this peer is in
 * and who its aggregator is, the lease and progress watchdog, and the certified claim of the next
 * epoch when the aggregator fails.
 *
 * The aggregator of epoch e is the highest rendezvous weight H(runId, e, p) among the live peers.
 * When a device has heard nothing from its aggregator for a lease — or has heard it but seen no
 * commit for `stallDeadlines` round deadlines, or holds a proof that it equivocated — successor i of the published list claims epoch e + 1 after i·claimStep; a peer
 * outside the list claims after the list's turns plus a delay that falls with its own weight
 * (`claimSpread`). Two certified claimants of one epoch are ordered by weight and the lower steps
 * down when it hears the higher.
 *
 * **Certified claims** (trust/certs.ts has the rules and why they are safe): a peer adopts a new
 * (epoch, aggregator) only with a certificate chain it can verify. A claimant certifies its claim
 * with the previous aggregator's signed successor list naming it (SUCC), or with `suspect`
 * attestations of enough other peers (QUORUM): devices broadcast theirs once the list's turns are
 * over (a silent aggregator whose successors are gone too), or at once when the aggregator stalled
 * or equivocated (then its own successor list no longer counts). Epoch 1 needs only the claimant's
 * signature (GENESIS). Epoch arithmetic is total: claims stop at MAX_EPOCH.
 */
import {
  decodeChain,
  encodeChain,
  genesisStatement,
  type Link,
  LINK_GENESIS,
  LINK_QUORUM,
  LINK_SUCC,
  MAX_CHAIN,
  MAX_EPOCH,
  quorumFor,
  successionStatement,
  suspectStatement,
} from '../trust/certs.js';
import { MashaError } from '../errors.js';
import type { RunContext } from './context.js';
import { encodeSuspect, MSG, type SuspectBody } from './messages.js';
import type { Outbox } from './outbox.js';
import { outranks, peerBaseHash, rendezvousWeight } from './rendezvous.js';
import type { Trust } from './trust.js';
import type { EngineMessage, PeerId } from './types.js';

/** What the election needs from the rest of the peer. */
export interface ElectionHooks {
  /** True while this peer is the aggregator of its epoch. */
  isAggregating(): boolean;
  /** A new epoch (or a higher-ranked claimant) was adopted; runs before the `election` action. */
  beforeAdopt(aggregator: PeerId): void;
  /** Runs after the `election` action. */
  afterAdopt(aggregator: PeerId): void;
  /** This peer's claim timer fired with the aggregator still failed: claim `epoch` (certified by `chain`). */
  claim(epoch: number, chain: readonly Link[]): void;
}

/** Why this peer stopped following its aggregator. */
type Suspicion = 'silent' | 'stalled' | 'equivocated';

/** No honest epoch reaches this (see `maxPlausibleEpoch`). */
export const EPOCH_PLAUSIBLE_MAX = 0x7fffffff;

export class Election {
  epoch = 0;
  aggregator: PeerId | null = null;
  successors: readonly string[] = [];
  lastHeardAgg = 0;
  /** When the current aggregator last showed progress (a commit, or its adoption). */
  lastProgress = 0;
  /** When the current epoch was adopted (or the peer started). */
  adoptedAt = 0;
  private aggWeight = 0;
  private suspectAt: number | null = null;
  private suspicion: Suspicion | null = null;
  private readonly base: number;
  /** The current aggregator's verified signed succession (members, successors, signature). */
  private succession: { epoch: number; signer: PeerId; members: number; successors: readonly string[]; sig: Uint8Array } | null = null;
  /** Suspect attestations for (epoch, aggregator) = the current ones: attester → signature. */
  private attest = new Map<PeerId, Uint8Array>();
  private attestKey = '';
  private attested = false;
  /** The claim timer fired but no certificate could be built yet (waiting for attestations). */
  private wantClaim = false;
  /** This peer's own chain for the epoch it aggregates or follows (sent in its ANNOUNCE/OPEN/COMMIT). */
  private chainBytes: Uint8Array | null = null;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly trust: Trust,
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
    this.lastProgress = this.outbox.now;
    this.adoptedAt = this.outbox.now;
  }

  /** The encoded certificate chain of the current (epoch, aggregator), for this peer's aggregator messages. */
  get chain(): Uint8Array | null {
    return this.chainBytes;
  }

  /** A chain vouched for by the launcher (its signed run announcement): recorded without checks. */
  anchor(bytes: Uint8Array): void {
    let chain: Link[];
    try {
      chain = decodeChain(bytes);
    } catch (e) {
      if (e instanceof MashaError) {
        this.outbox.count('bad-message');
        return;
      }
      throw e;
    }
    this.trust.book.anchor(chain);
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
   * from this peer's aggregator (adopting a certified newer epoch, or a higher-ranked certified
   * claimant of the same epoch, on the way). `chain`: the certificate chain the message carries.
   */
  acceptAggregator(msg: EngineMessage, chain: Uint8Array | null): boolean {
    if (this.trust.isBanned(msg.sender)) {
      this.outbox.count('banned-peer');
      return false;
    }
    if (msg.epoch < this.epoch) {
      this.outbox.count('stale-epoch');
      return false;
    }
    if (msg.epoch === this.epoch && msg.sender === this.aggregator) {
      this.lastHeardAgg = this.outbox.now;
      return true;
    }
    if (msg.epoch === this.epoch && this.aggregator !== null) {
      const w = this.weightOf(msg.sender, msg.epoch);
      if (outranks(w, msg.sender, this.aggWeight, this.aggregator) <= 0) {
        this.outbox.count('epoch-conflict');
        return false;
      }
    }
    if (!this.certify(msg.epoch, msg.sender, chain)) return false;
    this.adopt(msg.epoch, msg.sender);
    return true;
  }

  /** True when (epoch, peer) is certified, or `chain` certifies it. */
  private certify(epoch: number, peer: PeerId, chain: Uint8Array | null): boolean {
    const book = this.trust.book;
    if (book.isCertified(epoch, peer)) return true;
    if (chain !== null) {
      let links: Link[] | null = null;
      try {
        links = decodeChain(chain);
      } catch (e) {
        if (!(e instanceof MashaError)) throw e;
      }
      if (links !== null && links.length > 0 && links[0].epoch === epoch && links[0].claimant === peer) {
        const ok = book.verify(links);
        if (ok !== null) return true;
      }
    }
    this.outbox.count('uncertified-epoch');
    return false;
  }

  /**
   * Takes the successor list of an aggregator's message (when it carries one) with its signed
   * succession statement; an unsigned or badly signed list is ignored.
   */
  takeSuccessors(msg: EngineMessage, successors: readonly string[], succession: { members: number; sig: Uint8Array } | null): void {
    if (successors.length === 0 || succession === null || msg.sender !== this.aggregator || msg.epoch !== this.epoch) return;
    const s = this.succession;
    if (s !== null && s.epoch === msg.epoch && s.signer === msg.sender && bytesEqual(s.sig, succession.sig)) return;
    const statement = successionStatement(this.ctx.runId, msg.epoch, msg.sender, succession.members, successors);
    if (!this.trust.identity.verify(msg.sender, statement, succession.sig)) {
      this.outbox.count('bad-signature');
      return;
    }
    this.successors = successors;
    this.succession = { epoch: msg.epoch, signer: msg.sender, members: succession.members, successors: successors.slice(), sig: succession.sig.slice() };
  }

  /** This peer, as aggregator, publishes `successors`: its own verified succession (for its chain of the next epoch's claimants). */
  ownSuccession(members: number, successors: readonly string[], sig: Uint8Array): void {
    this.successors = successors;
    this.succession = { epoch: this.epoch, signer: this.id, members, successors: successors.slice(), sig };
  }

  /** A commit of the current aggregator was heard: it makes progress. */
  progress(): void {
    this.lastProgress = this.outbox.now;
  }

  adopt(epoch: number, aggregator: PeerId): void {
    this.hooks.beforeAdopt(aggregator);
    this.epoch = epoch;
    this.aggregator = aggregator;
    this.aggWeight = this.weightOf(aggregator, epoch);
    this.lastHeardAgg = this.outbox.now;
    this.lastProgress = this.outbox.now;
    this.adoptedAt = this.outbox.now;
    this.successors = [];
    this.succession = null;
    this.suspectAt = null;
    this.suspicion = null;
    this.attested = false;
    this.wantClaim = false;
    this.attestAt = Number.POSITIVE_INFINITY;
    this.claimAt = Number.POSITIVE_INFINITY;
    this.attest = new Map();
    this.attestKey = `${epoch}|${aggregator}`;
    this.trust.book.follow(epoch, aggregator);
    const chain = this.trust.book.chainOf(epoch, aggregator);
    this.chainBytes = chain !== null && chain.length > 0 ? encodeChain(chain.slice(0, MAX_CHAIN)) : null;
    this.outbox.clearTimer('claim');
    this.outbox.push({ type: 'election', epoch, aggregator });
    this.hooks.afterAdopt(aggregator);
  }

  onWatchdog(): void {
    const { leaseMs, roundDeadlineMs } = this.ctx.timing;
    if (this.hooks.isAggregating()) return; // re-armed on stepping down
    const now = this.outbox.now;
    const silent = now - this.lastHeardAgg;
    const stallMs = this.ctx.stallDeadlines * roundDeadlineMs;
    // No commit for stallDeadlines deadlines: withholding, or paused (for lack of peers) that long —
    // either way the role moves on (a pause then costs an election per stallDeadlines deadlines).
    const stalled = this.aggregator !== null && now - this.lastProgress >= stallMs;
    // The aggregator came back (or made progress again) before anyone took over: follow it again.
    if (this.suspectAt !== null && ((this.suspicion === 'silent' && this.lastHeardAgg > this.suspectAt) || (this.suspicion === 'stalled' && !stalled))) {
      if (this.suspicion === 'stalled' && this.aggregator !== null && !this.trust.isBanned(this.aggregator)) this.trust.book.distrusted.delete(this.aggregator);
      this.clearSuspicion();
    }
    if (this.suspicion === null) {
      if (silent >= leaseMs) this.suspect('silent');
      else if (stalled) this.suspect('stalled');
    }
    if (this.suspicion !== null) this.outbox.setTimer('wd', leaseMs);
    else this.outbox.setTimer('wd', Math.max(1, Math.min(leaseMs - silent, this.lastProgress + stallMs - now)));
  }

  private clearSuspicion(): void {
    this.suspectAt = null;
    this.suspicion = null;
    this.attestAt = Number.POSITIVE_INFINITY;
    this.claimAt = Number.POSITIVE_INFINITY;
    this.wantClaim = false;
    this.outbox.clearTimer('claim');
  }

  /** The aggregator was proven to equivocate: move on at once. */
  distrustAggregator(): void {
    if (this.aggregator === null || this.hooks.isAggregating() || this.suspicion === 'equivocated') return;
    this.suspect('equivocated');
  }

  private suspect(reason: Suspicion): void {
    const now = this.outbox.now;
    this.suspectAt = now;
    this.suspicion = reason;
    if (reason !== 'silent' && this.aggregator !== null) {
      this.trust.book.distrusted.add(this.aggregator);
      if (reason === 'stalled') this.outbox.count('stalled-aggregator');
    }
    if (this.epoch >= MAX_EPOCH) {
      this.outbox.count('epoch-exhausted');
      return;
    }
    // A silent aggregator's listed successors claim first (SUCC); attestations follow if they do
    // not. A stalled or equivocating one's list no longer counts: attest at once.
    const { claimStepMs } = this.ctx.timing;
    this.attestAt = reason === 'silent' && this.successors.length > 0 ? now + (this.successors.length + 1) * claimStepMs : now;
    this.claimAt = now + this.claimDelay(reason);
    if (this.attestAt <= now) this.sendAttestation();
    this.armClaim();
  }

  private armClaim(): void {
    const now = this.outbox.now;
    // No attestation is due without an aggregator to attest against (the leaderless start):
    // sendAttestation would do nothing, and the timer would re-fire every millisecond until the claim.
    const attestAt = this.attested || this.aggregator === null ? Number.POSITIVE_INFINITY : this.attestAt;
    const at = Math.min(attestAt, this.claimAt);
    if (at !== Number.POSITIVE_INFINITY) this.outbox.setTimer('claim', Math.max(0, at - now));
  }

  /** When this peer attests (after the listed successors' turns, for a silent aggregator) and claims. */
  private attestAt = Number.POSITIVE_INFINITY;
  private claimAt = Number.POSITIVE_INFINITY;

  private sendAttestation(): void {
    const agg = this.aggregator;
    if (this.attested || agg === null || this.outbox.role === 'observer') return;
    this.attested = true;
    const sig = this.trust.sign(suspectStatement(this.ctx.runId, this.epoch, agg));
    this.attest.set(this.id, sig);
    this.outbox.broadcast(this.outbox.message(MSG.SUSPECT, this.epoch, 0, 0, encodeSuspect({ aggregator: agg, sig })));
    this.outbox.count('suspect-sent');
  }

  /** A peer's attestation that our aggregator failed. */
  onSuspect(msg: EngineMessage, body: SuspectBody): void {
    if (this.trust.isBanned(msg.sender) || msg.sender === body.aggregator) return;
    if (`${msg.epoch}|${body.aggregator}` !== this.attestKey || this.attest.has(msg.sender) || this.attest.size >= 64) return;
    if (!this.trust.identity.verify(msg.sender, suspectStatement(this.ctx.runId, msg.epoch, body.aggregator), body.sig)) {
      this.outbox.count('bad-signature');
      return;
    }
    this.attest.set(msg.sender, body.sig.slice());
    if (this.wantClaim) this.onClaimTimer();
  }

  /**
   * Successor i claims after i steps; others after the list's turns plus `claimSpread` windows,
   * earlier the higher their weight. After a stall or an equivocation the list does not count.
   */
  private claimDelay(reason: Suspicion): number {
    const { claimStepMs, claimWindowMs } = this.ctx.timing;
    const list = reason === 'silent' ? this.successors : [];
    const i = list.indexOf(this.id);
    if (i >= 0) return i * claimStepMs;
    const w = this.weightOf(this.id, this.epoch + 1);
    return (list.length > 0 ? (list.length + 1) * claimStepMs : 0) + claimWindowMs * claimSpread(1 - w / 4294967296, this.ctx.shards);
  }

  onClaimTimer(): void {
    if (this.hooks.isAggregating() || this.suspectAt === null || this.outbox.role === 'observer') return;
    if (this.suspicion === 'silent' && this.lastHeardAgg > this.suspectAt) return;
    const now = this.outbox.now;
    if (now >= this.attestAt) this.sendAttestation();
    if (now < this.claimAt) {
      this.armClaim();
      return;
    }
    const chain = this.buildClaim();
    if (chain === null) {
      this.wantClaim = true;
      return;
    }
    this.wantClaim = false;
    this.trust.book.own(chain);
    this.hooks.claim(chain[0].epoch, chain);
  }

  /** This peer's certificate for epoch + 1, or null when it has none (yet). */
  private buildClaim(): Link[] | null {
    const next = this.epoch + 1;
    if (next > MAX_EPOCH) return null;
    const me = this.id;
    const book = this.trust.book;
    const prior = this.aggregator === null ? [] : (book.chainOf(this.epoch, this.aggregator) ?? []);
    const tail = prior.slice(0, MAX_CHAIN - 1);
    const agg = this.aggregator;
    // The first epoch of the run, or the first after a resume (no aggregator followed since).
    if (next === 1 || (agg === null && book.isOpen(next))) {
      return [{ type: LINK_GENESIS, epoch: next, claimant: me, sig: this.trust.sign(genesisStatement(this.ctx.runId, me, next)) }];
    }
    if (agg === null) return null;
    const s = this.succession;
    if (s !== null && s.epoch === this.epoch && s.signer === agg && !book.distrusted.has(agg) && s.successors.includes(me)) {
      return [{ type: LINK_SUCC, epoch: next, claimant: me, signer: agg, members: s.members, successors: s.successors, sig: s.sig }, ...tail];
    }
    const need = quorumFor(s !== null && s.signer === agg ? s.members : 0);
    const attestations: { attester: PeerId; sig: Uint8Array }[] = [];
    for (const [attester, sig] of this.attest) {
      if (book.banned.has(attester)) continue;
      attestations.push({ attester, sig });
      if (attestations.length >= need) break;
    }
    if (attestations.length < need) return null;
    return [
      {
        type: LINK_QUORUM,
        epoch: next,
        claimant: me,
        predecessor: agg,
        succession: s !== null && s.signer === agg ? { members: s.members, successors: s.successors, sig: s.sig } : null,
        attestations,
      },
      ...tail,
    ];
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

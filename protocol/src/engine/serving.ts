/**
 * Limits on serving state (snapshots and replays of logged commits) to other peers.
 *
 * A STATE_REQUEST is a few dozen bytes; the answer is a whole replica or up to `logRounds`
 * commits. Unbounded, that is an amplifier: measured on the swarm tests' run (d = 100, M = 10)
 * with frame bytes counted, a snapshot answered a request 31× its size and a replay 190×, and a
 * peer alternating the round it asked about was served every time (the throttle remembered only
 * the last request). Three limits now hold:
 *
 * - **Who**: only members are served. The aggregator serves the peers in its membership table
 *   (heard within a lease); a device serves only its current aggregator (the one peer that
 *   fetches a device's state: a better version reported in a heartbeat); an observer (a launcher)
 *   serves the peers its host admits (`EngineOptions.admits`). That option also narrows every role
 *   (an admission policy of the run).
 * - **How much per request**: the bytes sent in answer to one request (frames, headers included)
 *   are at most `amplification` (2) times the request's own bytes. A requester pays for what it
 *   asks by padding its request (`stateRequestPadding`): half the size of a snapshot, or of the
 *   commits it is missing. A replay is cut where the request's credit ends (the requester asks
 *   again for the rest); a snapshot that the credit does not cover is not sent. So no request,
 *   and no sequence of requests, gets more than twice its bytes back.
 * - **How fast**: token buckets of bytes, one per requesting peer and one for all of them
 *   together, refilled over a lease (`ServingLimits`): a member asking again and again (paying
 *   each time) still cannot take the server's uplink, and many members syncing at once (a relaunch,
 *   a partition healing) are served a few at a time while the rest retry at their sync timeout.
 *
 * Costs: an honest joiner uploads half a snapshot's bytes once (4 KB on the default run); a
 * device a few commits behind uploads half of them. Nothing here reads a clock: `now` is the
 * engine's.
 */
import { encodedBytes } from '../frames/format.js';

/** A token bucket of bytes: `capacity` at most, refilled at `capacity` per `periodMs`. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly capacity: number,
    readonly periodMs: number,
    now = 0,
  ) {
    if (!(capacity >= 0) || !(periodMs > 0)) throw new RangeError(`token bucket needs capacity ≥ 0 and period > 0, got ${capacity}, ${periodMs}`);
    this.tokens = capacity;
    this.at = now;
  }

  /** Tokens available at `now`. */
  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes `n` tokens if available; true when taken. */
  take(n: number, now: number): boolean {
    this.refill(now);
    if (n > this.tokens) return false;
    this.tokens -= n;
    return true;
  }

  private refill(now: number): void {
    if (now > this.at) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.capacity) / this.periodMs);
      this.at = now;
    }
  }
}

export interface ServingLimits {
  /** Bytes a request may get back per byte of itself (frames counted). Default 2. */
  readonly amplification: number;
  /** Bytes served to one peer per lease (a token bucket refilled over a lease). */
  readonly perPeerBytesPerLease: number;
  /** Bytes served to all peers together per lease. */
  readonly totalBytesPerLease: number;
}

/** Why a request was not served (engine counters). */
export type ServeRefusal = 'state-request-not-member' | 'state-request-unpaid' | 'state-request-peer-rate' | 'state-request-total-rate';

/** Frame bytes of a message of `bodyBytes` from a sender id of `senderBytes` characters. */
export function wireBytes(bodyBytes: number, senderBytes: number, frameBytes: number): number {
  return encodedBytes(bodyBytes, senderBytes, frameBytes);
}

/** The per-request credit, the per-peer buckets and the total bucket of one serving peer. */
export class ServingGate {
  private readonly peers = new Map<string, TokenBucket>();
  private readonly total: TokenBucket;

  constructor(
    readonly limits: ServingLimits,
    private readonly leaseMs: number,
    now = 0,
  ) {
    this.total = new TokenBucket(limits.totalBytesPerLease, leaseMs, now);
  }

  /** Credit (bytes that may be sent back) of a request of `requestBytes` frame bytes. */
  credit(requestBytes: number): number {
    return this.limits.amplification * requestBytes;
  }

  /**
   * Whether `bytes` more may go to `peer` now under the buckets; takes them when so. The credit
   * check is the caller's (it knows what it has sent for this request).
   */
  take(peer: string, bytes: number, now: number): ServeRefusal | null {
    const b = this.bucket(peer, now);
    if (b.level(now) < bytes) return 'state-request-peer-rate';
    if (!this.total.take(bytes, now)) return 'state-request-total-rate';
    b.take(bytes, now);
    return null;
  }

  private bucket(peer: string, now: number): TokenBucket {
    let b = this.peers.get(peer);
    if (b === undefined) {
      // Forget peers whose buckets are full again (nothing to remember), so the map stays small.
      if (this.peers.size >= 1024) {
        for (const [p, q] of this.peers) if (q.level(now) >= q.capacity) this.peers.delete(p);
      }
      b = new TokenBucket(this.limits.perPeerBytesPerLease, this.leaseMs, now);
      this.peers.set(peer, b);
    }
    return b;
  }
}

/**
 * Padding a requester adds to a STATE_REQUEST so that the answer it expects (`expectedBytes`
 * frame bytes) is covered by the request's credit: the request must weigh at least
 * expectedBytes / amplification. `baseBytes`: the request's frame bytes without padding.
 */
export function stateRequestPadding(expectedBytes: number, baseBytes: number, amplification: number): number {
  return Math.max(0, Math.ceil(expectedBytes / amplification) - baseBytes);
}

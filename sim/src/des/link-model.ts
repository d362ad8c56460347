import type { Rng } from '@masha/protocol/rng';

/**
 * Per-peer network and compute characteristics. A peer reaches the rest of the swarm through one
 * access link: frames it sends queue on its uplink, frames it receives queue on its downlink, and
 * the propagation delay between two peers is the sum of their access latencies (plus jitter).
 */
export interface LinkProfile {
  /** Virtual milliseconds one operator evaluation F_m(·) takes on this peer. */
  readonly computeMs: number;
  /** Uplink bandwidth in megabits per second (1 Mbit/s = 1000 bits per virtual ms). */
  readonly uplinkMbps: number;
  /** Downlink bandwidth in megabits per second. */
  readonly downlinkMbps: number;
  /** One-way access latency in milliseconds (a frame between a and b takes lat_a + lat_b). */
  readonly latencyMs: number;
  /** Extra delay per frame, uniform in [0, jitter_a + jitter_b). */
  readonly jitterMs: number;
  /** Probability that a frame is lost on this peer's access link, in [0, 1). */
  readonly loss: number;
}

/** A volunteer on a home connection: 20 Mbit/s up, 100 Mbit/s down, 20 ms, no loss. */
export const DEFAULT_LINK: LinkProfile = Object.freeze({
  computeMs: 0.05,
  uplinkMbps: 20,
  downlinkMbps: 100,
  latencyMs: 20,
  jitterMs: 0,
  loss: 0,
});

/** Throws RangeError unless every field of the profile is finite and in range. */
export function checkLinkProfile(p: LinkProfile, where = 'link'): void {
  const positive = (v: number, name: string): void => {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${where}.${name} must be a positive finite number, got ${v}`);
  };
  const nonNegative = (v: number, name: string): void => {
    if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${where}.${name} must be a finite number ≥ 0, got ${v}`);
  };
  nonNegative(p.computeMs, 'computeMs');
  positive(p.uplinkMbps, 'uplinkMbps');
  positive(p.downlinkMbps, 'downlinkMbps');
  nonNegative(p.latencyMs, 'latencyMs');
  nonNegative(p.jitterMs, 'jitterMs');
  if (!(p.loss >= 0 && p.loss < 1)) throw new RangeError(`${where}.loss must be in [0, 1), got ${p.loss}`);
}

/**
 * The live, mutable link state of one peer: the profile scaled by a `slow` factor and the times
 * at which its uplink, downlink and CPU become free (FIFO queues, so a busy link delays later frames).
 */
export class LinkState {
  profile: LinkProfile;
  /** `slow` factor ≥ 1 multiplies compute time and divides bandwidth (1 = nominal). */
  slow = 1;
  upFreeAt = 0;
  downFreeAt = 0;
  /** Virtual ms per byte on the uplink / downlink at the current slow factor. */
  upMsPerByte = 0;
  downMsPerByte = 0;

  constructor(profile: LinkProfile) {
    checkLinkProfile(profile);
    this.profile = profile;
    this.refresh();
  }

  setSlow(factor: number): void {
    if (!(Number.isFinite(factor) && factor > 0)) throw new RangeError(`slow factor must be positive, got ${factor}`);
    this.slow = factor;
    this.refresh();
  }

  /** Milliseconds of compute for `evaluations` operator evaluations. */
  computeTime(evaluations: number): number {
    return evaluations * this.profile.computeMs * this.slow;
  }

  /** Queues `bytes` on the uplink starting no earlier than `now`; returns when the last bit leaves. */
  transmit(now: number, bytes: number): number {
    const start = this.upFreeAt > now ? this.upFreeAt : now;
    this.upFreeAt = start + bytes * this.upMsPerByte;
    return this.upFreeAt;
  }

  /** Queues `bytes` on the downlink from their arrival at `now`; returns when they are fully received. */
  receive(now: number, bytes: number): number {
    const start = this.downFreeAt > now ? this.downFreeAt : now;
    this.downFreeAt = start + bytes * this.downMsPerByte;
    return this.downFreeAt;
  }

  private refresh(): void {
    // 1 Mbit/s = 1000 bits per ms = 125 bytes per ms.
    this.upMsPerByte = this.slow / (this.profile.uplinkMbps * 125);
    this.downMsPerByte = this.slow / (this.profile.downlinkMbps * 125);
  }
}

/** Propagation delay between two peers: access latencies plus a uniform jitter draw (only drawn when jitter > 0). */
export function propagationDelay(a: LinkProfile, b: LinkProfile, rng: Rng): number {
  const jitter = a.jitterMs + b.jitterMs;
  const base = a.latencyMs + b.latencyMs;
  return jitter > 0 ? base + rng.nextFloat53() * jitter : base;
}

/** Whether a frame crossing a's and b's access links is lost (only draws when a loss rate is set). */
export function frameLost(a: LinkProfile, b: LinkProfile, rng: Rng): boolean {
  if (a.loss === 0 && b.loss === 0) return false;
  const survive = (1 - a.loss) * (1 - b.loss);
  return rng.nextFloat53() >= survive;
}

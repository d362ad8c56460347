/**
 * The aggregator's door and register of members: who may join its table (the run's admission
 * policy: allowlist, launcher-signed tokens, member caps) and what each heartbeat says about its
 * sender — its version (verified against the signed commit behind it), capacity for the relay
 * trees, lag, misses and held shards (during the gather they rebuild the assignment; later they
 * are checked and corrected).
 */
import { verifyToken } from '../trust/ed25519.js';
import type { RunContext } from './context.js';
import type { Lineage } from './lineage.js';
import type { Member, Membership } from './membership.js';
import { HB_DONE, HB_LEAF, type HeartbeatBody } from './messages.js';
import type { Outbox } from './outbox.js';
import type { Trust } from './trust.js';
import type { PeerId } from './types.js';

/** A decoded heartbeat body (decodeHeartbeat). */
export type Heartbeat = HeartbeatBody & { readonly upKbps: number };

export class MemberIntake {
  private readonly allow: ReadonlySet<string> | null;
  /** Members admitted since the gather (for the run's cap on new members per epoch). */
  private newMembers = 0;

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly lineage: Lineage,
    private readonly trust: Trust,
  ) {
    const a = ctx.admission;
    this.allow = a.policy === 'allowlist' ? new Set(a.peers ?? []) : null;
  }

  /** A new epoch: its cap on new members starts again. */
  newEpoch(): void {
    this.newMembers = 0;
  }

  /**
   * Whether `peer` may become a member of this aggregator's table (the run's admission policy):
   * allowlist, launcher-signed token, member caps. During the gather, members of the previous
   * epoch report in and do not count as new.
   */
  admit(gathering: boolean, table: Membership, peer: PeerId, token: Uint8Array | null): boolean {
    const a = this.ctx.admission;
    if (this.allow !== null && !this.allow.has(peer)) return false;
    if (a.policy === 'tokens') {
      const key = a.launcherKey ?? null;
      if (key === null || token === null || !verifyToken(key, this.ctx.runId, token, a.wallClock?.() ?? 0)) return false;
    }
    if (a.maxMembers != null && table.members.size >= a.maxMembers + 1) return false;
    if (!gathering) {
      if (a.maxNewPerEpoch != null && this.newMembers >= a.maxNewPerEpoch) return false;
      this.newMembers++;
    }
    return true;
  }

  /** Takes what member m's heartbeat says (`gathering`: the epoch is still gathering heartbeats). */
  record(gathering: boolean, T: Membership, m: Member, sender: PeerId, body: Heartbeat): void {
    m.round = body.round;
    m.commitEpoch = body.commitEpoch;
    m.digest.set(body.digest);
    m.done = (body.flags & HB_DONE) !== 0;
    T.setCapacity(m, body.upKbps, (body.flags & HB_LEAF) !== 0);
    // A version counts only with the signed commit behind it (checked when it matters: a better
    // version, or another digest for our own round and epoch — which may prove an equivocation).
    const c = this.lineage.versionVs(body.round, body.commitEpoch, body.digest);
    m.verified = c >= 0 && !(body.round === this.lineage.committed && body.commitEpoch === this.lineage.commitEpoch && c !== 0);
    if (!m.verified && body.round > 0) {
      m.verified = this.trust.verifyVersion(body.cert, body.round, body.commitEpoch, body.digest);
      if (!m.verified) this.outbox.count('uncertified-version');
    }
    if (m.missed > 0 && this.outbox.now - m.lastMissAt > this.ctx.timing.leaseMs) {
      m.missed = 0;
      T.dirty = true;
    }
    T.setLag(m, this.lineage.committed - body.round);
    // Holdings: during the gather they rebuild the assignment; later they are checked.
    let mismatch = body.held.length !== m.holding.size;
    for (const s of body.held) {
      const h = T.holders[s];
      if (h === sender) continue;
      if (gathering && h === null) {
        T.holders[s] = sender;
        m.holding.add(s);
        continue;
      }
      mismatch = true;
      T.unsent.add(s);
    }
    if (mismatch && !gathering) {
      // Re-send the sender's true holdings (O(held), not O(M)).
      for (const s of m.holding) T.unsent.add(s);
      this.outbox.count('holding-corrected');
    }
  }
}

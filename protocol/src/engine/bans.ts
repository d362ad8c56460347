/**
 * Swarm-wide bans (issue 14): a peer the aggregator banned (repeated refused answers, a failed
 * audit: guard.ts) is banned by every peer for the run, not only by that aggregator's guard.
 *
 * # What carries a ban, and who may issue one
 *
 * A ban is an entry (peer, issuer, epoch, sig): `sig` is the issuer's signature of
 * `ban(run, epoch, issuer, peer)` (domain-separated like every statement of trust/certs.ts:
 * "MASHA", statement kind 6, the run id). The aggregator that bans a peer signs such an entry with
 * its own epoch, and carries its whole ban list inside its signed COMMITs (a section after the
 * next-round delta, inside the bytes the commit signature covers, present only when the list is not
 * empty and flagged by the commit flag CM_BANS: a run without bans sends the same bytes as before).
 * The list travels when it changes and with the successor list (every 16th round), so a peer that
 * joined later or missed a commit learns it within 16 rounds; a peer catching up by REPLAY reads
 * the list of each replayed commit as it would a live one (same checks, the commit's signer
 * verified among the epoch's claimants), so it learns a ban from the replayed commit that carried
 * it (sim/test/swarm-bans.test.ts). A snapshot (STATE) carries no list: such a peer learns it from
 * the next commit that carries it.
 *
 * A receiver takes an entry from a COMMIT only after the commit itself verified (trust.ts: signed
 * by a certified aggregator of the commit's epoch, the sender), and only when
 *   - the entry's signature holds for its issuer;
 *   - the issuer *had authority*: either the entry is the commit signer's own, for the commit's
 *     epoch (the signer is certified for it: that is what the commit check established), or the
 *     receiver holds the issuer as a certified claimant of the entry's epoch (EpochBook). An entry
 *     the receiver cannot check that way (an epoch before it joined, or pruned) is taken on the
 *     word of the certified aggregator that carries it, recorded as its *voucher*;
 *   - it bans neither the issuer nor the carrying signer, names no epoch after the commit's, and
 *     neither the issuer nor the voucher is voided (below);
 *   - the caps below hold.
 * A banned peer's messages are dropped by every peer (trust.isBanned), it is no member of any
 * aggregator's table (so it holds no shard and is never a successor), and its epoch claims are
 * refused (EpochBook.banned): it is never elected nor certified. A peer that becomes aggregator
 * starts with the list in its guard, so the liar never gets shards back.
 *
 * # Void rule: a lying aggregator cannot lock honest peers out for ever
 *
 * When an issuer is *proven* to lie — an equivocation proof (two signed commits for one (epoch,
 * round), trust.ts) — every entry it issued or vouched for is void at once, its peers are unbanned
 * (unless banned otherwise), and later entries of it are refused. Being replaced for silence or a
 * stall does *not* void an aggregator's bans: an honest aggregator that crashes is replaced exactly
 * like a staller, and voiding then would hand the liar it banned its shards back (the case this
 * module exists for). A ban is a judgement only the issuing aggregator could make (it saw the
 * refused answers, it ran the audit); what bounds an aggregator that bans honest peers without
 * equivocating is the caps.
 *
 * # Caps: one aggregator cannot ban everyone
 *
 *   - per (issuer, epoch): at most max(1, ⌊n/4⌋) entries, n the largest member count the issuer
 *     signed for that epoch (its succession statements, which travel with the list) as this
 *     receiver saw it — or, for an entry vouched for by a later aggregator, the larger of that and
 *     the carrying commit's member count. So in one epoch an aggregator bans at most a quarter of
 *     the members it had: three quarters (and never fewer than n − 1 of a swarm of n < 8) stay,
 *     an aggregator that lies about n to raise its cap raises its own quorum with it (certs.ts);
 *   - in total: at most min(MAX_BANS, maxMembers) entries (MAX_BANS = 64), so the list costs at most
 *     ~64 · 200 bytes in the commits that carry it; beyond it new bans stay local to the issuer's
 *     guard.
 * An issuer can only reissue its cap once per epoch it holds, and every epoch needs a certified
 * claim (certs.ts); a liar that does so and is then proven equivocating loses all of them.
 *
 * # Validation
 *
 * The section is untrusted input: decodeBans checks its size (≤ MAX_BANS_BYTES), the count
 * (≤ MAX_BANS), every identifier, epochs in [1, MAX_EPOCH], signatures of 1..MAX_SIGNATURE_BYTES,
 * no entry banning its own issuer, no peer twice, no trailing bytes, and throws only MessageError.
 * Receivers count an undecodable section (`bad-bans`), each refused entry (`ban-refused`), each
 * learned entry (`ban-learned`), each issued one (`ban-issued`) and each voided one (`ban-voided`).
 */
import type { Identity } from '../ports/identity.js';
import { type EpochBook, MAX_EPOCH, MAX_SIGNATURE_BYTES } from '../trust/certs.js';
import { ByteReader, ByteWriter, MAX_IDENT_BYTES, MessageError } from './bytes.js';
import type { Outbox } from './outbox.js';
import type { PeerId } from './types.js';

/** Most entries a ban list holds (and carries). */
export const MAX_BANS = 64;
/** Largest encoded ban list. */
export const MAX_BANS_BYTES = 2 + MAX_BANS * (2 * (1 + MAX_IDENT_BYTES) + 4 + 1 + MAX_SIGNATURE_BYTES);
/** An issuer bans at most ⌊n / BAN_FRACTION⌋ (at least 1) of its n members per epoch. */
export const BAN_FRACTION = 4;

const ST_BAN = 6;

/** One ban: `issuer`, the aggregator of `epoch`, banned `peer`; `sig` is its signature of banStatement. */
export interface BanEntry {
  readonly peer: PeerId;
  readonly issuer: PeerId;
  readonly epoch: number;
  readonly sig: Uint8Array;
}

/** Bans an issuer may issue in one epoch with n members. */
export function bansPerEpoch(members: number): number {
  return Math.max(1, Math.floor(members / BAN_FRACTION));
}

/** What a ban's issuer signs: "MASHA", kind 6, run id, epoch, issuer, peer. */
export function banStatement(runId: string, epoch: number, issuer: PeerId, peer: PeerId): Uint8Array {
  const w = new ByteWriter(48 + 2 * (1 + MAX_IDENT_BYTES));
  w.u8(0x4d).u8(0x41).u8(0x53).u8(0x48).u8(0x41).u8(ST_BAN);
  for (let i = 0; i < 32; i++) w.u8(parseInt(runId.slice(2 * i, 2 * i + 2), 16));
  return w.u32(epoch).ident(issuer).ident(peer).finish().slice();
}

export function encodeBans(entries: readonly BanEntry[]): Uint8Array {
  const w = new ByteWriter(8 + entries.length * 160);
  w.varint(entries.length);
  for (const e of entries) w.ident(e.peer).ident(e.issuer).u32(e.epoch).bytes(e.sig);
  return w.finish().slice();
}

/** Decodes and validates a ban list (see the module doc); throws MessageError. */
export function decodeBans(bytes: Uint8Array): BanEntry[] {
  if (bytes.length > MAX_BANS_BYTES) throw new MessageError('bans', `${bytes.length} bytes (limit ${MAX_BANS_BYTES})`);
  const r = new ByteReader(bytes, 'bans');
  const n = r.varint('count', MAX_BANS);
  const out: BanEntry[] = [];
  const seen = new Set<PeerId>();
  for (let i = 0; i < n; i++) {
    const peer = r.ident('entries', false, i, 'peer');
    const issuer = r.ident('entries', false, i, 'issuer');
    const epoch = r.u32(`entries[${i}].epoch`);
    if (epoch < 1 || epoch > MAX_EPOCH) r.fail(`entries[${i}].epoch`, `must be in [1, ${MAX_EPOCH}], got ${epoch}`);
    const sig = r.bytes('entries', MAX_SIGNATURE_BYTES, i, 'sig');
    if (sig.length === 0) r.fail(`entries[${i}].sig`, 'empty signature');
    if (peer === issuer) r.fail(`entries[${i}].peer`, 'an issuer cannot ban itself');
    if (seen.has(peer)) r.fail(`entries[${i}].peer`, `${peer} banned twice`);
    seen.add(peer);
    out.push({ peer, issuer, epoch, sig: sig.slice() });
  }
  r.end();
  return out;
}

interface Held extends BanEntry {
  /** The aggregator whose word this entry was taken on (null: its issuer's authority was checked). */
  readonly voucher: PeerId | null;
}

/** Why a received entry is refused (null: taken). */
export type BanRefusal = 'bans-signer' | 'later-epoch' | 'voided' | 'full' | 'over-cap' | 'bad-signature';

/** Member counts remembered per (issuer, epoch). */
const KEEP_COUNTS = 256;

/** This peer's copy of the run's ban list (see the module doc). */
export class SwarmBans {
  private readonly list = new Map<PeerId, Held>();
  /** Entries per `${epoch}|${issuer}`. */
  private readonly issued = new Map<string, number>();
  /** Largest member count each (issuer, epoch) signed, as this peer saw it. */
  private readonly members = new Map<string, number>();
  /** Issuers proven to lie: their entries are void. */
  private readonly voided = new Set<PeerId>();
  private wired: Uint8Array | null = null;
  /** The list changed since it was last carried (the aggregator sends it with its next commit). */
  changed = false;
  /** Hooks: a peer is banned by the list / no longer is. */
  onAdded: (peer: PeerId) => void = () => {};
  onVoided: (peer: PeerId) => void = () => {};

  /**
   * `proven(peer)`: the peer is a proven equivocator (stays banned whatever happens to the list).
   * `cap`: most entries (min(MAX_BANS, the run's member cap)).
   */
  constructor(
    private readonly runId: string,
    private readonly identity: Identity,
    private readonly book: EpochBook,
    private readonly outbox: Outbox,
    private readonly proven: (peer: PeerId) => boolean,
    readonly cap: number = MAX_BANS,
  ) {}

  has(peer: PeerId): boolean {
    return this.list.has(peer);
  }

  get size(): number {
    return this.list.size;
  }

  /** The entries held (issuer and epoch included). */
  entries(): BanEntry[] {
    return [...this.list.values()].map(({ peer, issuer, epoch, sig }) => ({ peer, issuer, epoch, sig }));
  }

  isVoided(issuer: PeerId): boolean {
    return this.voided.has(issuer);
  }

  private key(issuer: PeerId, epoch: number): string {
    return `${epoch}|${issuer}`;
  }

  /** Records the member count `issuer` signed for `epoch` (its succession statement). */
  noteMembers(issuer: PeerId, epoch: number, members: number): void {
    const k = this.key(issuer, epoch);
    if ((this.members.get(k) ?? -1) >= members) return;
    this.members.set(k, members);
    if (this.members.size > KEEP_COUNTS) this.members.delete(this.members.keys().next().value as string);
  }

  private capOf(issuer: PeerId, epoch: number, carried: number): number {
    return bansPerEpoch(Math.max(this.members.get(this.key(issuer, epoch)) ?? 0, carried));
  }

  /**
   * This peer, the aggregator of `epoch` with `members` members, bans `peer` for the run. False
   * when the list holds it already or a cap refuses (the ban then stays in this peer's guard only).
   */
  issue(peer: PeerId, epoch: number, members: number): boolean {
    const self = this.outbox.id;
    if (peer === self || this.list.has(peer)) return false;
    this.noteMembers(self, epoch, members);
    const k = this.key(self, epoch);
    if (this.list.size >= this.cap || (this.issued.get(k) ?? 0) >= this.capOf(self, epoch, members)) {
      this.outbox.count('ban-refused');
      return false;
    }
    const sig = this.identity.sign(banStatement(this.runId, epoch, self, peer));
    this.add({ peer, issuer: self, epoch, sig, voucher: null });
    this.outbox.count('ban-issued');
    return true;
  }

  /** The list a commit carries (null when empty). */
  wire(): Uint8Array | null {
    this.changed = false;
    if (this.list.size === 0) return null;
    return (this.wired ??= encodeBans([...this.list.values()]));
  }

  /**
   * The ban section of a verified COMMIT of `epoch` from `signer` (a certified aggregator of it),
   * and the member count of the succession statement it carried (null: none).
   */
  onCommit(epoch: number, signer: PeerId, bytes: Uint8Array | null, members: number | null): void {
    if (members !== null) this.noteMembers(signer, epoch, members);
    if (bytes === null) return;
    let entries: BanEntry[];
    try {
      entries = decodeBans(bytes);
    } catch (e) {
      if (!(e instanceof MessageError)) throw e;
      this.outbox.count('bad-bans');
      return;
    }
    const carried = this.members.get(this.key(signer, epoch)) ?? 0;
    for (const e of entries) {
      const held = this.list.get(e.peer);
      if (held !== undefined) continue;
      const why = this.refusal(e, epoch, signer, carried);
      if (why !== null) {
        this.outbox.count('ban-refused');
        continue;
      }
      const own = e.issuer === signer && e.epoch === epoch;
      this.add({ ...e, voucher: own || this.book.isCertified(e.epoch, e.issuer) ? null : signer });
      this.outbox.count('ban-learned');
    }
  }

  /** Why entry `e` of a commit of `epoch` signed by `signer` is refused, or null. */
  refusal(e: BanEntry, epoch: number, signer: PeerId, carried: number): BanRefusal | null {
    if (e.peer === signer || e.peer === e.issuer) return 'bans-signer';
    if (e.epoch > epoch) return 'later-epoch';
    if (this.voided.has(e.issuer) || this.voided.has(signer)) return 'voided';
    if (this.list.size >= this.cap) return 'full';
    const own = e.issuer === signer && e.epoch === epoch;
    if ((this.issued.get(this.key(e.issuer, e.epoch)) ?? 0) >= this.capOf(e.issuer, e.epoch, own ? 0 : carried)) return 'over-cap';
    if (!this.identity.verify(e.issuer, banStatement(this.runId, e.epoch, e.issuer, e.peer), e.sig)) return 'bad-signature';
    return null;
  }

  private add(h: Held): void {
    this.list.set(h.peer, h);
    const k = this.key(h.issuer, h.epoch);
    this.issued.set(k, (this.issued.get(k) ?? 0) + 1);
    if (this.issued.size > KEEP_COUNTS) this.issued.delete(this.issued.keys().next().value as string);
    this.wired = null;
    this.changed = true;
    this.book.banned.add(h.peer);
    this.onAdded(h.peer);
  }

  /** `issuer` is proven to lie: every entry it issued or vouched for is void (see the module doc). */
  voidIssuer(issuer: PeerId): void {
    if (this.voided.has(issuer)) return;
    this.voided.add(issuer);
    for (const h of [...this.list.values()]) {
      if (h.issuer !== issuer && h.voucher !== issuer) continue;
      this.list.delete(h.peer);
      this.wired = null;
      this.changed = true;
      if (!this.proven(h.peer)) this.book.banned.delete(h.peer);
      this.outbox.count('ban-voided');
      this.onVoided(h.peer);
    }
  }
}

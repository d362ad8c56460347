/**
 * What peers sign, and the epoch certificates built from it.
 *
 * # Signed statements (domain-separated: "MASHA", a statement kind, the run id)
 *
 *   commit      (run, epoch, round, parent digest, new digest, SHA-256 of the commit body)
 *               signed by the aggregator that made the commit; the body hash covers everything
 *               else it carries (iteration, phase, included shards, payload, successors, the next
 *               round's assignment)
 *   succession  (run, epoch, aggregator, members, successors): the aggregator of `epoch` names the
 *               peers that may claim epoch + 1 first, and how many eligible members it had
 *   genesis     (run, epoch, claimant): a claim of the first epoch (1, or the first after a resume)
 *   suspect     (run, epoch, aggregator): "I, the signer, have seen no progress from `aggregator`
 *               in `epoch` for a lease (silent, stalled, or proven to equivocate)"
 *
 * # Epoch certificates: why an epoch claim is safe
 *
 * A peer follows the aggregator of epoch e only if it holds a *certificate* that (e, p) is a
 * legitimate claim. A certificate is a chain of links, newest first, at most MAX_CHAIN long; a link
 * certifies (epoch, claimant) given that epoch − 1 is certified:
 *
 *   GENESIS  epoch 1, signed by the claimant itself. Anyone may claim the first epoch: there is no
 *            predecessor, and every peer that saw any later epoch refuses epoch 1 as stale.
 *            The same for the first epoch after a *resume* (e + 1, where e is the epoch of the
 *            launcher's checkpoint): after a total crash the aggregator of e is gone and no peer of
 *            the resumed run followed it, so neither SUCC nor QUORUM can ever certify e + 1. That
 *            epoch is opened only by the launcher: by its signed run announcement's resume point
 *            (volunteers pin its key) or its own checkpoint (EpochBook.open). It gives an attacker
 *            exactly what epoch 1 gives at the start — a claim any peer may make, ranked like
 *            every other claim of one epoch — and nothing above e + 1 is open.
 *   SUCC     the aggregator a of epoch − 1 signed a succession statement naming the claimant
 *            (not itself): a must be the aggregator the verifier followed in epoch − 1 (a certified
 *            claimant of it, for an epoch the verifier was never in). Refused when a is distrusted by
 *            the verifier (it equivocated, or stalled: then it could name an accomplice).
 *   QUORUM   Q distinct peers (not a) signed `suspect(epoch − 1, a)` for the aggregator a of
 *            epoch − 1 (as for SUCC: the one the verifier followed there), Q = clamp(⌊n/2⌋ + 1, 2, MAX_QUORUM) with n the member count a last
 *            signed (included in the link when known; else n = 0 and Q = 2).
 *
 * A verifier checks links oldest first against the epochs it already holds as certified (from
 * its own verified links, or an *anchor*: the chain the launcher's signed run announcement carries,
 * for peers that join mid-run), so a chain must reach down to an epoch the verifier knows. What this
 * gives, for an attacker that holds its own key only:
 *   - it cannot be followed as the aggregator of any epoch it was not named for by the certified
 *     aggregator before it, unless Q − 1 other peers attest that aggregator's failure — and honest
 *     peers attest only when they themselves saw no progress for a lease (or a proof of
 *     equivocation);
 *   - epochs advance one certified link at a time: no jump to 2^32 − 1 (a claim beyond MAX_EPOCH is
 *     refused, and `nextEpoch` saturates instead of overflowing);
 *   - a withholding or equivocating aggregator cannot keep its role by naming accomplices: its
 *     successor list is ignored once it is distrusted, and QUORUM needs honest attestations.
 * Sybils (many identities of one attacker) weaken QUORUM in an open run exactly as much as they
 * weaken membership itself: the admission policy (allowlist or launcher-signed tokens, member caps)
 * is what bounds them.
 */
import { sha256Of } from '../engine/sha256.js';
import { ByteReader, ByteWriter, MessageError } from '../engine/bytes.js';
import { DIGEST_BYTES } from '../engine/digest.js';
import type { PeerId } from '../engine/types.js';
import { readIdents, writeIdents } from '../engine/wire-sets.js';
import { base64Decode, base64Encode } from './base64.js';
import type { Identity } from '../ports/identity.js';

/** Largest epoch a claim may name: one below the frame header's u32 limit, so `epoch + 1` always fits. */
export const MAX_EPOCH = 0xfffffffe;
/** Most links a certificate chain carries. */
export const MAX_CHAIN = 4;
/** Largest encoded chain. */
export const MAX_CHAIN_BYTES = 16 * 1024;
/** Largest attestation quorum a QUORUM link needs. */
export const MAX_QUORUM = 8;
/** Largest signature (Ed25519: 64 bytes; the simulator's MAC: 32). */
export const MAX_SIGNATURE_BYTES = 64;
const MAX_SUCC_IDS = 8;

const ST_COMMIT = 1;
const ST_SUCCESSION = 2;
const ST_GENESIS = 3;
const ST_SUSPECT = 4;

/** The next epoch, saturating at MAX_EPOCH + 1 (never past the frame header's u32). */
export function nextEpoch(epoch: number): number {
  return epoch >= MAX_EPOCH ? MAX_EPOCH + 1 : epoch + 1;
}

function runBytes(runId: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(runId.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const RUN_CACHE = new Map<string, Uint8Array>();
function runOf(runId: string): Uint8Array {
  let b = RUN_CACHE.get(runId);
  if (b === undefined) {
    b = runBytes(runId);
    if (RUN_CACHE.size > 64) RUN_CACHE.clear();
    RUN_CACHE.set(runId, b);
  }
  return b;
}

function head(kind: number, runId: string, extra: number): ByteWriter {
  const w = new ByteWriter(48 + extra);
  w.u8(0x4d).u8(0x41).u8(0x53).u8(0x48).u8(0x41).u8(kind).raw(runOf(runId));
  return w;
}

export function commitStatement(runId: string, epoch: number, round: number, parent: Uint8Array, digest: Uint8Array, bodyHash: Uint8Array): Uint8Array {
  return head(ST_COMMIT, runId, 112).u32(epoch).u32(round).raw(parent).raw(digest).raw(bodyHash).finish().slice();
}

/** Parsed commit statement (equivocation proofs, version certificates). */
export interface CommitStatementFields {
  readonly runId: Uint8Array;
  readonly epoch: number;
  readonly round: number;
  readonly parent: Uint8Array;
  readonly digest: Uint8Array;
  readonly bodyHash: Uint8Array;
}

export const COMMIT_STATEMENT_BYTES = 6 + 32 + 8 + 3 * DIGEST_BYTES;

export function parseCommitStatement(b: Uint8Array): CommitStatementFields | null {
  if (b.length !== COMMIT_STATEMENT_BYTES || b[0] !== 0x4d || b[5] !== ST_COMMIT) return null;
  const u32 = (o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  return {
    runId: b.subarray(6, 38),
    epoch: u32(38),
    round: u32(42),
    parent: b.subarray(46, 46 + DIGEST_BYTES),
    digest: b.subarray(46 + DIGEST_BYTES, 46 + 2 * DIGEST_BYTES),
    bodyHash: b.subarray(46 + 2 * DIGEST_BYTES, 46 + 3 * DIGEST_BYTES),
  };
}

export function successionStatement(runId: string, epoch: number, aggregator: PeerId, members: number, successors: readonly string[]): Uint8Array {
  const w = head(ST_SUCCESSION, runId, 64 + successors.length * 56)
    .u32(epoch)
    .ident(aggregator)
    .varint(members);
  writeIdents(w, successors);
  return w.finish().slice();
}

export function genesisStatement(runId: string, claimant: PeerId, epoch = 1): Uint8Array {
  return head(ST_GENESIS, runId, 64).u32(epoch).ident(claimant).finish().slice();
}

export function suspectStatement(runId: string, epoch: number, aggregator: PeerId): Uint8Array {
  return head(ST_SUSPECT, runId, 64).u32(epoch).ident(aggregator).finish().slice();
}

/** SHA-256 of a commit body's signed part. */
export function bodyHash(signed: Uint8Array): Uint8Array {
  return sha256Of(signed);
}

// ------------------------------------------------------------------ signed commits

/** A commit's signature: who signed it (the aggregator of its epoch) and the signature. */
export interface CommitSignature {
  readonly signer: PeerId;
  readonly sig: Uint8Array;
}

/**
 * A commit certificate: the statement of a committed version and its aggregator's signature. It
 * certifies (round, commit epoch, digest) without the commit's body (heartbeats, snapshots).
 */
export interface CommitCert {
  readonly statement: Uint8Array;
  readonly signer: PeerId;
  readonly sig: Uint8Array;
}

export function writeCommitCert(w: ByteWriter, c: CommitCert): void {
  w.raw(c.statement).ident(c.signer).bytes(c.sig);
}

export function readCommitCert(r: ByteReader, field: string): CommitCert {
  const statement = r.raw(COMMIT_STATEMENT_BYTES, `${field}.statement`).slice();
  const signer = r.ident(`${field}.signer`);
  const sig = r.bytes(`${field}.sig`, MAX_SIGNATURE_BYTES).slice();
  return { statement, signer, sig };
}

// ------------------------------------------------------------------ succession and certificates

/** A succession statement with its signature (as carried next to a successor list). */
export interface SignedSuccession {
  readonly members: number;
  readonly sig: Uint8Array;
}

export const LINK_GENESIS = 1;
export const LINK_SUCC = 2;
export const LINK_QUORUM = 3;

export type Link =
  | { readonly type: typeof LINK_GENESIS; readonly epoch: number; readonly claimant: PeerId; readonly sig: Uint8Array }
  | {
      readonly type: typeof LINK_SUCC;
      readonly epoch: number;
      readonly claimant: PeerId;
      readonly signer: PeerId;
      readonly members: number;
      readonly successors: readonly string[];
      readonly sig: Uint8Array;
    }
  | {
      readonly type: typeof LINK_QUORUM;
      readonly epoch: number;
      readonly claimant: PeerId;
      readonly predecessor: PeerId;
      /** The predecessor's last signed succession (for its member count), when the claimant had one. */
      readonly succession: { readonly members: number; readonly successors: readonly string[]; readonly sig: Uint8Array } | null;
      readonly attestations: readonly { readonly attester: PeerId; readonly sig: Uint8Array }[];
    };

export function quorumFor(members: number): number {
  return Math.max(2, Math.min(MAX_QUORUM, Math.floor(members / 2) + 1));
}

export function encodeChain(chain: readonly Link[]): Uint8Array {
  const w = new ByteWriter(256 * chain.length + 8);
  w.varint(chain.length);
  for (const l of chain) {
    w.u8(l.type).u32(l.epoch).ident(l.claimant);
    switch (l.type) {
      case LINK_GENESIS:
        w.bytes(l.sig);
        break;
      case LINK_SUCC:
        w.ident(l.signer).varint(l.members);
        writeIdents(w, l.successors);
        w.bytes(l.sig);
        break;
      case LINK_QUORUM:
        w.ident(l.predecessor);
        if (l.succession === null) w.u8(0);
        else {
          w.u8(1).varint(l.succession.members);
          writeIdents(w, l.succession.successors);
          w.bytes(l.succession.sig);
        }
        w.varint(l.attestations.length);
        for (const a of l.attestations) w.ident(a.attester).bytes(a.sig);
        break;
    }
  }
  return w.finish().slice();
}

/** Decodes a certificate chain; throws MessageError on malformed bytes. */
export function decodeChain(bytes: Uint8Array): Link[] {
  if (bytes.length > MAX_CHAIN_BYTES) throw new MessageError('chain', `${bytes.length} bytes (limit ${MAX_CHAIN_BYTES})`);
  const r = new ByteReader(bytes, 'chain');
  const n = r.varint('count', MAX_CHAIN);
  const out: Link[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.u8('links', i, 'type');
    const epoch = r.u32('epoch');
    const claimant = r.ident('links', false, i, 'claimant');
    if (type === LINK_GENESIS) {
      out.push({ type, epoch, claimant, sig: r.bytes('links', MAX_SIGNATURE_BYTES, i, 'sig').slice() });
    } else if (type === LINK_SUCC) {
      const signer = r.ident('links', false, i, 'signer');
      const members = r.varint('links', 1_000_000_000, i, 'members');
      const successors = readIdents(r, 'successors', MAX_SUCC_IDS);
      out.push({ type, epoch, claimant, signer, members, successors, sig: r.bytes('links', MAX_SIGNATURE_BYTES, i, 'sig').slice() });
    } else if (type === LINK_QUORUM) {
      const predecessor = r.ident('links', false, i, 'predecessor');
      const has = r.u8('links', i, 'succession');
      if (has > 1) r.fail('succession', `must be 0 or 1, got ${has}`);
      let succession: Extract<Link, { type: typeof LINK_QUORUM }>['succession'] = null;
      if (has === 1) {
        const members = r.varint('links', 1_000_000_000, i, 'members');
        const successors = readIdents(r, 'successors', MAX_SUCC_IDS);
        succession = { members, successors, sig: r.bytes('links', MAX_SIGNATURE_BYTES, i, 'sig').slice() };
      }
      const k = r.varint('attestations', 2 * MAX_QUORUM);
      const attestations: { attester: PeerId; sig: Uint8Array }[] = [];
      for (let j = 0; j < k; j++)
        attestations.push({ attester: r.ident('attestations', false, j, 'attester'), sig: r.bytes('attestations', MAX_SIGNATURE_BYTES, j, 'sig').slice() });
      out.push({ type, epoch, claimant, predecessor, succession, attestations });
    } else r.fail(`links[${i}].type`, `unknown link type ${type}`);
  }
  r.end();
  return out;
}

/**
 * The epochs a peer holds as certified: for each epoch, the claimants it verified (or took from an
 * anchor), their chains, and the peers it distrusts. Pruned to the last KEEP epochs.
 */
export class EpochBook {
  private readonly certified = new Map<number, Map<PeerId, readonly Link[]>>();
  /** Peers whose successor lists no longer count (equivocated, stalled) and banned peers. */
  readonly distrusted = new Set<PeerId>();
  readonly banned = new Set<PeerId>();
  /** The aggregator this peer followed in each epoch it was in (SUCC and QUORUM links must name it). */
  private readonly followed = new Map<number, PeerId>();
  private highest = 0;
  /** Epochs a GENESIS link may certify besides 1: the first after a resume point (see the module doc). */
  private readonly openEpochs = new Set<number>();
  private static readonly KEEP = 64;

  /**
   * `admits`: whether a peer may take part at all (an allowlist run: only listed peers may claim or
   * attest).
   */
  constructor(
    private readonly runId: string,
    private readonly identity: Identity,
    private readonly admits: (peer: PeerId) => boolean = () => true,
  ) {}

  /**
   * Opens epoch `epoch + 1` to GENESIS claims: the run resumes from a launcher checkpoint taken in
   * `epoch` (call only with a resume point the launcher vouches for).
   */
  open(epoch: number): void {
    if (epoch >= 1 && epoch < MAX_EPOCH) this.openEpochs.add(epoch + 1);
  }

  /** True when any peer may claim `epoch` with a GENESIS link (epoch 1, or the first after a resume). */
  isOpen(epoch: number): boolean {
    return epoch === 1 || this.openEpochs.has(epoch);
  }

  isCertified(epoch: number, peer: PeerId): boolean {
    return this.certified.get(epoch)?.has(peer) ?? false;
  }

  /** The chain that certified (epoch, peer), or null. */
  chainOf(epoch: number, peer: PeerId): readonly Link[] | null {
    return this.certified.get(epoch)?.get(peer) ?? null;
  }

  /** Certified claimants of `epoch`. */
  claimants(epoch: number): PeerId[] {
    return [...(this.certified.get(epoch)?.keys() ?? [])];
  }

  private record(epoch: number, peer: PeerId, chain: readonly Link[]): void {
    let m = this.certified.get(epoch);
    if (m === undefined) {
      m = new Map();
      this.certified.set(epoch, m);
    }
    if (!m.has(peer)) m.set(peer, chain);
    if (epoch > this.highest) {
      this.highest = epoch;
      for (const e of this.certified.keys()) if (e + EpochBook.KEEP < epoch) this.certified.delete(e);
    }
  }

  /** Takes a chain vouched for by an anchor (the launcher): every link is recorded without checks. */
  anchor(chain: readonly Link[]): void {
    for (let i = chain.length - 1; i >= 0; i--) {
      const l = chain[i];
      if (l.epoch < 1 || l.epoch > MAX_EPOCH) continue;
      if (l.type === LINK_SUCC && l.epoch > 1) this.record(l.epoch - 1, l.signer, []);
      if (l.type === LINK_QUORUM && l.epoch > 1) this.record(l.epoch - 1, l.predecessor, []);
      this.record(l.epoch, l.claimant, chain.slice(i));
    }
  }

  /** This peer follows `peer` as the aggregator of `epoch` (the last one it adopted there). */
  follow(epoch: number, peer: PeerId): void {
    this.followed.set(epoch, peer);
    if (this.followed.size > EpochBook.KEEP) this.followed.delete(this.followed.keys().next().value as number);
  }

  /**
   * True when `peer` may hand on epoch `epoch`: the aggregator this peer followed there, or — for an
   * epoch it was never in (it joined later, or was cut off) — a certified claimant of it.
   */
  private predecessorOk(epoch: number, peer: PeerId): boolean {
    const f = this.followed.get(epoch);
    return f !== undefined ? f === peer : this.isCertified(epoch, peer);
  }

  /** Records this peer's own claim (it built and signed the link). */
  own(chain: readonly Link[]): void {
    const l = chain[0];
    this.record(l.epoch, l.claimant, chain);
  }

  /**
   * Verifies a chain (newest first) against the certified epochs; on success records every link
   * and returns the certified (epoch, claimant) of the newest link, else null.
   */
  verify(chain: readonly Link[]): { epoch: number; claimant: PeerId } | null {
    if (chain.length === 0 || chain.length > MAX_CHAIN) return null;
    let verified = false;
    for (let i = chain.length - 1; i >= 0; i--) {
      const l = chain[i];
      if (i > 0 && chain[i - 1].epoch !== l.epoch + 1) return null;
      if (this.isCertified(l.epoch, l.claimant)) {
        verified = true;
        continue;
      }
      if (!this.checkLink(l)) {
        if (verified) return null;
        continue;
      }
      this.record(l.epoch, l.claimant, chain.slice(i));
      verified = true;
    }
    const top = chain[0];
    return this.isCertified(top.epoch, top.claimant) ? { epoch: top.epoch, claimant: top.claimant } : null;
  }

  private checkLink(l: Link): boolean {
    if (l.epoch < 1 || l.epoch > MAX_EPOCH || this.banned.has(l.claimant) || !this.admits(l.claimant)) return false;
    const id = this.identity;
    switch (l.type) {
      case LINK_GENESIS:
        return this.isOpen(l.epoch) && id.verify(l.claimant, genesisStatement(this.runId, l.claimant, l.epoch), l.sig);
      case LINK_SUCC:
        return (
          l.epoch > 1 &&
          l.signer !== l.claimant &&
          !this.distrusted.has(l.signer) &&
          this.predecessorOk(l.epoch - 1, l.signer) &&
          l.successors.includes(l.claimant) &&
          id.verify(l.signer, successionStatement(this.runId, l.epoch - 1, l.signer, l.members, l.successors), l.sig)
        );
      case LINK_QUORUM: {
        if (l.epoch <= 1 || l.predecessor === l.claimant || !this.predecessorOk(l.epoch - 1, l.predecessor)) return false;
        let members = 0;
        const s = l.succession;
        if (s !== null && id.verify(l.predecessor, successionStatement(this.runId, l.epoch - 1, l.predecessor, s.members, s.successors), s.sig))
          members = s.members;
        const need = quorumFor(members);
        const statement = suspectStatement(this.runId, l.epoch - 1, l.predecessor);
        const seen = new Set<PeerId>();
        for (const a of l.attestations) {
          if (a.attester === l.predecessor || seen.has(a.attester) || this.banned.has(a.attester) || !this.admits(a.attester)) continue;
          if (!id.verify(a.attester, statement, a.sig)) continue;
          seen.add(a.attester);
          if (seen.size >= need) return true;
        }
        return false;
      }
      default:
        return false;
    }
  }
}

// ------------------------------------------------------------------ join tokens

const ST_TOKEN = 5;

export function tokenStatement(runId: string, expiresAt: number): Uint8Array {
  const w = head(ST_TOKEN, runId, 16);
  w.u32(expiresAt % 4294967296).u32(Math.floor(expiresAt / 4294967296));
  return w.finish().slice();
}

/** A join token: its expiry (ms since the Unix epoch) and the launcher's signature. */
export function encodeToken(expiresAt: number, sig: Uint8Array): Uint8Array {
  return new ByteWriter(80).varint(expiresAt).bytes(sig).finish().slice();
}

export function decodeToken(bytes: Uint8Array): { expiresAt: number; sig: Uint8Array } | null {
  try {
    const r = new ByteReader(bytes, 'token');
    const expiresAt = r.varint('expiresAt');
    const sig = r.bytes('sig', MAX_SIGNATURE_BYTES);
    r.end();
    return { expiresAt, sig };
  } catch (e) {
    if (e instanceof MessageError) return null;
    throw e;
  }
}

/** Token text for command lines and URLs (base64url). */
export function tokenToText(bytes: Uint8Array): string {
  return base64Encode(bytes, true);
}

export function tokenFromText(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return null;
  return base64Decode(text);
}

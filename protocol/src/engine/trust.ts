/**
 * The trust role: this peer's identity, the epochs it holds as certified (trust/certs.ts), the
 * checks of signed commits and version certificates, and equivocation proofs.
 *
 * - **Signed commits.** Every COMMIT (and so every REPLAY) ends with the signature of the
 *   aggregator that made it over (run, epoch, round, parent digest, new digest, body hash). A
 *   commit is applied only when its signer is a certified aggregator of its epoch and the
 *   signature holds; results are cached per body object (a broadcast the simulator hands every
 *   recipient is checked once).
 * - **Version certificates.** A peer's version (round, commit epoch, digest) is certified by the
 *   statement and signature of the commit that produced it. Heartbeats carry it; a "better version"
 *   in a heartbeat counts only with one; snapshots carry it, and one whose digest no certified
 *   aggregator signed is refused.
 * - **Equivocation.** Two different commit statements signed by one aggregator for one (epoch,
 *   round) are a proof. The peer that notices broadcasts it (EQUIVOCATION), every peer that checks
 *   it bans the signer for the run (its messages are dropped, its successor list no longer
 *   certifies anyone) and, if it is the current aggregator, moves on to the next epoch at once.
 */
import type { Identity } from '../ports/identity.js';
import { bodyHash, type CommitCert, commitStatement, EpochBook, parseCommitStatement } from '../trust/certs.js';
import type { RunContext } from './context.js';
import { digestEquals } from './digest.js';
import { type DecodedCommit, decodeCommit, encodeEquivocation, MSG } from './messages.js';
import type { Outbox } from './outbox.js';
import type { EngineMessage, PeerId } from './types.js';
import { MAX_BANS, SwarmBans } from './bans.js';

/**
 * Verified commit bodies: the statement their signature covers, and (made by the first peer that
 * records it, then shared) the certificate and the equivocation record of it (bodies are never
 * modified; the simulator hands one body to every recipient, so 1,000 peers keep one record each
 * round instead of 1,000 equal ones).
 */
interface Verified {
  readonly signer: PeerId;
  readonly statement: Uint8Array;
  /** The header the signature was checked under (run, epoch, round): the cache counts only for it. */
  readonly runId: string;
  readonly epoch: number;
  readonly round: number;
  seen?: Seen;
}
const VERIFIED = new WeakMap<Uint8Array, Verified>();
/** The body looked up last and its record: the simulator's peers check one body in turn. */
let lastBody: Uint8Array | null = null;
let lastVerified: Verified | undefined;

function verifiedOf(body: Uint8Array): Verified | undefined {
  if (body !== lastBody) {
    lastBody = body;
    lastVerified = VERIFIED.get(body);
  }
  return lastVerified;
}

function setVerified(body: Uint8Array, v: Verified): void {
  VERIFIED.set(body, v);
  lastBody = body;
  lastVerified = v;
}

/** Rounds of signed statements kept for equivocation checks. */
const SEEN_ROUNDS = 64;

interface Seen {
  readonly epoch: number;
  readonly cert: CommitCert;
}

export class Trust {
  readonly book: EpochBook;
  /** The run's ban list, issued by certified aggregators in their commits (bans.ts). */
  readonly bans: SwarmBans;
  /** Hook: a proven equivocator (called once per signer). */
  onBan: (peer: PeerId) => void = () => {};
  /**
   * Statements seen for the last SEEN_ROUNDS rounds: a ring by round number (slot round mod
   * SEEN_ROUNDS holds that round's list, -1: none), its lists reused (no allocation per round).
   */
  private readonly seenRound = new Float64Array(SEEN_ROUNDS).fill(-1);
  private readonly seenLists = new Array<Seen[] | undefined>(SEEN_ROUNDS);
  private readonly proven = new Set<PeerId>();

  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    readonly identity: Identity,
  ) {
    const a = ctx.admission;
    const allow = a.policy === 'allowlist' ? new Set(a.peers ?? []) : null;
    this.book = new EpochBook(ctx.runId, identity, allow === null ? undefined : (p) => allow.has(p));
    // A resumed run (the launcher's signed announcement names the resume point): the first epoch
    // above the checkpoint's is open to claims, as epoch 1 is at the start.
    if (ctx.resume !== null) this.book.open(ctx.resume.epoch);
    this.bans = new SwarmBans(ctx.runId, identity, this.book, outbox, (p) => this.proven.has(p), Math.min(MAX_BANS, ctx.maxMembers));
  }

  sign(bytes: Uint8Array): Uint8Array {
    return this.identity.sign(bytes);
  }

  isBanned(peer: PeerId): boolean {
    return this.book.banned.has(peer);
  }

  /** The signature block of a commit this peer makes (encodeCommit's `sign`). */
  signCommit(epoch: number, round: number, parent: Uint8Array, digest: Uint8Array): (signed: Uint8Array) => { signer: string; sig: Uint8Array } {
    return (signed) => {
      const statement = commitStatement(this.ctx.runId, epoch, round, parent, digest, bodyHash(signed));
      return { signer: this.outbox.id, sig: this.identity.sign(statement) };
    };
  }

  /**
   * True when a received COMMIT or REPLAY is signed by a certified aggregator of its epoch (a
   * COMMIT: by its sender; a REPLAY: by one of the epoch's certified claimants, usually one). Also
   * checks it against the statements seen for its (epoch, round).
   */
  verifyCommit(msg: EngineMessage, body: DecodedCommit): boolean {
    let v = verifiedOf(msg.body);
    // A body re-sent under another header (the simulator shares body objects) is checked afresh.
    if (v !== undefined && (v.epoch !== msg.epoch || v.round !== msg.round || v.runId !== this.ctx.runId)) v = undefined;
    if (v === undefined) {
      const statement = commitStatement(
        this.ctx.runId,
        msg.epoch,
        msg.round,
        body.parentDigest,
        body.digest,
        bodyHash(msg.body.subarray(0, body.signedLength)),
      );
      const candidates = msg.kind === MSG.COMMIT ? [msg.sender] : this.book.claimants(msg.epoch);
      for (const c of candidates.slice(0, 8)) {
        if (this.identity.verify(c, statement, body.sig)) {
          v = { signer: c, statement, runId: this.ctx.runId, epoch: msg.epoch, round: msg.round };
          break;
        }
      }
      if (v === undefined) return false;
      setVerified(msg.body, v);
    }
    if (msg.kind === MSG.COMMIT && v.signer !== msg.sender) return false;
    if (this.book.banned.has(v.signer) || !this.book.isCertified(msg.epoch, v.signer)) return false;
    // One record per body (its signature bytes are the body's, so every decoding gives equal ones).
    let seen = v.seen;
    if (seen === undefined || seen.epoch !== msg.epoch) {
      seen = { epoch: msg.epoch, cert: { statement: v.statement, signer: v.signer, sig: body.sig } };
      v.seen = seen;
    }
    this.noteSeen(msg.round, seen);
    return true;
  }

  /** The certificate of a commit this peer made. */
  ownCert(msg: EngineMessage): CommitCert {
    const body = decodeCommit(msg.body, this.ctx.limits);
    const statement = commitStatement(this.ctx.runId, msg.epoch, msg.round, body.parentDigest, body.digest, bodyHash(msg.body.subarray(0, body.signedLength)));
    setVerified(msg.body, { signer: this.outbox.id, statement, runId: this.ctx.runId, epoch: msg.epoch, round: msg.round });
    return { statement, signer: this.outbox.id, sig: body.sig };
  }

  /** Who signed a commit body that verified (a REPLAY's signer is not its sender), or null. */
  signerOf(body: Uint8Array): PeerId | null {
    return verifiedOf(body)?.signer ?? null;
  }

  /** The certificate of a verified commit (its statement, signer and signature). */
  certOf(msg: EngineMessage, body: DecodedCommit): CommitCert {
    const v = verifiedOf(msg.body);
    if (v?.seen !== undefined && v.seen.epoch === msg.epoch) return v.seen.cert;
    // Callers verified it first (so it is cached); recomputed otherwise.
    const statement =
      v?.statement ?? commitStatement(this.ctx.runId, msg.epoch, msg.round, body.parentDigest, body.digest, bodyHash(msg.body.subarray(0, body.signedLength)));
    return { statement, signer: v?.signer ?? msg.sender, sig: body.sig };
  }

  /**
   * True when `cert` certifies version (round, epoch, digest): statement matches, signer certified,
   * signature valid. A resumed run's resume point is certified without one: the launcher vouches
   * for it (its signed announcement, or its own checkpoint), and after a total crash the signer of
   * its last commit is certified by no chain any new peer could hold.
   */
  verifyVersion(cert: CommitCert | null, round: number, epoch: number, digest: Uint8Array): boolean {
    const r = this.ctx.resume;
    if (r !== null && round === r.round && epoch === r.commitEpoch && digestEquals(digest, r.digest)) return true;
    if (cert === null) return false;
    const s = parseCommitStatement(cert.statement);
    if (s === null || s.round !== round || s.epoch !== epoch || !digestEquals(s.digest, digest)) return false;
    if (!this.sameRun(s.runId)) return false;
    if (this.book.banned.has(cert.signer) || !this.book.isCertified(epoch, cert.signer)) return false;
    if (!this.identity.verify(cert.signer, cert.statement, cert.sig)) return false;
    this.note(epoch, round, cert);
    return true;
  }

  private sameRun(run: Uint8Array): boolean {
    const id = this.ctx.runId;
    for (let i = 0; i < 32; i++) if (run[i] !== parseInt(id.slice(2 * i, 2 * i + 2), 16)) return false;
    return true;
  }

  /** Records a verified statement; a different one of the same signer for the same (epoch, round) is a proof. */
  private note(epoch: number, round: number, cert: CommitCert): void {
    this.noteSeen(round, { epoch, cert });
  }

  private noteSeen(round: number, seen: Seen): void {
    const { epoch, cert } = seen;
    const slot = round % SEEN_ROUNDS;
    let list = this.seenLists[slot];
    if (list === undefined) this.seenLists[slot] = list = [];
    if (this.seenRound[slot] !== round) {
      // A new round: it takes the slot of the round SEEN_ROUNDS before it.
      this.seenRound[slot] = round;
      list.length = 0;
    }
    for (const s of list) {
      if (s.epoch !== epoch || s.cert.signer !== cert.signer) continue;
      if (!bytesEqual(s.cert.statement, cert.statement)) this.proof(s.cert, cert, true);
      return;
    }
    if (list.length < 8) list.push(seen);
  }

  /** Checks a received proof; bans the signer if it holds. */
  onProof(a: CommitCert, b: CommitCert): boolean {
    if (a.signer !== b.signer || bytesEqual(a.statement, b.statement)) return false;
    const sa = parseCommitStatement(a.statement);
    const sb = parseCommitStatement(b.statement);
    if (sa === null || sb === null || sa.epoch !== sb.epoch || sa.round !== sb.round || !this.sameRun(sa.runId) || !this.sameRun(sb.runId)) return false;
    if (!this.identity.verify(a.signer, a.statement, a.sig) || !this.identity.verify(b.signer, b.statement, b.sig)) return false;
    this.proof(a, b, false);
    return true;
  }

  private proof(a: CommitCert, b: CommitCert, detected: boolean): void {
    const signer = a.signer;
    if (this.proven.has(signer)) return;
    this.proven.add(signer);
    this.book.banned.add(signer);
    this.book.distrusted.add(signer);
    this.outbox.count('equivocation-proven');
    // A proven liar's bans are void (bans.ts).
    this.bans.voidIssuer(signer);
    // The peer that noticed spreads the proof (gossip carries it to everyone); receivers need not.
    if (detected) {
      const s = parseCommitStatement(a.statement) as NonNullable<ReturnType<typeof parseCommitStatement>>;
      this.outbox.broadcast(this.outbox.message(MSG.EQUIVOCATION, s.epoch, s.round, 0, encodeEquivocation({ a, b })));
    }
    this.onBan(signer);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The aggregator's audits of one round (see guard.ts for the rule): per audited shard, the
 * primary holder's answer, the auditor's, and — after a mismatch — the aggregator's own. A pure
 * bookkeeping object: the aggregator feeds it answers and carries out what `resolve` decides.
 */
import type { Payload } from '../compress/types.js';
import type { PeerId } from './types.js';

export interface AuditCase {
  readonly shard: number;
  readonly auditor: PeerId;
  /** The primary holder's answer (bytes as received, decoded payload) once in. */
  primary: PeerId | null;
  primaryBytes: Uint8Array | null;
  primaryPayload: Payload | null;
  auditBytes: Uint8Array | null;
  /** Waiting for the aggregator's own computation (after a mismatch). */
  settling: boolean;
  selfBytes: Uint8Array | null;
}

/** What the aggregator does next with a case. */
export type AuditOutcome =
  | { readonly kind: 'wait' }
  /** Compute the shard itself: the answers disagree. */
  | { readonly kind: 'settle' }
  /** Take these bytes as the shard's answer (`primary`: the primary's own, already decoded) and ban `liars`. */
  | { readonly kind: 'accept'; readonly primary: boolean; readonly bytes: Uint8Array; readonly liars: readonly PeerId[]; readonly match: boolean };

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class AuditBook {
  readonly cases = new Map<number, AuditCase>();

  clear(): void {
    this.cases.clear();
  }

  open(shard: number, auditor: PeerId): AuditCase {
    const c: AuditCase = { shard, auditor, primary: null, primaryBytes: null, primaryPayload: null, auditBytes: null, settling: false, selfBytes: null };
    this.cases.set(shard, c);
    return c;
  }

  /** Decides a case from the answers in (`self` is the aggregator, whose own answer settles). */
  resolve(c: AuditCase, self: PeerId): AuditOutcome {
    const p = c.primaryBytes;
    if (p === null || c.primary === null) return WAIT;
    if (!c.settling) {
      const a = c.auditBytes;
      if (a === null) return WAIT;
      if (bytesEqual(p, a)) return { kind: 'accept', primary: true, bytes: p, liars: [], match: true };
      // The aggregator trusts its own computation: as the auditor, it settles at once.
      if (c.auditor === self) return { kind: 'accept', primary: false, bytes: a, liars: [c.primary], match: false };
      c.settling = true;
      return SETTLE;
    }
    const s = c.selfBytes;
    if (s === null) return WAIT;
    const a = c.auditBytes as Uint8Array;
    if (bytesEqual(s, p)) return { kind: 'accept', primary: true, bytes: p, liars: [c.auditor], match: false };
    if (bytesEqual(s, a)) return { kind: 'accept', primary: false, bytes: a, liars: [c.primary], match: false };
    return { kind: 'accept', primary: false, bytes: s, liars: [c.primary, c.auditor], match: false };
  }
}

const WAIT: AuditOutcome = { kind: 'wait' };
const SETTLE: AuditOutcome = { kind: 'settle' };

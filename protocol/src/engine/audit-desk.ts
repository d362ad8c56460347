/**
 * The aggregator's audit desk (guard.ts has the rule): it picks a round's audited shards and asks
 * their auditors, privately; takes the auditors' answers (and its own, settling a mismatch); and
 * carries out what the round's AuditBook decides — the agreed answer into the round's sum, the
 * liars banned and the round restarted without them.
 */
import type { Payload } from '../compress/types.js';
import type { PhaseInfo, PhaseName } from '../methods/types.js';
import type { AuditBook, AuditCase } from './audits.js';
import type { RunContext } from './context.js';
import type { Device } from './device.js';
import type { Election } from './election.js';
import type { Guard } from './guard.js';
import type { Lineage } from './lineage.js';
import type { Membership } from './membership.js';
import { encodeAudit, MSG, type UplinkEntry } from './messages.js';
import type { Outbox } from './outbox.js';
import { phaseCode } from './phase-code.js';
import type { RoundSum } from './round-sum.js';
import type { PeerId } from './types.js';

/** The parts of the aggregator's round the desk works on. */
export interface AuditedRound {
  readonly round: number;
  readonly attempt: number;
  readonly phase: PhaseName;
  readonly info: PhaseInfo | null;
  readonly table: Membership;
  readonly sum: RoundSum;
  readonly audits: AuditBook;
  readonly auditable: boolean;
}

export interface AuditDeskHooks {
  /** Shard s's answer is decided and in the sum. */
  answered(s: number): void;
  /** Liars were banned (and removed from the table): the round starts again without them. */
  restart(): void;
}

export class AuditDesk {
  constructor(
    private readonly ctx: RunContext,
    private readonly outbox: Outbox,
    private readonly guard: Guard,
    private readonly device: Device,
    private readonly lineage: Lineage,
    private readonly election: Election,
    private readonly hooks: AuditDeskHooks,
  ) {}

  private get id(): PeerId {
    return this.outbox.id;
  }

  /** Picks the round's audited shards and asks their auditors (privately); called when a round opens. */
  open(r: AuditedRound, round: number, attempt: number): void {
    r.audits.clear();
    if (!r.auditable || this.guard.settings.audit <= 0) return;
    const T = r.table;
    let pool: PeerId[] | null = null;
    const asks = new Map<PeerId, number[]>();
    for (let s = 0; s < this.ctx.shards; s++) {
      const h = T.holders[s];
      if (h === null || h === this.id || !this.guard.audits(round, s)) continue;
      pool ??= [...T.members.values()].filter((m) => m.eligible && !this.guard.isBanned(m.id)).map((m) => m.id);
      const candidates = pool.filter((p) => p !== h);
      if (candidates.length === 0) continue;
      const auditor = this.guard.pick(round, s, candidates);
      r.audits.open(s, auditor);
      let list = asks.get(auditor);
      if (list === undefined) asks.set(auditor, (list = []));
      list.push(s);
    }
    for (const [auditor, shards] of asks) {
      this.outbox.count('audit-requested', shards.length);
      const req = { epoch: this.election.epoch, round, attempt, baseDigest: this.lineage.digest.slice(), shards };
      if (auditor === this.id) this.device.requestAudit(req);
      else this.outbox.send(auditor, this.outbox.message(MSG.AUDIT, req.epoch, round, phaseCode(r.phase), encodeAudit(req, this.ctx.shards)));
    }
  }

  /** An auditor's answer (or the aggregator's own, settling a mismatch). */
  onAnswer(r: AuditedRound, sender: PeerId, e: UplinkEntry): void {
    const c = r.audits.cases.get(e.shard);
    if (c === undefined || (sender !== c.auditor && !(sender === this.id && c.settling))) {
      this.outbox.count('unassigned-uplink');
      return;
    }
    if (sender === this.id && c.settling) c.selfBytes = e.payload;
    else if (c.auditBytes === null) c.auditBytes = e.payload;
    this.resolve(r, e.shard);
  }

  /** Carries out what the audit book decides for shard s. */
  resolve(r: AuditedRound, s: number): void {
    const c = r.audits.cases.get(s) as AuditCase;
    const out = r.audits.resolve(c, this.id);
    switch (out.kind) {
      case 'wait':
        return;
      case 'settle':
        this.outbox.count('audit-mismatch');
        this.device.requestAudit(
          { epoch: this.election.epoch, round: r.round, attempt: r.attempt, baseDigest: this.lineage.digest.slice(), shards: [s] },
          true,
        );
        return;
      case 'accept': {
        r.audits.cases.delete(s);
        if (out.match) this.outbox.count('audit-match');
        else if (c.auditor === this.id) this.outbox.count('audit-mismatch');
        const info = r.info as PhaseInfo;
        if (out.primary) r.sum.add(s, out.bytes, c.primaryPayload as Payload);
        else {
          if (c.primaryPayload !== null) info.uplink.release?.(c.primaryPayload);
          r.sum.add(s, out.bytes, info.uplink.decode(out.bytes, this.ctx.dim));
        }
        this.hooks.answered(s);
        let restart = false;
        for (const liar of out.liars) {
          if (liar === this.id || !this.guard.ban(liar, 'audit mismatch')) continue;
          this.outbox.count('banned');
          r.table.remove(liar);
          restart = true;
        }
        if (restart) this.hooks.restart();
        return;
      }
      default: {
        const never: never = out;
        throw new Error(`unexpected audit outcome ${JSON.stringify(never)}`);
      }
    }
  }

  /** At the deadline: audited answers whose auditor stayed silent are taken as they are (the auditor misses). */
  expire(r: AuditedRound): void {
    for (const c of [...r.audits.cases.values()]) {
      if (c.primaryBytes === null || c.settling) continue;
      r.audits.cases.delete(c.shard);
      this.outbox.count('audit-timeout');
      r.sum.add(c.shard, c.primaryBytes, c.primaryPayload as Payload);
      this.hooks.answered(c.shard);
      const m = r.table.members.get(c.auditor);
      if (m && c.auditor !== this.id) r.table.miss(m, false);
    }
  }
}

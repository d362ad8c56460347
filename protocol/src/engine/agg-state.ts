/**
 * The state of one aggregator epoch (aggregator.ts): its mode, membership table, server state and
 * the open round's answers, audits and relay-tree roster.
 */
import type { AnyMethod, PhaseInfo, PhaseName, ServerState, Vec } from '../methods/types.js';
import type { Roster } from '../tree/roster.js';
import { AuditBook } from './audits.js';
import type { RunContext } from './context.js';
import type { Membership } from './membership.js';
import { RoundSum } from './round-sum.js';

export type AggMode = 'gather' | 'idle' | 'round' | 'sync' | 'done';

/** How a round is opened: the next round by an OPEN, the next round implied by a COMMIT, or a retry. */
export type OpenKind = 'explicit' | 'implicit' | 'retry';

export interface AggState {
  readonly epoch: number;
  mode: AggMode;
  readonly table: Membership;
  server: ServerState<Vec>;
  // current round
  round: number;
  attempt: number;
  phase: PhaseName;
  info: PhaseInfo | null;
  /** The running sum of the round's answers (one accumulator, whatever M). */
  readonly sum: RoundSum;
  readonly answered: Uint8Array;
  readonly freshAnswer: Uint8Array;
  answeredCount: number;
  lastOpened: { round: number; attempt: number };
  /** (peer, round, digest) states we failed to fetch: not chased again. */
  readonly failedSync: Set<string>;
  /** Shards whose answer was refused in the current attempt, and how many (kept with it: no scan per answer). */
  readonly refused: Uint8Array;
  refusedCount: number;
  /** The round's audits. */
  readonly audits: AuditBook;
  /** Whether the current round's answers can be audited (its phase is not opaque). */
  auditable: boolean;
  /** This epoch's broadcasts are large enough for the relay trees (a large one was made). */
  treeWorthy: boolean;
  /** The largest commit body of this epoch (bytes): the trees' cost model's S. */
  largestBody: number;
  /** The roster last published (relay trees), or null. */
  roster: Roster | null;
}

/** A new epoch's state: gathering heartbeats, no round open yet. */
export function newAggState(epoch: number, ctx: RunContext, method: AnyMethod, M: number, table: Membership): AggState {
  return {
    epoch,
    mode: 'gather',
    table,
    server: method.initServer(),
    round: 0,
    attempt: 0,
    // Set when the first round opens.
    phase: 'init',
    info: null,
    sum: new RoundSum(method, ctx.dim),
    answered: new Uint8Array(M),
    freshAnswer: new Uint8Array(M),
    answeredCount: 0,
    lastOpened: { round: -1, attempt: -1 },
    failedSync: new Set<string>(),
    refused: new Uint8Array(M),
    refusedCount: 0,
    audits: new AuditBook(),
    auditable: false,
    treeWorthy: false,
    largestBody: 0,
    roster: null,
  };
}

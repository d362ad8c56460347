/**
 * The peer's outbox: the clock of the event being handled, the actions it produces (messages,
 * timers, records, evaluation requests), and the peer's counters. Every role writes through it, so
 * the order of a handled event's actions is the order in which the roles decided them.
 */
import type { RunContext } from './context.js';
import { ENGINE_CODEC } from './messages.js';
import type { EngineAction, EngineCounter, EngineMessage, EngineRole, PeerId, TimerKind } from './types.js';

/** Counters a peer keeps (also emitted as `metric` increments). */
export type Counters = Partial<Record<EngineCounter, number>>;

export class Outbox {
  readonly counters: Counters = {};
  /** Clock of the event being handled (ms). */
  now = 0;
  /** When this peer last broadcast (the aggregator's idle ANNOUNCEs are timed from it). */
  lastBroadcast = 0;
  private out: EngineAction[] = [];

  constructor(
    readonly id: PeerId,
    readonly ctx: RunContext,
    readonly role: EngineRole,
  ) {}

  /** Starts collecting the actions of one event. */
  begin(now: number): EngineAction[] {
    this.now = now;
    const out: EngineAction[] = [];
    this.out = out;
    return out;
  }

  push(action: EngineAction): void {
    this.out.push(action);
  }

  count(name: EngineCounter, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
    this.out.push({ type: 'metric', name, value: n });
  }

  setTimer(id: TimerKind, delayMs: number): void {
    this.out.push({ type: 'setTimer', id, delayMs: Math.max(0, delayMs) });
  }

  clearTimer(id: TimerKind): void {
    this.out.push({ type: 'clearTimer', id });
  }

  message(kind: number, epoch: number, round: number, phase: number, body: Uint8Array): EngineMessage {
    return { kind, runId: this.ctx.runId, epoch, round, phase, sender: this.id, codec: ENGINE_CODEC, body };
  }

  broadcast(msg: EngineMessage): void {
    this.out.push({ type: 'broadcast', message: msg });
    this.lastBroadcast = this.now;
  }

  send(to: PeerId, msg: EngineMessage): void {
    this.out.push({ type: 'send', to, message: msg });
  }
}

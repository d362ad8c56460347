import type { EngineAction, EngineEvent, EngineMessage, EnginePeer, PeerId } from '@masha/protocol';

/** A valid run id for frames (64 lower-case hex digits). */
export const RUN_ID = 'ab'.repeat(32);

export const KIND_PING = 1;
export const KIND_ECHO = 2;

/** Everything an echo peer saw, with the virtual time it saw it. */
export interface Seen {
  readonly now: number;
  readonly event: EngineEvent;
}

export interface EchoOptions {
  /** The pinger broadcasts (or sends, when `direct`) one ping of this many body bytes on start. */
  readonly bodyBytes: number;
  /** Operator evaluations an echo "costs" (charged through the shared evaluation counter). */
  readonly evalsPerEcho?: number;
  /** Pinger sends point to point to each of these peers instead of broadcasting. */
  readonly direct?: readonly PeerId[];
  /** Timers the peer sets on start: [id, delay]. */
  readonly timers?: readonly (readonly [string, number])[];
  /** Expected echoes before the pinger reports done. */
  readonly expectEchoes?: number;
}

/** Shared operator-evaluation counter (the swarm's `evaluations` probe). */
export const counter = { evaluations: 0 };

export function message(kind: number, sender: PeerId, body: Uint8Array, round = 0): EngineMessage {
  return { kind, runId: RUN_ID, epoch: 1, round, phase: 0, sender, codec: 7, body };
}

/** A body whose bytes depend on (seed, i), so corruption and mixing are detectable. */
export function patternBody(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * A tiny engine: the peer named `pinger` pings on start; every other peer answers a ping with an
 * echo carrying the same body; the pinger reports `done` after `expectEchoes` echoes.
 */
export class EchoPeer implements EnginePeer {
  readonly id: PeerId;
  readonly seen: Seen[] = [];
  echoes = 0;
  constructor(
    id: PeerId,
    private readonly pinger: PeerId,
    private readonly options: EchoOptions,
  ) {
    this.id = id;
  }

  handle(event: EngineEvent, now: number): EngineAction[] {
    this.seen.push({ now, event });
    const out: EngineAction[] = [];
    if (event.type === 'start') {
      for (const [id, delay] of this.options.timers ?? []) out.push({ type: 'setTimer', id, delayMs: delay });
      if (this.id === this.pinger) {
        const ping = message(KIND_PING, this.id, patternBody(this.options.bodyBytes, 1));
        if (this.options.direct) for (const to of this.options.direct) out.push({ type: 'send', to, message: ping });
        else out.push({ type: 'broadcast', message: ping });
      }
    } else if (event.type === 'message') {
      if (event.message.kind === KIND_PING) {
        counter.evaluations += this.options.evalsPerEcho ?? 0;
        out.push({ type: 'send', to: event.from, message: message(KIND_ECHO, this.id, event.message.body) });
      } else if (event.message.kind === KIND_ECHO) {
        this.echoes++;
        out.push({ type: 'metric', name: 'echo', value: 1 });
        if (this.echoes === this.options.expectEchoes) out.push({ type: 'done', reason: 'all echoes' });
      }
    }
    return out;
  }
}

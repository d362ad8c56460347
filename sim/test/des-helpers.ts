import { decodeFrame, encodeFrames, FrameError, Reassembler, type EngineMessage, type Frame, type PeerId } from '@masha/protocol';
import { TimerTable } from '@masha/protocol/host';
import type { SimNode, SimPorts } from '../src/des/node.js';

/** A valid run id for frames (64 lower-case hex digits). */
export const RUN_ID = 'ab'.repeat(32);

export const KIND_PING = 1;
export const KIND_ECHO = 2;

/** Everything a test node saw, with the virtual time it saw it. */
export type Seen =
  | { readonly now: number; readonly type: 'message'; readonly message: EngineMessage }
  | { readonly now: number; readonly type: 'rejected'; readonly reason: string }
  | { readonly now: number; readonly type: 'timer'; readonly id: string }
  | { readonly now: number; readonly type: 'hint'; readonly text: string };

export interface EchoOptions {
  /** The pinger broadcasts (or sends, when `direct`) one ping of this many body bytes on start. */
  readonly bodyBytes: number;
  /** Operator evaluations an echo "costs" (charged to the peer's simulated CPU: the echo leaves after them). */
  readonly evalsPerEcho?: number;
  /** Pinger sends point to point to each of these peers instead of broadcasting. */
  readonly direct?: readonly PeerId[];
  /** Expected echoes before the pinger reports done. */
  readonly expectEchoes?: number;
  /** Largest frame (default: the frame format's). */
  readonly frameSize?: number;
  /** Rewrites the frames of the n-th message of a kind this node sends (corruption tests). */
  readonly mangle?: (kind: number, n: number, frames: Uint8Array[]) => Uint8Array[];
}

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

/** A node of the network-model tests: frames in and out through the protocol's frame format, nothing else. */
abstract class TestNode implements SimNode {
  readonly seen: Seen[] = [];
  private readonly reassembler = new Reassembler({ maxMessageBytes: 1 << 20, maxPartialsPerSender: 64, runId: RUN_ID });
  private nextId = 0;
  private readonly sentByKind = new Map<number, number>();

  constructor(
    readonly id: PeerId,
    protected readonly ports: SimPorts,
    protected readonly frameSize?: number,
    private readonly mangle?: EchoOptions['mangle'],
  ) {}

  abstract start(): void;
  protected abstract onMessage(message: EngineMessage): void;

  stop(): void {}
  wake(): void {}

  protected get now(): number {
    return this.ports.scheduler.now();
  }

  protected frames(m: EngineMessage): Uint8Array[] {
    const frames = encodeFrames(m, { messageId: this.nextId++, ...(this.frameSize ? { frameSize: this.frameSize } : {}) });
    const n = (this.sentByKind.get(m.kind) ?? 0) + 1;
    this.sentByKind.set(m.kind, n);
    return this.mangle ? this.mangle(m.kind, n, frames) : frames;
  }

  protected send(to: PeerId, m: EngineMessage): void {
    const frames = this.frames(m);
    this.ports.link.send(to, frames, meta(m, frames));
  }

  protected broadcast(m: EngineMessage): void {
    const frames = this.frames(m);
    this.ports.link.broadcast(frames, meta(m, frames));
  }

  receive(bytes: Uint8Array, from?: PeerId): void {
    try {
      this.receiveFrame(decodeFrame(bytes), bytes.length, from);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.seen.push({ now: this.now, type: 'rejected', reason: e.code });
    }
  }

  receiveFrame(frame: Frame, _size: number, from?: PeerId): void {
    let m: EngineMessage | null;
    try {
      m = this.reassembler.accept(frame, this.now, from);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.seen.push({ now: this.now, type: 'rejected', reason: e.code });
      return;
    }
    if (m === null) return;
    this.seen.push({ now: this.now, type: 'message', message: m });
    this.onMessage(m);
  }

  peerConnected(peer: PeerId): void {
    this.seen.push({ now: this.now, type: 'hint', text: `peer-connected:${peer}@${this.now}` });
  }

  peerDisconnected(peer: PeerId): void {
    this.seen.push({ now: this.now, type: 'hint', text: `peer-disconnected:${peer}@${this.now}` });
  }
}

function meta(m: EngineMessage, frames: readonly Uint8Array[]) {
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  return { kind: m.kind, epoch: m.epoch, round: m.round, phase: m.phase, bytes };
}

/**
 * The node named `pinger` pings on start; every other node answers a ping with an echo carrying
 * the same body (after its simulated CPU ran `evalsPerEcho` evaluations); the pinger reports done
 * after `expectEchoes` echoes.
 */
export class EchoNode extends TestNode {
  echoes = 0;
  messages = 0;

  constructor(
    id: PeerId,
    private readonly pinger: PeerId,
    private readonly options: EchoOptions,
    ports: SimPorts,
  ) {
    super(id, ports, options.frameSize, options.mangle);
  }

  start(): void {
    if (this.id !== this.pinger) return;
    const ping = message(KIND_PING, this.id, patternBody(this.options.bodyBytes, 1));
    if (this.options.direct) for (const to of this.options.direct) this.send(to, ping);
    else this.broadcast(ping);
  }

  protected onMessage(m: EngineMessage): void {
    this.messages++;
    if (m.kind === KIND_PING) {
      this.ports.cpu.charge(this.options.evalsPerEcho ?? 0);
      this.send(m.sender, message(KIND_ECHO, this.id, m.body));
    } else if (m.kind === KIND_ECHO) {
      this.echoes++;
      if (this.echoes === this.options.expectEchoes) this.ports.done();
    }
  }
}

/**
 * A node that sets timers through the scheduler port the way a host does (a `TimerTable`, one
 * wake-up request for the earliest): x at 10 then re-set to 30, y set then cleared, z at 5; when z
 * fires it sets w at 1 ms, and w sets v at 1e−13 ms (clamped to 1 ms, as setTimeout does).
 */
export class TimerNode extends TestNode {
  readonly fired: [string, number][] = [];
  private readonly timers = new TimerTable<string>(['x', 'y', 'z', 'w', 'v']);

  start(): void {
    this.set('x', 10);
    this.set('x', 30);
    this.set('y', 20);
    this.timers.clear('y');
    this.set('z', 5);
    this.arm();
  }

  override wake(): void {
    const now = this.now;
    for (let k = this.timers.popDue(now); k !== null; k = this.timers.popDue(now)) {
      this.fired.push([k, now]);
      if (k === 'z') this.set('w', 1);
      if (k === 'w') this.set('v', 1e-13);
    }
    this.arm();
  }

  get hints(): string[] {
    return this.seen.flatMap((s) => (s.type === 'hint' ? [s.text] : []));
  }

  protected onMessage(): void {}

  private set(id: string, delayMs: number): void {
    this.timers.set(id, this.now + Math.max(1, delayMs));
  }

  private arm(): void {
    this.ports.scheduler.wakeAt(this.timers.next());
  }
}

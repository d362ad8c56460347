/**
 * A tiny deterministic in-memory driver for engine tests: virtual time, a binary heap of events
 * ordered by (time, sequence), fixed link latencies, crash / revive / partition / heal, and every
 * message either cloned (so no peer can alias another's bytes) or really framed, decoded and
 * reassembled. Not the simulator (sim/ has the real one); just enough to drive MashaPeers.
 */
import { decodeFrame } from '../src/frames/decode.js';
import { encodeFrames } from '../src/frames/encode.js';
import { Reassembler } from '../src/frames/reassembler.js';
import { maxBodyBytes, type RunContext } from '../src/engine/context.js';
import { MashaPeer } from '../src/engine/peer.js';
import type { EngineAction, EngineEvent, EngineMessage } from '../src/engine/types.js';

interface Ev {
  t: number;
  seq: number;
  run: () => void;
}

class Heap {
  private a: Ev[] = [];
  get size(): number {
    return this.a.length;
  }
  push(e: Ev): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p], a[i])) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop() as Ev;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l], a[m])) m = l;
        if (r < a.length && less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
  peek(): Ev | undefined {
    return this.a[0];
  }
}

function less(x: Ev, y: Ev): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

export interface CommitRecord {
  readonly t: number;
  readonly epoch: number;
  readonly round: number;
  readonly iteration: number;
  readonly phase: string;
  readonly digest: string;
  readonly included: number;
}

export interface Node {
  readonly id: string;
  peer: MashaPeer;
  alive: boolean;
  group: string;
  readonly timers: Map<string, number>;
  readonly commits: CommitRecord[];
  readonly elections: { t: number; epoch: number; aggregator: string }[];
  done: string | null;
  reassembler: Reassembler | null;
}

export interface DriverOptions {
  /** One-way latency in ms of a message from → to (default 1). */
  readonly latency?: (from: string, to: string) => number;
  /**
   * 'clone' (default) copies bodies; 'frames' encodes, decodes and reassembles real frames;
   * 'shared' hands every receiver the sender's message object (fastest; for speed probes).
   */
  readonly wire?: 'clone' | 'frames' | 'shared';
  readonly frameSize?: number;
  /** Drop a message from → to (deterministic predicate). */
  readonly drop?: (from: string, to: string, msg: EngineMessage) => boolean;
  /** Called after every event a peer handled. */
  readonly onHandled?: (node: Node, event: EngineEvent, actions: readonly EngineAction[]) => void;
}

export class TestSwarm {
  now = 0;
  private seq = 0;
  private readonly heap = new Heap();
  readonly nodes = new Map<string, Node>();
  private token = 0;
  messages = 0;
  bytes = 0;

  constructor(
    readonly ctx: RunContext,
    readonly options: DriverOptions = {},
  ) {}

  at(t: number, run: () => void): void {
    this.heap.push({ t, seq: this.seq++, run });
  }

  /** Adds (or restarts, with fresh state) peer `id` at time t. */
  add(id: string, t = this.now): void {
    this.at(t, () => {
      const old = this.nodes.get(id);
      const node: Node = {
        id,
        peer: new MashaPeer(id, this.ctx),
        alive: true,
        group: old?.group ?? 'main',
        timers: new Map(),
        commits: old?.commits ?? [],
        elections: old?.elections ?? [],
        done: null,
        reassembler:
          this.options.wire === 'frames'
            ? new Reassembler({ maxMessageBytes: (h) => maxBodyBytes(this.ctx, h.kind), runId: this.ctx.runId })
            : null,
      };
      this.nodes.set(id, node);
      this.deliver(node, { type: 'start' });
    });
  }

  crash(id: string, t = this.now): void {
    this.at(t, () => {
      const n = this.nodes.get(id);
      if (!n) return;
      n.alive = false;
      n.timers.clear();
    });
  }

  /** Splits the swarm: peers in `side` form group 'b', the rest stay in 'main'. */
  partition(side: readonly string[], t = this.now): void {
    this.at(t, () => {
      for (const id of side) (this.nodes.get(id) as Node).group = 'b';
    });
  }

  heal(t = this.now): void {
    this.at(t, () => {
      for (const n of this.nodes.values()) n.group = 'main';
    });
  }

  node(id: string): Node {
    return this.nodes.get(id) as Node;
  }

  alive(): Node[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  aggregators(): Node[] {
    return this.alive().filter((n) => n.peer.isAggregator);
  }

  /** Runs events until time `until` (inclusive) or until `stop` returns true after an event. */
  run(until: number, stop?: () => boolean): void {
    for (;;) {
      const e = this.heap.peek();
      if (!e || e.t > until) break;
      this.heap.pop();
      this.now = e.t;
      e.run();
      if (stop && stop()) return;
    }
    if (this.now < until && !(stop && stop())) this.now = until;
  }

  private deliver(node: Node, event: EngineEvent): void {
    if (!node.alive) return;
    const actions = node.peer.handle(event, this.now);
    this.options.onHandled?.(node, event, actions);
    for (const a of actions) this.execute(node, a);
  }

  private execute(node: Node, a: EngineAction): void {
    switch (a.type) {
      case 'broadcast':
        for (const other of this.nodes.values()) if (other !== node) this.transmit(node, other, a.message);
        break;
      case 'send': {
        const other = this.nodes.get(a.to);
        if (other) this.transmit(node, other, a.message);
        break;
      }
      case 'setTimer': {
        const tok = ++this.token;
        node.timers.set(a.id, tok);
        const peer = node.peer;
        this.at(this.now + a.delayMs, () => {
          if (node.peer !== peer || node.timers.get(a.id) !== tok) return;
          node.timers.delete(a.id);
          this.deliver(node, { type: 'timer', id: a.id });
        });
        break;
      }
      case 'clearTimer':
        node.timers.delete(a.id);
        break;
      case 'commit':
        node.commits.push({
          t: this.now,
          epoch: a.epoch,
          round: a.round,
          iteration: a.iteration,
          phase: a.phase,
          digest: a.digest,
          included: a.included.length,
        });
        break;
      case 'election':
        node.elections.push({ t: this.now, epoch: a.epoch, aggregator: a.aggregator });
        break;
      case 'done':
        node.done = a.reason;
        break;
      case 'metric':
        break;
    }
  }

  private transmit(from: Node, to: Node, msg: EngineMessage): void {
    if (!from.alive) return;
    if (this.options.drop?.(from.id, to.id, msg)) return;
    this.messages++;
    this.bytes += msg.body.length;
    const delay = this.options.latency?.(from.id, to.id) ?? 1;
    // Delivered when sender and receiver are in the same group when it arrives (a partition drops
    // what is in flight across it; a heal lets in-flight messages through).
    const reachable = (): boolean => to.alive && to.group === from.group;
    if (this.options.wire === 'frames') {
      const frames = encodeFrames(msg, this.options.frameSize ? { frameSize: this.options.frameSize } : {});
      const target = to.peer;
      this.at(this.now + delay, () => {
        if (!reachable() || to.peer !== target) return;
        const r = to.reassembler as Reassembler;
        for (const f of frames) {
          const done = r.accept(decodeFrame(f.slice()), this.now);
          if (done) this.deliver(to, { type: 'message', from: from.id, message: done });
        }
      });
      return;
    }
    const copy: EngineMessage = this.options.wire === 'shared' ? msg : { ...msg, body: msg.body.slice() };
    const target = to.peer;
    this.at(this.now + delay, () => {
      if (!reachable() || to.peer !== target) return;
      this.deliver(to, { type: 'message', from: from.id, message: copy });
    });
  }
}

/** Asserts per-peer commit sequences are gap-free and never repeat a round unless a state transfer intervened. */
export function commitSequenceProblems(node: Node): string[] {
  const out: string[] = [];
  for (let i = 1; i < node.commits.length; i++) {
    const a = node.commits[i - 1];
    const b = node.commits[i];
    if (b.round !== a.round + 1) out.push(`${node.id}: round ${b.round} after ${a.round}`);
  }
  return out;
}

/**
 * A tiny deterministic runtime for engine tests: virtual time, a binary heap of events ordered by
 * (time, sequence), per-message latencies, crash / revive / partition / heal. Every peer is a real
 * `PeerHost` (the one host of every runtime) whose ports are implemented here: the scheduler is the
 * heap, the frame link delivers real frames (copied, so no peer aliases another's bytes) after the
 * latency, and the evaluator is the problem's (or one the test supplies). Not the simulator (sim/
 * has the real one); just enough to drive hosts.
 */
import { decodeFrame } from '../src/frames/decode.js';
import { Reassembler } from '../src/frames/reassembler.js';
import type { ManifestRun } from '../src/manifest/build.js';
import type { MashaPeer } from '../src/engine/peer.js';
import type { EngineAction, EngineMessage } from '../src/engine/types.js';
import { PeerHost } from '../src/host/peer-host.js';
import { ProblemEvaluator } from '../src/host/problem-evaluator.js';
import type { Evaluator } from '../src/ports/evaluator.js';
import type { FrameLink } from '../src/ports/frame-link.js';
import type { Problem } from '../src/problems/types.js';
import { SimKeyring } from '../src/trust/sim-keyring.js';

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
  host: PeerHost;
  /** The host's engine (read-only use). */
  peer: MashaPeer;
  alive: boolean;
  group: string;
  readonly commits: CommitRecord[];
  readonly elections: { t: number; epoch: number; aggregator: string }[];
  done: string | null;
}

export interface DriverOptions {
  /** One-way latency in ms of a message from → to (default 1); Infinity drops it. */
  readonly latency?: (from: string, to: string, msg: EngineMessage) => number;
  readonly frameSize?: number;
  /** Drop a message from → to (deterministic predicate). */
  readonly drop?: (from: string, to: string, msg: EngineMessage) => boolean;
  /** The evaluator of a peer (default: the problem's, synchronous). */
  readonly evaluator?: (id: string, problem: Problem, swarm: TestSwarm) => Evaluator;
  /** Called for every action a peer's host carried out. */
  readonly onAction?: (node: Node, action: EngineAction) => void;
  /** Called for every message delivered to a peer (before its host handles it). */
  readonly onDeliver?: (node: Node, message: EngineMessage) => void;
  /** Status reports: the hosts' cadence (PeerHostInit) and where each report goes. */
  readonly status?: { readonly intervalMs: number; readonly steadyMs?: number; readonly report: (node: Node, bytes: Uint8Array, t: number) => void };
}

/** The message a list of frames carries (for the test's predicates). */
function messageOf(frames: readonly Uint8Array[]): EngineMessage {
  const r = new Reassembler({ maxMessageBytes: 1 << 30 });
  for (const f of frames) {
    const m = r.accept(decodeFrame(f), 0);
    if (m !== null) return m;
  }
  throw new Error('frames did not make a message');
}

export class TestSwarm {
  now = 0;
  private seq = 0;
  private readonly heap = new Heap();
  readonly nodes = new Map<string, Node>();
  messages = 0;
  bytes = 0;
  readonly ctx: ManifestRun['ctx'];
  readonly problem: Problem;
  /** Every peer's signer (each host gets only its own). */
  readonly keyring = new SimKeyring('engine-driver');

  constructor(
    run: Pick<ManifestRun, 'ctx' | 'problem'>,
    readonly options: DriverOptions = {},
  ) {
    this.ctx = run.ctx;
    this.problem = run.problem;
  }

  at(t: number, run: () => void): void {
    this.heap.push({ t, seq: this.seq++, run });
  }

  /** Adds (or restarts, with fresh state) peer `id` at time t. */
  add(id: string, t = this.now): void {
    this.at(t, () => {
      const old = this.nodes.get(id);
      const node = {
        id,
        alive: true,
        group: old?.group ?? 'main',
        commits: old?.commits ?? [],
        elections: old?.elections ?? [],
        done: null,
      } as unknown as Node;
      let wakeToken = 0;
      const host = new PeerHost(
        {
          id,
          ctx: this.ctx,
          ...(this.options.frameSize ? { frameBytes: this.options.frameSize } : {}),
          ...(this.options.status ? { statusIntervalMs: this.options.status.intervalMs, statusSteadyMs: this.options.status.steadyMs ?? 0 } : {}),
          onAction: (a) => this.observe(node, a),
        },
        {
          scheduler: {
            now: () => this.now,
            wakeAt: (t) => {
              const token = ++wakeToken;
              if (t === Number.POSITIVE_INFINITY) return;
              this.at(Math.max(t, this.now), () => {
                if (token === wakeToken && node.alive && node.host === host) host.wake();
              });
            },
          },
          link: this.link(node),
          evaluator: this.options.evaluator?.(id, this.problem, this) ?? new ProblemEvaluator(this.problem),
          identity: this.keyring.signerOf(id),
        },
      );
      node.host = host;
      node.peer = host.engine;
      this.nodes.set(id, node);
      // A joiner trusts the epochs the launcher vouches for (modelled: the chain of the live peer
      // furthest ahead), as a volunteer does from the launcher's signed run announcement.
      const anchor = this.anchorChain();
      host.start();
      if (anchor !== null) host.anchor(anchor);
    });
  }

  /** The certificate chain of the live peer in the highest epoch (the launcher's anchor, modelled). */
  anchorChain(): Uint8Array | null {
    let best: Node | null = null;
    for (const n of this.nodes.values()) {
      if (!n.alive || n.peer.certificate === null) continue;
      if (best === null || n.peer.snapshot().epoch > best.peer.snapshot().epoch) best = n;
    }
    return best?.peer.certificate ?? null;
  }

  crash(id: string, t = this.now): void {
    this.at(t, () => {
      const n = this.nodes.get(id);
      if (!n) return;
      n.alive = false;
      n.host.stop();
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

  private observe(node: Node, a: EngineAction): void {
    switch (a.type) {
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
      default:
        break;
    }
    this.options.onAction?.(node, a);
  }

  private link(from: Node): FrameLink {
    return {
      send: (to, frames) => {
        const other = this.nodes.get(to);
        if (other) this.transmit(from, other, frames);
      },
      broadcast: (frames) => {
        for (const other of this.nodes.values()) if (other !== from) this.transmit(from, other, frames);
      },
      ...(this.options.status ? { publishStatus: (bytes: Uint8Array) => this.options.status?.report(from, bytes, this.now) } : {}),
    };
  }

  private transmit(from: Node, to: Node, frames: readonly Uint8Array[]): void {
    if (!from.alive) return;
    const o = this.options;
    const msg = o.drop || o.latency || o.onDeliver ? messageOf(frames) : null;
    if (o.drop?.(from.id, to.id, msg as EngineMessage)) return;
    const delay = o.latency?.(from.id, to.id, msg as EngineMessage) ?? 1;
    if (delay === Number.POSITIVE_INFINITY) return;
    this.messages++;
    for (const f of frames) this.bytes += f.length;
    // Delivered when sender and receiver are in the same group when it arrives (a partition drops
    // what is in flight across it; a heal lets in-flight messages through).
    const copies = frames.map((f) => f.slice());
    const target = to.host;
    this.at(this.now + delay, () => {
      if (!to.alive || to.group !== from.group || to.host !== target) return;
      if (msg !== null) o.onDeliver?.(to, msg);
      for (const f of copies) target.receive(f);
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

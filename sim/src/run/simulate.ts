import {
  buildProblem,
  type MashaPeer,
  MSG,
  operatorNormSq,
  runFromManifest,
  type EngineAction,
  type EngineCounter,
  type EvaluationRequest,
  type Manifest,
  type ManifestRun,
  type Problem,
} from '@masha/protocol';
import { ByteSlab } from '@masha/protocol/engine';
import { SimKeyring } from '@masha/protocol/trust';
import { evaluateRequest, PeerHost, type HostRecord, type RecordKind } from '@masha/protocol/host';
import type { EventSink as RecordSink, Evaluator, FrameLink, Identity } from '@masha/protocol/ports';
import type { PeerId } from '@masha/protocol';
import { frameHash } from '@masha/protocol/tree';
import { logTime, type EventSink } from '../des/event-log.js';
import { DEFAULT_LINK, type LinkProfile } from '../des/link-model.js';
import type { SimCpu, SimNode } from '../des/node.js';
import { Swarm, type SwarmStats } from '../des/swarm.js';
import { checkTraceConsistency, initialPeers, type JoinEvent, type Trace } from '../trace/schema.js';
import type { RunSeries } from './plot-run.js';

/**
 * One simulated run: the manifest's problem and method, real `MashaPeer` engines (one per peer of
 * the trace, sharing one immutable run context), the discrete-event swarm between them, and the
 * measurements that end up in summary.json and the plot.
 */
export interface SimulateOptions {
  readonly manifest: Manifest;
  /** Churn trace (default: none — the manifest's M shards' worth of peers, present throughout). */
  readonly trace?: Trace;
  /** The manifest's problem, already built (skips generation; must be what the manifest names). */
  readonly problem?: Problem;
  /** Reads a problem file named by the manifest (paths as written in the manifest). */
  readonly readFile?: (path: string) => string;
  /** Network randomness seed (jitter, loss, relay layouts); default: the manifest's seed. */
  readonly seed?: number;
  /** Link profile of every peer (trace joins may override fields); default DEFAULT_LINK. */
  readonly link?: LinkProfile;
  /** Broadcast relay fan-out (default 6). */
  readonly fanout?: number;
  /** Event log sink (events.jsonl and its hash); none by default. */
  readonly log?: EventSink | null;
  /** Log every `metric` action too (default false). */
  readonly logMetrics?: boolean;
  /** Stop after this much simulated time (default: generous bound from the manifest and trace). */
  readonly maxSimSeconds?: number;
  /** Stop after this many discrete events (default: unbounded). */
  readonly maxEvents?: number;
  /** Compute ‖F‖² for the curve every this many iterations when z* is unknown (default: ~200 points). */
  readonly recordEvery?: number;
  /** Called when a new iteration is first committed. */
  readonly onIteration?: (info: IterationInfo) => void;
  /** Called whenever a peer applies a committed round (benchmarks: how long a commit takes to reach everyone). */
  readonly onCommit?: (peer: string, round: number, simMs: number) => void;
  /**
   * Faults for tests: `link` wraps a peer's frame link (what it sends: a relay
   * that alters frames), `node` wraps its node (what it receives: a peer that loses messages).
   */
  readonly faults?: {
    readonly link?: (id: string, link: FrameLink) => FrameLink;
    readonly node?: (id: string, node: SimNode) => SimNode;
  };
  /** Each peer's Identity (default: the simulator's keyed MAC, `SimKeyring`; benchmarks pass Ed25519). */
  readonly identity?: (id: string) => Identity;
  /**
   * Peers that lie (tests and measurements of attacks, issue 14): the ports of peer `id` are
   * wrapped — its evaluator (wrong values, or none at all), its frame link (rewritten messages) —
   * while its engine stays the real one. Null or undefined: an honest peer.
   */
  readonly adversary?: (id: PeerId) => Adversary | null | undefined;
  /** Called for every action of every peer (measurements). */
  readonly onAction?: (id: PeerId, action: EngineAction) => void;
}

/** How an adversarial peer's ports are wrapped (see `SimulateOptions.adversary`). */
export interface Adversary {
  readonly evaluator?: (honest: Evaluator) => Evaluator;
  readonly link?: (honest: FrameLink) => FrameLink;
}

export interface IterationInfo {
  readonly iteration: number;
  readonly simSeconds: number;
  readonly alive: number;
  /** The peer that committed it first (read-only use). */
  readonly peer: MashaPeer;
  readonly maxIterations: number;
  /** Bytes a peer has put on its uplink so far (every frame on every hop it sent). */
  readonly uploadedBytes: (id: string) => number;
}

/** The fields of summary.json. */
export interface RunSummary {
  readonly runId: string;
  /** Round attempts: committed rounds plus aborted ones. */
  readonly rounds: number;
  /** Committed rounds of the final state (the lineage every peer ends on). */
  readonly committedRounds: number;
  /** Round attempts that did not become part of the final state (aborted, retried, interrupted by a failover, or on a losing partition side). */
  readonly abortedRounds: number;
  /** Distinct epochs adopted (the bootstrap election included). */
  readonly elections: number;
  /** Uplinks that arrived after their round had committed. */
  readonly lateFrames: number;
  /** Frames refused by the frame decoder/reassembler plus messages whose bodies the engine refused. */
  readonly rejectedFrames: number;
  /** Messages of stale epochs, ignored. */
  readonly staleMessages: number;
  /** Frames lost on links (loss model). */
  readonly framesLost: number;
  readonly iterations: number;
  readonly finalRelDist: number | null;
  readonly finalOpNormSq: number;
  /** Wire bytes of point-to-point messages (uplinks, state transfer), first hop. */
  readonly uplinkBytes: number;
  /** Wire bytes of broadcasts, counted once per broadcast. */
  readonly downlinkBytes: number;
  /** Wire bytes over every link (every relay hop). */
  readonly wireBytes: number;
  readonly logSha256: string | null;
  readonly simSeconds: number;
  readonly wallSeconds: number;
  /** The target (stop.target, default 1e-6) was met: relative distance, or ‖F‖²/‖F(z⁰)‖² when z* is unknown. */
  readonly reached: boolean;
  /** Every live peer ends with the same replica digest. */
  readonly consistent: boolean;
  readonly peersAtEnd: number;
  /** Why the simulation stopped: done (every peer finished), idle, time. */
  readonly stop: string;
}

export interface SimulateResult {
  readonly summary: Omit<RunSummary, 'logSha256' | 'wallSeconds'>;
  readonly series: RunSeries;
  readonly stats: SwarmStats;
  /** Engine counters summed over every peer (every `metric` action). */
  readonly counters: ReadonlyMap<EngineCounter, number>;
  readonly run: ManifestRun;
  /** Engines of the peers present at the end. */
  readonly peers: readonly MashaPeer[];
  /** The host of every peer (its last incarnation), present or not: counters, bytes, relay state. */
  readonly hosts: ReadonlyMap<string, PeerHost>;
  /** The final iterate (of the most advanced peer). */
  readonly z: Float64Array;
  /**
   * Measurement only (nothing in the simulation reads a clock): wall seconds building vs.
   * simulating, and the process CPU seconds of the simulation (robust on a loaded machine).
   */
  readonly timing: { readonly setupSeconds: number; readonly runSeconds: number; readonly runCpuSeconds: number };
}

export const DEFAULT_TARGET = 1e-6;

/**
 * SHA-256 of a frame, cached by its bytes: a relayed frame reaches every peer as the same bytes,
 * so the thousand peers of a simulation hash it once (frames are never modified once sent).
 */
const FRAME_HASHES = new WeakMap<Uint8Array, Uint8Array>();
export function cachedFrameHash(frame: Uint8Array): Uint8Array {
  let h = FRAME_HASHES.get(frame);
  if (h === undefined) {
    h = frameHash(frame);
    FRAME_HASHES.set(frame, h);
  }
  return h;
}

/**
 * The simulator's evaluator: values from the problem at once, and the work charged to the peer's
 * simulated CPU (evaluations × its compute time, FIFO), so the answer leaves the peer only when
 * the CPU would have computed it.
 */
export class SimEvaluator implements Evaluator {
  constructor(
    private readonly problem: Problem,
    private readonly cpu: SimCpu,
  ) {}

  evaluate(request: EvaluationRequest, complete: (error: Error | null) => void): void {
    this.cpu.charge(evaluateRequest(this.problem, request));
    complete(null);
  }
}

/** Host records the simulator logs (events.jsonl), with the virtual time in seconds. */
class SimRecords implements RecordSink {
  readonly wants: ReadonlySet<RecordKind>;
  constructor(
    private readonly log: EventSink,
    private readonly clock: () => number,
    logMetrics: boolean,
  ) {
    const kinds: RecordKind[] = ['receive', 'commit', 'election', 'done', 'reject', 'timer', 'error', 'tree'];
    if (logMetrics) kinds.push('metric');
    this.wants = new Set(kinds);
  }
  record(r: HostRecord): void {
    this.log.line(JSON.stringify({ t: logTime(this.clock()), ...r }));
  }
}

export function simulate(options: SimulateOptions): SimulateResult {
  const { manifest } = options;
  const setupStart = performance.now();
  const problem = options.problem ?? buildProblem(manifest.problem, options.readFile ? { readFile: options.readFile } : {});
  const run = runFromManifest(manifest, { problem });
  const { ctx } = run;
  const trace: Trace = options.trace ?? { events: [], lines: [] };
  checkTraceConsistency(trace, problem.shards);
  const startJoins = trace.events.filter((e): e is JoinEvent => e.t === 0 && e.event === 'join');
  const starters: (string | JoinEvent)[] = startJoins.length > 0 ? startJoins : initialPeers(trace, problem.shards);
  const later = trace.events.filter((e) => !(e.t === 0 && e.event === 'join'));

  const hosts = new Map<string, PeerHost>();
  const metrics = new Map<EngineCounter, number>();
  const dim = problem.dim;
  const solution = problem.solution();
  const target = manifest.stop.target ?? DEFAULT_TARGET;
  const tmpA = new Float64Array(dim);
  const tmpB = new Float64Array(dim);
  const opNormSq0 = operatorNormSq(problem, f64(ctx.z0), tmpA, tmpB);
  const maxIterations = manifest.stop.iterations;
  const recordEvery = options.recordEvery ?? Math.max(1, Math.ceil(maxIterations / 200));

  const series = { iteration: [] as number[], simSeconds: [] as number[], metric: [] as number[], aliveSeconds: [] as number[], alive: [] as number[] };
  let lastIteration = 0;
  const attempts = new Set<string>();
  const epochs = new Set<number>();
  let lastCommitEpoch = -1;
  let lastCommitRound = -1;
  let lastUpEpoch = -1;
  let lastUpRound = -1;

  // Frames are carved from shared blocks (one ArrayBuffer per 64 KiB, not per frame).
  const slab = new ByteSlab();
  const alloc = (n: number): Uint8Array => slab.take(n);
  const records = options.log ? new SimRecords(options.log, () => swarm.now, options.logMetrics ?? false) : null;

  const onCommit = options.onCommit;
  const onAction = (id: string, a: EngineAction, now: number): void => {
    if (a.type === 'commit') {
      onCommit?.(id, a.round, now);
      // Every peer reports the same (epoch, round) in turn: skip the set for repeats.
      if (a.epoch !== lastCommitEpoch || a.round !== lastCommitRound) {
        lastCommitEpoch = a.epoch;
        lastCommitRound = a.round;
        attempts.add(`${a.epoch}:${a.round}`);
      }
      // The action's `iteration` is the one the round belonged to; the replica tells whether it
      // completed. A replica ends a handled event at most one iteration past its last commit's
      // (state installs come before commits), so older commits need no look.
      const peer = a.iteration >= lastIteration ? (hosts.get(id) as PeerHost).engine : null;
      const iteration = peer !== null ? peer.replica.iteration : lastIteration;
      if (peer !== null && iteration > lastIteration) {
        lastIteration = iteration;
        const metric = metricOf(peer, iteration);
        if (metric !== null) {
          series.iteration.push(iteration);
          series.simSeconds.push(now / 1000);
          series.metric.push(metric);
        }
        options.onIteration?.({ iteration, simSeconds: now / 1000, alive: swarm.alive, peer, maxIterations, uploadedBytes: (p) => swarm.uploadedBytes(p) });
      }
    } else if (a.type === 'send' && a.message.kind === MSG.UPLINK) {
      // Most uplinks of a round share (epoch, round): skip the set for repeats.
      const { epoch, round } = a.message;
      if (epoch !== lastUpEpoch || round !== lastUpRound) {
        lastUpEpoch = epoch;
        lastUpRound = round;
        attempts.add(`${epoch}:${round}`);
      }
    } else if (a.type === 'election') {
      epochs.add(a.epoch);
    } else if (a.type === 'metric') {
      metrics.set(a.name, (metrics.get(a.name) ?? 0) + a.value);
    }
  };

  // Signatures: a keyed MAC per peer (see SimKeyring); each host gets only its own signer.
  const keyring = new SimKeyring(`${run.runId}:${options.seed ?? manifest.seed}`);
  // A joiner trusts the epochs the launcher vouches for — in a real swarm the chain in its signed
  // run announcement; here the chain of the live peer in the highest epoch.
  const anchorChain = (): Uint8Array | null => {
    let best: MashaPeer | null = null;
    for (const h of hosts.values()) {
      if (h.isStopped || h.engine.certificate === null) continue;
      if (best === null || h.engine.snapshot().epoch > best.snapshot().epoch) best = h.engine;
    }
    return best?.certificate ?? null;
  };
  const swarm = new Swarm({
    seed: options.seed ?? manifest.seed,
    link: options.link ?? DEFAULT_LINK,
    ...(options.fanout !== undefined ? { fanout: options.fanout } : {}),
    ...(options.log ? { log: options.log } : {}),
    createNode: (id, ports) => {
      const adversary = options.adversary?.(id) ?? null;
      const faultyLink = (peer: string, link: FrameLink): FrameLink => (options.faults?.link ? options.faults.link(peer, link) : link);
      const honestEvaluator = new SimEvaluator(problem, ports.cpu);
      const host: PeerHost = new PeerHost(
        {
          id,
          ctx,
          frameBytes: manifest.network.frameBytes,
          // Relays forward the same bytes and the swarm never modifies a frame: one-frame bodies may view them.
          immutableFrames: true,
          alloc,
          // The simulator never expired partial messages; the engine recovers what is lost.
          expireEveryMs: 0,
          tree: { hash: cachedFrameHash },
          capacity: { upKbps: ports.uploadKbps, leaf: false },
          onAction: (a) => {
            onAction(id, a, swarm.now);
            options.onAction?.(id, a);
            if (a.type === 'done') ports.done();
          },
        },
        {
          scheduler: ports.scheduler,
          link: faultyLink(id, adversary?.link ? adversary.link(ports.link) : ports.link),
          evaluator: adversary?.evaluator ? adversary.evaluator(honestEvaluator) : honestEvaluator,
          identity: options.identity?.(id) ?? keyring.signerOf(id),
          ...(records ? { events: records } : {}),
        },
      );
      const anchor = anchorChain();
      hosts.set(id, host);
      const node: SimNode =
        anchor === null
          ? host
          : {
              // Anchored once started (the swarm starts the node right after creating it).
              start: () => {
                host.start();
                host.anchor(anchor);
              },
              stop: () => host.stop(),
              wake: () => host.wake(),
              receive: (b, f) => host.receive(b, f),
              receiveFrame: (fr, sz, f, sh) => host.receiveFrame(fr, sz, f, sh),
              receiveRelayed: (b, f, fr, sh) => host.receiveRelayed(b, f, fr, sh),
              peerConnected: (p) => host.peerConnected(p),
              peerDisconnected: (p) => host.peerDisconnected(p),
            };
      return options.faults?.node ? options.faults.node(id, node) : node;
    },
    observer: {
      onMembership: (_id, _ev, now, alive) => {
        const t = now / 1000;
        const prev = series.alive.length > 0 ? series.alive[series.alive.length - 1] : 0;
        series.aliveSeconds.push(t, t);
        series.alive.push(prev, alive);
      },
    },
  });

  function metricOf(peer: MashaPeer, iteration: number): number | null {
    const rd = peer.relDist();
    if (rd !== null) return rd;
    if (iteration % recordEvery !== 0 && iteration !== maxIterations) return null;
    return operatorNormSq(problem, f64(ctx.method.iterate(peer.replica)), tmpA, tmpB) / opNormSq0;
  }

  swarm.addInitialPeers(starters);
  swarm.scheduleTrace(later);
  const runStart = performance.now();
  const cpuStart = process.cpuUsage();
  const traceEnd = trace.events.length > 0 ? trace.events[trace.events.length - 1].t : 0;
  const t = manifest.network;
  const defaultLimit = traceEnd + (3 * maxIterations * (t.roundDeadlineMs + t.leaseMs)) / 1000 + 600;
  const stop = swarm.run({
    untilMs: 1000 * (options.maxSimSeconds ?? defaultLimit),
    ...(options.maxEvents !== undefined ? { maxEvents: options.maxEvents } : {}),
  });

  const runEnd = performance.now();
  const cpu = process.cpuUsage(cpuStart);
  // The final state: the most advanced peer (all live peers agree when `consistent`).
  const peers = swarm.aliveIds().map((id) => (hosts.get(id) as PeerHost).engine);
  let best: MashaPeer | null = null;
  for (const p of peers) if (best === null || p.committedRound > best.committedRound) best = p;
  const finalPeer = best;
  const z = f64(finalPeer ? ctx.method.iterate(finalPeer.replica).slice() : ctx.z0.slice());
  const finalRelDist = solution && finalPeer ? finalPeer.relDist() : null;
  const finalOpNormSq = operatorNormSq(problem, z, tmpA, tmpB);
  const digests = new Set(peers.map((p) => p.digestHex));
  const committedRounds = finalPeer ? finalPeer.committedRound : 0;
  const metric = (name: EngineCounter): number => metrics.get(name) ?? 0;
  const retries = metric('round-retry');
  const reached = finalRelDist !== null ? finalRelDist <= target : finalOpNormSq <= target * opNormSq0;
  // Close the membership curve at the end time.
  series.aliveSeconds.push(swarm.now / 1000);
  series.alive.push(swarm.alive);

  return {
    summary: {
      runId: run.runId,
      rounds: Math.max(attempts.size + retries, committedRounds),
      committedRounds,
      abortedRounds: Math.max(0, attempts.size + retries - committedRounds),
      elections: epochs.size,
      lateFrames: metric('late-uplink'),
      rejectedFrames: metric('rejected') + metric('bad-message') + metric('bad-payload'),
      staleMessages: metric('stale-epoch'),
      framesLost: swarm.stats.framesLost,
      iterations: finalPeer ? finalPeer.replica.iteration : 0,
      finalRelDist,
      finalOpNormSq,
      uplinkBytes: swarm.stats.uplinkBytes,
      downlinkBytes: swarm.stats.downlinkBytes,
      wireBytes: swarm.stats.wireBytes,
      simSeconds: swarm.now / 1000,
      reached,
      consistent: digests.size <= 1,
      peersAtEnd: peers.length,
      stop,
    },
    series,
    stats: swarm.stats,
    counters: metrics,
    run,
    peers,
    hosts,
    z,
    timing: { setupSeconds: (runStart - setupStart) / 1000, runSeconds: (runEnd - runStart) / 1000, runCpuSeconds: (cpu.user + cpu.system) / 1e6 },
  };
}

/** The float64 vectors of a synthetic problem's run (model runs are not simulated here). */
function f64(v: Float64Array | Float32Array): Float64Array {
  if (!(v instanceof Float64Array)) throw new TypeError('simulate: a synthetic problem run has float64 vectors');
  return v;
}

/**
 * A browser volunteer's peer: the protocol's one `PeerHost` (@masha/protocol/host) with the
 * worker's implementations of its ports — the fourth adapter, beside the simulator, the Node
 * driver and the engine tests. Timers, framing, reassembly, counters and status reports stay in
 * the host; this file only wires:
 *
 * - Scheduler: `WorkerScheduler` (performance.now and one setTimeout).
 * - FrameLink: `MainThreadLink` (frames posted to the main thread's libp2p node, as transferables;
 *   status reports on the run's status topic, every second like Node volunteers, so `masha
 *   status`, the launcher's summary and the tests see tabs as ordinary volunteers; the relay
 *   trees' frames over the tree protocol). A tab reports itself a leaf of the relay trees: it
 *   receives large broadcasts from Node peers (or other tabs, when nothing else can relay) but is
 *   not asked to forward them — its upload is the volunteer's home link and its thread a page's.
 * - Evaluator: the problem's own (`ProblemEvaluator`, synchronous — the run is built here from its
 *   announcement with `runFromManifest`, problem files from the announcement's `files`) behind
 *   `ThrottledEvaluator`, which idles before answering to keep the worker under the CPU share.
 * - EventSink: fills the page's "your part" (shards held, rounds contributed) and, with `?debug=1`,
 *   keeps the host's records as events.jsonl lines (the schema shared with Node peers and the
 *   simulator, `@masha/protocol/swarm` events.ts: `t` in Unix seconds) for tests.
 *
 * Inbound frames and connection hints from the main thread go to `receive` / `peer`. As in the
 * Node driver, the engine starts once gossip on the run's broadcast topic can flow (some peer
 * follows the topic) and at least `warmup.minMs` have passed, or after `warmup.maxMs`.
 *
 * Pause stops the host (a paused tab is an ordinary departure: the swarm moves its shards within a
 * lease) and resume starts a fresh one, which syncs from the swarm and is given shards again.
 * After the run is done the host stays to serve stragglers, and stops once the run is announced
 * finished (after two leases) or ten leases after done, like a Node volunteer's linger.
 */
import { runFromManifest, type EngineAction, type MashaPeer, type RunContext } from '@masha/protocol';
import { PeerHost, ProblemEvaluator, type HostRecord, type RecordKind } from '@masha/protocol/host';
import type { Evaluator, EventSink, Identity } from '@masha/protocol/ports';
import { Ed25519Identity, tokenFromText } from '@masha/protocol/trust';
import { broadcastTopic, statusTopic, type RunAnnouncement, type StatusDevice } from '@masha/protocol/swarm';
import type { FrameVia, LinkInfo, SelfState, SelfView, TabRecord } from '../worker-protocol.js';
import { CpuGovernor, RecentMean, ThrottledEvaluator } from './cpu-share.js';
import { MainThreadLink, WorkerScheduler, type Post } from './main-link.js';

export interface TabPeerInit {
  readonly self: string;
  /** The tab's libp2p Ed25519 private key: the engine's Identity signs with it. */
  readonly secretKey: Uint8Array;
  /** Join token (base64url text), for runs that admit only token holders. */
  readonly token?: string | null;
  readonly announcement: RunAnnouncement;
  /** The transport's frame size (the manifest's frame size is capped at it). */
  readonly maxFrameBytes: number;
  /** Gossip messages are signed, so a gossip frame's `from` is its authenticated author. */
  readonly signedGossip: boolean;
  readonly post: Post;
  readonly cpuShare: number;
  /** Keep the host's records for `takeRecords` (debug and tests). */
  readonly keepRecords: boolean;
  /** Status report period (ms). Default 1000. */
  readonly statusIntervalMs?: number;
  readonly warmup?: { readonly minMs: number; readonly maxMs: number };
  /** A model run, prepared beforehand (its ONNX session built): the run context and its evaluator. */
  readonly model?: { readonly ctx: RunContext; readonly evaluator: Evaluator };
}

const BASE_KINDS: readonly RecordKind[] = ['held', 'done', 'error'];
const DEBUG_KINDS: readonly RecordKind[] = ['start', 'commit', 'election', 'metric', 'done', 'reject', 'state', 'error', 'held', 'tree'];

/** Unix time in seconds with millisecond resolution, as events.jsonl lines carry it (comparable with Node peers' logs). */
const unixSeconds = (): number => Math.round(performance.timeOrigin + performance.now()) / 1000;

/** What a tab builds at most: 1 GiB and 30 s (estimated). */
const TAB_BUILD_LIMITS = { maxBytes: 1024 ** 3, maxSeconds: 30 } as const;

export class TabPeer implements EventSink {
  readonly ctx: RunContext;
  private readonly makeEvaluator: () => Evaluator;
  readonly link: MainThreadLink;
  readonly wants: ReadonlySet<RecordKind>;
  private readonly governor: CpuGovernor;
  /** Ed25519 with the tab's libp2p key (@noble/curves: there is no node:crypto in a worker). */
  private readonly identity: Identity;
  private readonly scheduler: WorkerScheduler;
  private readonly bcastTopic: string;
  private host: PeerHost | null = null;
  /** Where this tab computes, for its status reports (issue 17). */
  private device: StatusDevice | null = null;
  private evaluator: ThrottledEvaluator | null = null;
  private warmupTimer: ReturnType<typeof setTimeout> | null = null;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private state: SelfState = 'starting';
  private error: string | null = null;
  private held = new Set<number>();
  private roundsContributed = 0;
  private uplinksBefore = 0;
  private busyAtCommit = 0;
  private readonly busyPerRound = new RecentMean(20);
  private evaluateMs: RecentMean = new RecentMean(20);
  private records: TabRecord[] = [];
  private topicPeers = 0;
  private finishedAnnounced = false;
  private doneAt: number | null = null;
  private hosts = 0;

  constructor(private readonly init: TabPeerInit) {
    this.identity = new Ed25519Identity(init.secretKey);
    const a = init.announcement;
    // An announcement is untrusted: refuse a problem this tab could not build in reasonable time
    // and memory (estimated before building), with the reason in plain words. A resumed run syncs
    // to the launcher's checkpoint before any round opens.
    const resume = a.resume;
    const context =
      resume !== undefined ? { context: { resume: { ...resume, digest: Uint8Array.from(resume.digest.match(/../g) ?? [], (h) => parseInt(h, 16)) } } } : {};
    if (init.model !== undefined) {
      const model = init.model;
      this.ctx = model.ctx;
      this.makeEvaluator = () => model.evaluator;
    } else {
      const run = runFromManifest(a.manifest, {
        wallClock: () => Date.now(),
        ...context,
        limits: TAB_BUILD_LIMITS,
        limitsHint: 'a browser tab',
        readFile: (path) => {
          const text = a.files[path];
          if (text === undefined) throw new Error(`the problem file ${path} is not in the run's announcement`);
          return text;
        },
      });
      this.ctx = run.ctx;
      this.makeEvaluator = () => new ProblemEvaluator(run.problem);
    }
    this.bcastTopic = broadcastTopic(a.runId);
    this.link = new MainThreadLink(init.post, { broadcast: this.bcastTopic, status: statusTopic(a.runId) });
    this.wants = new Set(init.keepRecords ? DEBUG_KINDS : BASE_KINDS);
    this.governor = new CpuGovernor(init.cpuShare, () => performance.now(), this.ctx.timing.roundDeadlineMs / 2);
    this.scheduler = new WorkerScheduler(() => this.governor.run(() => this.host?.wake()));
  }

  get runId(): string {
    return this.init.announcement.runId;
  }

  /** The running host's engine (read-only use), or null while paused or stopped. */
  get engine(): MashaPeer | null {
    return this.host?.engine ?? null;
  }

  /** Starts a host (the first one, or a fresh one after a pause). */
  start(): void {
    if (this.host !== null || this.state === 'left' || this.state === 'done' || this.state === 'finished' || this.state === 'error') return;
    this.hosts++;
    const ctx = this.ctx;
    const evaluator = new ThrottledEvaluator(this.makeEvaluator(), this.governor, () => performance.now());
    this.evaluator = evaluator;
    this.evaluateMs = evaluator.evaluateMs;
    const host = new PeerHost(
      {
        id: this.init.self,
        ctx,
        role: 'volunteer',
        frameBytes: Math.min(this.init.announcement.manifest.network.frameBytes, this.init.maxFrameBytes),
        firstMessageId: crypto.getRandomValues(new Uint32Array(1))[0] & 0x7fffffff,
        // Keys which answers this tab audits when it aggregates: unpredictable to the holders.
        secret: crypto.getRandomValues(new Uint32Array(1))[0] * 2048 + (crypto.getRandomValues(new Uint32Array(1))[0] & 2047),
        statusIntervalMs: this.init.statusIntervalMs ?? 1000,
        immutableFrames: true,
        // A leaf of the relay trees (see the module comment).
        capacity: { upKbps: 0, leaf: true },
        token: this.init.token ? tokenFromText(this.init.token) : null,
        onAction: (a) => this.onAction(a),
        onError: (e) => {
          this.state = 'error';
          this.error = e.message;
          this.stopHost();
        },
      },
      { scheduler: this.scheduler, link: this.link, evaluator, identity: this.identity, events: this },
    );
    host.setDevice(this.device);
    this.host = host;
    this.held = new Set();
    this.state = 'starting';
    const anchor = this.lastAnchor ?? this.init.announcement.anchor ?? null;
    void host.done.then(() => {
      if (this.host !== host) return;
      this.state = 'done';
      this.doneAt = performance.now();
      this.scheduleLinger();
    });
    this.governor.run(() => {
      host.start({ engine: false });
      if (anchor !== null) host.anchor(anchor);
    });
    this.startEngineWhenReady(host);
  }

  private startEngineWhenReady(host: PeerHost): void {
    const { minMs, maxMs } = this.init.warmup ?? { minMs: 500, maxMs: 3_000 };
    const begin = performance.now();
    const poll = (): void => {
      this.warmupTimer = null;
      if (this.host !== host || host.isStopped) return;
      const waited = performance.now() - begin;
      if ((waited >= minMs && this.topicPeers > 0) || waited >= maxMs) {
        this.state = 'computing';
        this.record({ ev: 'engine-start', peer: this.init.self, waitedMs: Math.round(waited), topicPeers: this.topicPeers });
        this.governor.run(() => host.startEngine());
      } else {
        this.warmupTimer = setTimeout(poll, 50);
      }
    };
    poll();
  }

  private stopHost(): void {
    const h = this.host;
    this.host = null;
    if (h !== null) {
      this.uplinksBefore += h.counters['sent-uplink'] ?? 0;
      h.stop();
    }
    this.scheduler.cancel();
    this.evaluator?.cancel();
    if (this.warmupTimer !== null) clearTimeout(this.warmupTimer);
    this.warmupTimer = null;
    this.held = new Set();
  }

  /** Pause: stop computing (the swarm reassigns this tab's shards). */
  pause(): void {
    if (this.state === 'left' || this.state === 'done' || this.state === 'error' || this.state === 'paused') return;
    this.stopHost();
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'starting';
    this.start();
  }

  /** Leave for good (the page closes its node afterwards). */
  leave(): void {
    this.stopHost();
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.state = 'left';
  }

  setCpuShare(share: number): void {
    this.governor.setShare(share);
  }

  /** The launcher announced the run finished. */
  /** The launcher that first announced the run. */
  get launcher(): string {
    return this.init.announcement.launcher;
  }

  /** The launcher's epoch certificate chain (kept for a host started later, after a pause). */
  anchor(chain: Uint8Array): void {
    this.lastAnchor = chain;
    this.host?.anchor(chain);
  }

  private lastAnchor: Uint8Array | null = null;

  finished(): void {
    if (this.finishedAnnounced) return;
    this.finishedAnnounced = true;
    if (this.state === 'done') this.scheduleLinger();
    else if (this.state !== 'left' && this.state !== 'error') {
      this.stopHost();
      this.state = 'finished';
    }
  }

  private scheduleLinger(): void {
    if (this.doneAt === null) return;
    const lease = this.ctx.timing.leaseMs;
    const until = this.doneAt + (this.finishedAnnounced ? 2 * lease : 10 * lease);
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(
      () => {
        this.lingerTimer = null;
        this.host?.publishStatus();
        this.stopHost();
        this.state = 'finished';
      },
      Math.max(0, until - performance.now()),
    );
  }

  // ------------------------------------------------------------ from the main thread

  receive(via: FrameVia, from: string, bytes: Uint8Array): void {
    const h = this.host;
    if (h === null) return;
    if (via === 'tree') {
      this.governor.run(() => h.receiveRelayed(bytes, from));
      return;
    }
    const author = via === 'direct' || this.init.signedGossip ? from : undefined;
    this.governor.run(() => h.receive(bytes, author, via === 'direct' ? 'direct' : 'broadcast'));
  }

  peer(kind: 'connected' | 'disconnected', peer: string): void {
    const h = this.host;
    if (h === null) return;
    this.governor.run(() => (kind === 'connected' ? h.peerConnected(peer) : h.peerDisconnected(peer)));
  }

  /** The main thread's transport counters and how many peers follow the run's broadcast topic. */
  update(info: LinkInfo): void {
    this.link.update(info);
    this.topicPeers = info.topicPeers[this.bcastTopic] ?? 0;
  }

  // ------------------------------------------------------------ the host's records and actions

  record(r: HostRecord | { readonly ev: 'engine-start'; readonly peer: string; readonly waitedMs: number; readonly topicPeers: number }): void {
    if (r.ev === 'held') this.held = new Set(r.shards);
    if (this.init.keepRecords) this.records.push({ t: unixSeconds(), ...r });
  }

  private onAction(a: EngineAction): void {
    if (a.type !== 'commit') return;
    for (const s of a.included) {
      if (this.held.has(s)) {
        this.roundsContributed++;
        break;
      }
    }
    const busy = this.governor.busyMs;
    this.busyPerRound.add(busy - this.busyAtCommit);
    this.busyAtCommit = busy;
  }

  /** Records kept since the last call (debug). */
  takeRecords(): TabRecord[] {
    const out = this.records;
    this.records = [];
    return out;
  }

  /** Where this tab computes from now on (its status reports say so). */
  setDevice(device: StatusDevice | null): void {
    this.device = device;
    this.host?.setDevice(device);
  }

  view(): SelfView {
    const h = this.host;
    const snap = h?.engine.snapshot() ?? null;
    return {
      state: this.state,
      error: this.error,
      isAggregator: snap?.isAggregator ?? false,
      round: snap?.round ?? null,
      shardsHeld: [...this.held].sort((x, y) => x - y),
      roundsContributed: this.roundsContributed,
      uplinksSent: this.uplinksBefore + (h?.counters['sent-uplink'] ?? 0),
      computeMsPerRound: this.busyPerRound.value,
      evaluateMsPerRound: this.evaluateMs.value,
      cpuShare: this.governor.cpuShare,
      hosts: this.hosts,
    };
  }
}

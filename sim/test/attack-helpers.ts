/**
 * Attacks on the simulator with the real engines: honest peers are real `PeerHost`s (the one host
 * of every runtime) in the discrete-event swarm; a rogue is a real host too — so it follows the run
 * like any volunteer and can be elected — whose frames pass through a filter the test writes, plus
 * forged messages it injects. Like every simulated peer it holds only its own signer
 * (`SimKeyring.signerOf(id)`), so what it forges it can sign only as itself.
 */
import {
  decodeFrame,
  encodeFrames,
  ENGINE_CODEC,
  type MashaPeer,
  Reassembler,
  runFromManifest,
  SimKeyring,
  type EngineMessage,
  type Frame,
  type Manifest,
  type ManifestRun,
  type PeerId,
} from '@masha/protocol';
import { PeerHost } from '@masha/protocol/host';
import type { FrameLink, Identity, OutgoingMeta } from '@masha/protocol/ports';
import { peerBaseHash, rendezvousWeight } from '@masha/protocol/engine';
import { Swarm } from '../src/des/swarm.js';
import type { SimNode, SimPorts } from '../src/des/node.js';
import { SimEvaluator } from '../src/run/simulate.js';

/** What a rogue can do: see and rewrite its host's outgoing messages, inject its own. */
export interface RogueApi {
  readonly id: PeerId;
  readonly host: PeerHost;
  readonly identity: Identity;
  readonly run: ManifestRun;
  now(): number;
  send(to: PeerId, msg: EngineMessage): void;
  broadcast(msg: EngineMessage): void;
  message(kind: number, epoch: number, round: number, body: Uint8Array, phase?: number): EngineMessage;
  /** The honest peers' engines (read-only): a rogue as up to date as the best of them. */
  honest(): MashaPeer[];
}

export interface RogueBehaviour {
  /**
   * An outgoing message of the rogue's own engine: return the messages to send instead (the same
   * one to pass it on, [] to drop it).
   */
  outgoing?(api: RogueApi, msg: EngineMessage, to: PeerId | null): EngineMessage[];
  /** Called whenever the rogue wakes or receives (at most every `everyMs`). */
  tick?(api: RogueApi): void;
  /** Called for every message the rogue's host receives (before its engine handles it). */
  received?(api: RogueApi, msg: EngineMessage): void;
  readonly everyMs?: number;
}

function messageOf(frames: readonly Uint8Array[]): EngineMessage {
  const r = new Reassembler({ maxMessageBytes: 1 << 30 });
  for (const f of frames) {
    const m = r.accept(decodeFrame(f), 0);
    if (m !== null) return m;
  }
  throw new Error('frames did not make a message');
}

class Rogue implements SimNode {
  readonly host: PeerHost;
  private nextId = 1 << 30;
  private lastTick = Number.NEGATIVE_INFINITY;
  private readonly api: RogueApi;
  private readonly seen = new Reassembler({ maxMessageBytes: 1 << 30 });

  constructor(
    readonly id: PeerId,
    private readonly ports: SimPorts,
    run: ManifestRun,
    identity: Identity,
    private readonly behaviour: RogueBehaviour,
    honest: () => MashaPeer[],
  ) {
    const frameBytes = run.manifest.network.frameBytes;
    const link: FrameLink = {
      send: (to, frames, meta) => this.filter(frames, meta, to),
      broadcast: (frames, meta) => this.filter(frames, meta, null),
    };
    this.host = new PeerHost(
      { id, ctx: run.ctx, frameBytes, expireEveryMs: 0, onAction: (a) => a.type === 'done' && ports.done() },
      { scheduler: ports.scheduler, link, evaluator: new SimEvaluator(run.problem, ports.cpu), identity },
    );
    this.api = {
      id,
      host: this.host,
      identity,
      run,
      now: () => ports.scheduler.now(),
      send: (to, msg) => {
        const frames = encodeFrames(msg, { messageId: this.nextId++, frameSize: frameBytes });
        ports.link.send(to, frames, meta(msg, frames));
      },
      broadcast: (msg) => {
        const frames = encodeFrames(msg, { messageId: this.nextId++, frameSize: frameBytes });
        ports.link.broadcast(frames, meta(msg, frames));
      },
      message: (kind, epoch, round, body, phase = 0) => ({ kind, runId: run.runId, epoch, round, phase, sender: id, codec: ENGINE_CODEC, body }),
      honest,
    };
  }

  private filter(frames: readonly Uint8Array[], m: OutgoingMeta, to: PeerId | null): void {
    if (this.behaviour.outgoing === undefined) {
      if (to === null) this.ports.link.broadcast(frames, m);
      else this.ports.link.send(to, frames, m);
      return;
    }
    const msg = messageOf(frames);
    for (const out of this.behaviour.outgoing(this.api, msg, to)) {
      if (to === null) this.api.broadcast(out);
      else this.api.send(to, out);
    }
  }

  private maybeTick(): void {
    const now = this.ports.scheduler.now();
    if (this.behaviour.tick === undefined || now - this.lastTick < (this.behaviour.everyMs ?? 100)) return;
    this.lastTick = now;
    this.behaviour.tick(this.api);
  }

  start(): void {
    this.host.start();
  }
  stop(): void {
    this.host.stop();
  }
  wake(): void {
    this.host.wake();
    this.maybeTick();
  }
  receive(bytes: Uint8Array, from?: PeerId): void {
    this.host.receive(bytes, from);
  }
  receiveFrame(frame: Frame, size: number, from?: PeerId, shared?: { message: EngineMessage | null }): void {
    if (this.behaviour.received !== undefined) {
      try {
        const m = this.seen.accept(frame, this.ports.scheduler.now(), from);
        if (m !== null) this.behaviour.received(this.api, m);
      } catch {
        // not our business
      }
    }
    this.host.receiveFrame(frame, size, from, shared);
    this.maybeTick();
  }
  peerConnected(peer: PeerId): void {
    this.host.peerConnected(peer);
  }
  peerDisconnected(peer: PeerId): void {
    this.host.peerDisconnected(peer);
  }
}

function meta(m: EngineMessage, frames: readonly Uint8Array[]): OutgoingMeta {
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  return { kind: m.kind, epoch: m.epoch, round: m.round, phase: m.phase, bytes };
}

export interface AttackRun {
  readonly swarm: Swarm;
  readonly run: ManifestRun;
  readonly honest: Map<PeerId, PeerHost>;
  readonly rogues: Map<PeerId, Rogue>;
  readonly elections: { t: number; peer: PeerId; epoch: number; aggregator: PeerId }[];
  readonly commits: Map<PeerId, { t: number; epoch: number; round: number; digest: string }[]>;
  readonly counters: Map<string, number>;
  readonly errors: string[];
  /** Honest peers' engines. */
  engines(): MashaPeer[];
  allDone(): boolean;
}

/**
 * A swarm of honest peers `ids` and rogues (by id), all present from t = 0 on default links; runs
 * until every honest peer is done or `untilMs`.
 */
export function attackRun(manifest: Manifest, ids: readonly PeerId[], rogues: ReadonlyMap<PeerId, RogueBehaviour>, untilMs: number, seed = 1): AttackRun {
  const run = runFromManifest(manifest);
  const keyring = new SimKeyring(`attack:${seed}`);
  const honest = new Map<PeerId, PeerHost>();
  const rogueNodes = new Map<PeerId, Rogue>();
  const elections: AttackRun['elections'] = [];
  const commits: AttackRun['commits'] = new Map();
  const counters = new Map<string, number>();
  const errors: string[] = [];
  let swarmRef: Swarm | null = null;
  const swarm = new Swarm({
    seed,
    createNode: (id, ports) => {
      const rb = rogues.get(id);
      if (rb !== undefined) {
        const r = new Rogue(id, ports, run, keyring.signerOf(id), rb, () => [...honest.values()].map((h) => h.engine));
        rogueNodes.set(id, r);
        return r;
      }
      const list: { t: number; epoch: number; round: number; digest: string }[] = [];
      commits.set(id, list);
      const host = new PeerHost(
        {
          id,
          ctx: run.ctx,
          frameBytes: manifest.network.frameBytes,
          immutableFrames: true,
          expireEveryMs: 0,
          onError: (e) => errors.push(`${id}: ${e.message}`),
          onAction: (a) => {
            const now = (swarmRef as Swarm).now;
            if (a.type === 'election') elections.push({ t: now, peer: id, epoch: a.epoch, aggregator: a.aggregator });
            else if (a.type === 'commit') list.push({ t: now, epoch: a.epoch, round: a.round, digest: a.digest });
            else if (a.type === 'metric') counters.set(a.name, (counters.get(a.name) ?? 0) + a.value);
            else if (a.type === 'done') ports.done();
          },
        },
        { scheduler: ports.scheduler, link: ports.link, evaluator: new SimEvaluator(run.problem, ports.cpu), identity: keyring.signerOf(id) },
      );
      honest.set(id, host);
      return host;
    },
  });
  swarmRef = swarm;
  swarm.addInitialPeers([...ids, ...rogues.keys()]);
  const engines = (): MashaPeer[] => [...honest.values()].map((h) => h.engine);
  const allDone = (): boolean => engines().every((e) => e.snapshot().done !== null);
  swarm.run({ untilMs });
  return { swarm, run, honest, rogues: rogueNodes, elections, commits, counters, errors, engines, allDone };
}

/** A rogue id of the highest rendezvous weight for `epoch` among `ids` and the candidates tried (so it is elected first). */
export function topRogueId(runId: string, ids: readonly PeerId[], epoch = 1): PeerId {
  const best = Math.max(...ids.map((p) => rendezvousWeight(peerBaseHash(runId, p), epoch)));
  for (let i = 0; i < 100_000; i++) {
    const id = `rogue-${i}`;
    if (rendezvousWeight(peerBaseHash(runId, id), epoch) > best) return id;
  }
  throw new Error('no rogue id outranks the honest peers');
}

/** A rogue id of lower rendezvous weight than every honest peer for epochs 1 … `epochs` (so it is not elected there). */
export function bottomRogueId(runId: string, ids: readonly PeerId[], epochs = 4): PeerId {
  for (let i = 0; i < 100_000; i++) {
    const id = `rogue-${i}`;
    let ok = true;
    for (let e = 1; e <= epochs && ok; e++) {
      const w = rendezvousWeight(peerBaseHash(runId, id), e);
      if (ids.some((p) => rendezvousWeight(peerBaseHash(runId, p), e) < w)) ok = false;
    }
    if (ok) return id;
  }
  throw new Error('no rogue id ranks below the honest peers');
}

/**
 * What a node learns by listening: the runs announced on the swarm (`RunDirectory`, from the
 * `masha/runs/1` topic) and the status reports of a run's peers (`StatusBoard`, from the run's
 * status topic). Used by `masha join` (to find its run), `masha launch` (to follow progress) and
 * `masha status` (the live table).
 */
import type { SwarmTransport } from '../net/swarm-transport.js';
import { decodeStatus, decodeStatusQuery, encodeStatusQuery, isStatusQuery, StatusError, type PeerStatus } from '@masha/protocol/swarm';
import { RUNS_TOPIC, STATUS_STEADY_MS, statusTopic } from '@masha/protocol/swarm';
import { AnnouncementReader, type RunAnnouncement } from '@masha/protocol/swarm';

export interface KnownRun {
  announcement: RunAnnouncement;
  firstSeen: number;
  lastSeen: number;
}

function authorOf(transport: SwarmTransport, from: string): string | undefined {
  // With signed gossip `from` is the message's author; otherwise it is only the forwarder.
  return transport.node.gossip.signing === 'sign' ? from : undefined;
}

export class RunDirectory {
  private readonly reader = new AnnouncementReader(() => Date.now());
  private readonly known = new Map<string, KnownRun>();
  private readonly handlers = new Set<(a: RunAnnouncement) => void>();
  private off: (() => void) | null = null;
  private expiry: NodeJS.Timeout | null = null;

  constructor(
    private readonly transport: SwarmTransport,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  start(): this {
    if (this.off !== null) return this;
    this.off = this.transport.subscribe(RUNS_TOPIC, (from, frame) => {
      const now = this.clock();
      const a = this.reader.accept(frame, now, authorOf(this.transport, from));
      if (a === null) return;
      const k = this.known.get(a.runId);
      if (k === undefined) this.known.set(a.runId, { announcement: a, firstSeen: now, lastSeen: now });
      else {
        k.announcement = a;
        k.lastSeen = now;
      }
      for (const h of this.handlers) h(a);
    });
    this.expiry = setInterval(() => this.reader.expire(this.clock()), 5_000);
    this.expiry.unref();
    return this;
  }

  stop(): void {
    this.off?.();
    this.off = null;
    if (this.expiry !== null) clearInterval(this.expiry);
    this.expiry = null;
  }

  /** Refused announcement frames and bodies, by reason. */
  get rejected(): Readonly<Record<string, number>> {
    return this.reader.rejected;
  }

  runs(): KnownRun[] {
    return [...this.known.values()].sort((a, b) => a.firstSeen - b.firstSeen);
  }

  get(runId: string): KnownRun | undefined {
    return this.known.get(runId);
  }

  onRun(handler: (a: RunAnnouncement) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * Resolves with the first announcement `accept` takes (already known ones first); rejects with
   * `onTimeout()`'s error after `timeoutMs`, or with the signal's reason when aborted.
   */
  waitFor(accept: (a: RunAnnouncement) => boolean, timeoutMs: number, onTimeout: () => Error, signal?: AbortSignal): Promise<RunAnnouncement> {
    for (const k of this.runs()) if (accept(k.announcement)) return Promise.resolve(k.announcement);
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        off();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const off = this.onRun((a) => {
        if (!accept(a)) return;
        cleanup();
        resolve(a);
      });
      const timer = setTimeout(() => {
        cleanup();
        reject(onTimeout());
      }, timeoutMs);
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A peer counts as live while its last report is younger than this (ms): its steady report period and some. */
export const LIVE_WINDOW_MS = STATUS_STEADY_MS + 4_000;

export interface PeerEntry {
  readonly peer: string;
  status: PeerStatus;
  firstSeen: number;
  lastSeen: number;
}

/**
 * The latest status report of every peer of one run. Peers report every second while their place
 * in the run changes and every STATUS_STEADY_MS otherwise; a watcher that must see every peer soon
 * (`masha status`) asks with `query()`, and volunteers answer the queries they hear (`onQuery`).
 */
export class StatusBoard {
  private readonly entries = new Map<string, PeerEntry>();
  private readonly handlers = new Set<(e: PeerEntry, isNew: boolean) => void>();
  private readonly queryHandlers = new Set<() => void>();
  private queries = 0;
  private off: (() => void) | null = null;
  /** Reports refused (bad JSON, schema, another run, unknown author). */
  rejected = 0;

  constructor(
    private readonly transport: SwarmTransport,
    readonly runId: string,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  start(): this {
    if (this.off !== null) return this;
    this.off = this.transport.subscribe(statusTopic(this.runId), (from, data) => {
      const author = authorOf(this.transport, from);
      let status: PeerStatus;
      try {
        if (isStatusQuery(data)) {
          if (decodeStatusQuery(data).runId !== this.runId) this.rejected++;
          else for (const h of this.queryHandlers) h();
          return;
        }
        status = decodeStatus(data);
      } catch (e) {
        if (e instanceof StatusError) {
          this.rejected++;
          return;
        }
        throw e;
      }
      if (author === undefined || status.runId !== this.runId) {
        this.rejected++;
        return;
      }
      const now = this.clock();
      let e = this.entries.get(author);
      const isNew = e === undefined;
      if (e === undefined) {
        e = { peer: author, status, firstSeen: now, lastSeen: now };
        this.entries.set(author, e);
      } else {
        // Reports may arrive out of order: keep the newest.
        if (status.seq < e.status.seq) return;
        e.status = status;
        e.lastSeen = now;
      }
      for (const h of this.handlers) h(e, isNew);
    });
    return this;
  }

  stop(): void {
    this.off?.();
    this.off = null;
  }

  /** Asks every peer of the run to report at its next status tick (a status query on the topic). */
  query(): void {
    this.transport.publish(statusTopic(this.runId), encodeStatusQuery(this.runId, this.queries++)).catch(() => {});
  }

  /** Calls `handler` for every status query heard on the topic. */
  onQuery(handler: () => void): () => void {
    this.queryHandlers.add(handler);
    return () => this.queryHandlers.delete(handler);
  }

  onStatus(handler: (e: PeerEntry, isNew: boolean) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Whether `peer` has reported as a volunteer of this run. */
  isVolunteer(peer: string): boolean {
    return this.entries.get(peer)?.status.role === 'volunteer';
  }

  /** Every peer ever seen, in order of first report. */
  all(): PeerEntry[] {
    return [...this.entries.values()].sort((a, b) => a.firstSeen - b.firstSeen);
  }

  /** Peers heard from within `withinMs`. */
  live(withinMs: number): PeerEntry[] {
    const now = this.clock();
    return this.all().filter((e) => now - e.lastSeen <= withinMs);
  }
}

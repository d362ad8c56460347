/**
 * The browser's implementations of two of the engine host's ports (`@masha/protocol/ports`), on
 * the worker's side of the main-thread bridge:
 *
 * - `MainThreadLink` (FrameLink) sends a message's frames to one peer, relays a large broadcast's
 *   frames to a child in the relay trees (over WebRTC connections, like the uplink), broadcasts
 *   them on the run's topic and publishes status reports — by posting them to the main thread,
 *   which owns libp2p. A message's frames travel in one post, each frame's buffer in the transfer list
 *   (moved, not copied: the host hands frames over and never touches them again). `stats()`
 *   reports the main thread's transport counters, which arrive with every `net` message.
 * - `WorkerScheduler` (Scheduler): `performance.now()` and one pending `setTimeout` for the host's
 *   next deadline (`wakeAt` replaces the previous one; `wakeAt(Infinity)` cancels it — a
 *   setTimeout of Infinity would fire at once).
 */
import type { FrameLink, LinkStats, OutgoingMeta, RelayMeta, Scheduler } from '@masha/protocol/ports';
import { frameBuffer, type FromWorker, type LinkInfo } from '../worker-protocol.js';

export type Post = (msg: FromWorker, transfer?: Transferable[]) => void;

function buffers(frames: readonly Uint8Array[]): ArrayBuffer[] {
  return frames.map(frameBuffer);
}

export class MainThreadLink implements FrameLink {
  private info: LinkInfo | null = null;
  /** Called with every status report this link publishes (the worker shows its own report too). */
  onStatus: ((report: Uint8Array) => void) | null = null;

  constructor(
    private readonly post: Post,
    private readonly topics: { readonly broadcast: string; readonly status: string },
  ) {}

  /** A message's frames to one peer over the direct uplink protocol. The frames' buffers are handed over. */
  send(peer: string, frames: readonly Uint8Array[], _meta?: OutgoingMeta): void {
    const bytes = buffers(frames);
    this.post({ type: 'send', peer, frames: bytes }, bytes);
  }

  /** Frames of a relayed broadcast to one peer over the tree protocol. The frames' buffers are handed over. */
  relay(peer: string, frames: readonly Uint8Array[], _meta?: RelayMeta): void {
    // A relay forwards the same frame to several children and keeps it to serve repairs: post copies.
    const bytes = frames.map((f) => f.slice().buffer);
    this.post({ type: 'relay', peer, frames: bytes }, bytes);
  }

  /** A message's frames to every peer of the run (its broadcast topic). */
  broadcast(frames: readonly Uint8Array[], _meta?: OutgoingMeta): void {
    const bytes = buffers(frames);
    this.post({ type: 'publish', topic: this.topics.broadcast, frames: bytes }, bytes);
  }

  /** A status report (encodeStatus bytes) for the run's status topic. */
  publishStatus(report: Uint8Array): void {
    this.onStatus?.(report);
    const bytes = frameBuffer(report);
    this.post({ type: 'publish', topic: this.topics.status, frames: [bytes] }, [bytes]);
  }

  /** The main thread's latest transport counters. */
  update(info: LinkInfo): void {
    this.info = info;
  }

  stats(): LinkStats {
    const i = this.info;
    return {
      wireSent: i?.wireSent ?? 0,
      wireReceived: i?.wireReceived ?? 0,
      refused: i?.refused ?? 0,
      counters: {
        'net-send-failed': i?.sendFailed ?? 0,
        'net-publish-failed': i?.publishFailed ?? 0,
        'net-relay-failed': i?.relayFailed ?? 0,
        'net-transport-refused': i?.refused ?? 0,
        'net-uplink-stream-bytes': i?.uplinkStreamBytes ?? 0,
        'net-gossip-stream-bytes': i?.gossipStreamBytes ?? 0,
        'net-tree-stream-bytes': i?.treeStreamBytes ?? 0,
        'net-webrtc-links': i?.webrtcLinks ?? 0,
      },
    };
  }
}

/** The host's clock and its one timer, on the worker's own timers. */
export class WorkerScheduler implements Scheduler {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly onWake: () => void) {}

  /** Milliseconds on a monotonic clock. */
  now(): number {
    return performance.now();
  }

  /** Calls `onWake` once at (or soon after) time `t` of `now()`; replaces any earlier wake-up; Infinity cancels. */
  wakeAt(t: number): void {
    this.cancel();
    if (t === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.onWake();
      },
      Math.max(0, t - this.now()),
    );
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

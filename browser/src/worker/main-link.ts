/**
 * The worker's side of the main-thread bridge: what the engine host's ports will be built on.
 *
 * - `MainThreadLink` sends frames to one peer, broadcasts them on the run's topic and publishes
 *   status reports — by posting them to the main thread, which owns libp2p. Each frame's buffer
 *   goes in the transfer list (moved, not copied).
 * - `WorkerClock` is a monotonic clock with one pending wake-up (`wakeAt` replaces the previous
 *   one): the scheduler a host needs, on the worker's own timers.
 */
import { frameBuffer, type FromWorker } from '../worker-protocol.js';

export type Post = (msg: FromWorker, transfer?: Transferable[]) => void;

export class MainThreadLink {
  constructor(private readonly post: Post) {}

  /** A frame to one peer over the direct uplink protocol. The frame's buffer is handed over. */
  send(peer: string, frame: Uint8Array): void {
    const bytes = frameBuffer(frame);
    this.post({ type: 'send', peer, bytes }, [bytes]);
  }

  /** A frame to every peer of the run (its broadcast topic). */
  broadcast(frame: Uint8Array): void {
    const bytes = frameBuffer(frame);
    this.post({ type: 'broadcast', bytes }, [bytes]);
  }

  /** A status report (encodeStatus bytes) for the run's status topic. */
  publishStatus(report: Uint8Array): void {
    const bytes = frameBuffer(report);
    this.post({ type: 'status-report', bytes }, [bytes]);
  }

  subscribe(topics: readonly string[]): void {
    this.post({ type: 'subscribe', topics });
  }
}

export class WorkerClock {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly onWake: () => void) {}

  /** Milliseconds on a monotonic clock. */
  now(): number {
    return performance.now();
  }

  /** Calls `onWake` once at (or soon after) time `t` of `now()`; replaces any earlier wake-up. */
  wakeAt(t: number): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onWake();
    }, Math.max(0, t - this.now()));
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * `?debug=1`: a small API on `globalThis.masha` for tests, benchmarks and people debugging the
 * page from the console. Loaded as its own chunk only when asked for, so the page's JavaScript
 * does not carry it.
 *
 * - `connections(peer?)`: the node's connections (remote address, limited = relayed, peer, the
 *   protocols of its open streams).
 * - `webrtcAddress()`: this tab's `/p2p-circuit/webrtc` address, once its relay reservation exists.
 * - `dial(addr, timeoutMs)`: dials a multiaddr; resolves with the connection's address, whether
 *   it is limited, and the time taken — or the error's message.
 * - `hangUp(peer)`: closes every connection to a peer.
 * - `sendFrames(peer, totalBytes, frameBytes)`: sends `totalBytes` as frames over the direct
 *   uplink protocol; resolves with when it started (epoch ms) and how long the writes took.
 * - `received()`: frames and bytes received on the uplink protocol so far; `waitReceived(bytes)`
 *   resolves with the time (epoch ms, `performance.timeOrigin + performance.now()`, comparable
 *   between tabs of one machine) at which that many bytes in all had arrived.
 * - `links()`: the transport's frame counts that say which paths the run's traffic took: the relay
 *   trees' frames per peer and kind of connection (`webrtc`, `relayed`, `direct`), the tree
 *   channel's totals, and gossip frames published and delivered per topic.
 * - `rawDataChannel(totalBytes, chunkBytes)`: the same volume through a plain RTCDataChannel
 *   between two RTCPeerConnections of this page (no libp2p) — the benchmark's baseline.
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { FrameCount, SwarmTransport, TreeLinkCount } from '@masha/node/swarm-net';

export interface ConnInfo {
  readonly peer: string;
  readonly addr: string;
  readonly limited: boolean;
  /** Protocols of the connection's open streams (e.g. `/masha/uplink/1.0.0`, `/meshsub/1.1.0`). */
  readonly streams: readonly string[];
}

/** `links()`: which paths frames took (see the module comment). */
export interface LinkCounts {
  readonly treeLinks: readonly TreeLinkCount[];
  readonly treeSent: FrameCount;
  readonly treeReceived: FrameCount;
  readonly published: Readonly<Record<string, FrameCount>>;
  readonly delivered: Readonly<Record<string, FrameCount>>;
}

export type DialResult =
  | { readonly ok: true; readonly addr: string; readonly limited: boolean; readonly ms: number }
  | { readonly ok: false; readonly error: string; readonly ms: number };

function fill(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function debugApi(t: SwarmTransport) {
  let frames = 0;
  let bytes = 0;
  const waiters: Array<{ bytes: number; resolve: (t: number) => void }> = [];
  const epochMs = (): number => performance.timeOrigin + performance.now();
  t.onDirect((_from, frame) => {
    frames++;
    bytes += frame.byteLength;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (bytes >= waiters[i].bytes) {
        waiters[i].resolve(epochMs());
        waiters.splice(i, 1);
      }
    }
  });
  const libp2p = t.node.libp2p;
  return {
    self: t.self,
    connections(peer?: string): ConnInfo[] {
      return libp2p
        .getConnections()
        .filter((c) => peer === undefined || c.remotePeer.toString() === peer)
        .map((c) => ({
          peer: c.remotePeer.toString(),
          addr: c.remoteAddr.toString(),
          limited: c.limits !== undefined,
          streams: c.streams.map((s) => s.protocol ?? '').filter((p) => p !== ''),
        }));
    },
    links(): LinkCounts {
      const c = t.counters();
      return { treeLinks: c.treeLinks, treeSent: c.treeSent, treeReceived: c.treeReceived, published: c.published, delivered: c.delivered };
    },
    webrtcAddress(): string | null {
      return t.node.multiaddrs().find((m) => m.includes('/p2p-circuit/webrtc/')) ?? null;
    },
    async dial(addr: string, timeoutMs: number): Promise<DialResult> {
      const t0 = performance.now();
      try {
        const c = await libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(timeoutMs) });
        return { ok: true, addr: c.remoteAddr.toString(), limited: c.limits !== undefined, ms: performance.now() - t0 };
      } catch (e) {
        return { ok: false, error: (e as Error).message, ms: performance.now() - t0 };
      }
    },
    async hangUp(peer: string): Promise<void> {
      await Promise.all(
        libp2p
          .getConnections()
          .filter((c) => c.remotePeer.toString() === peer)
          .map((c) => c.close().catch(() => c.abort(new Error('hang up')))),
      );
    },
    async sendFrames(peer: string, totalBytes: number, frameBytes: number): Promise<{ startedAt: number; ms: number }> {
      const payload = fill(totalBytes, 7);
      const startedAt = epochMs();
      const t0 = performance.now();
      const sends: Array<Promise<void>> = [];
      for (let off = 0; off < totalBytes; off += frameBytes) sends.push(t.sendDirect(peer, payload.subarray(off, Math.min(totalBytes, off + frameBytes))));
      await Promise.all(sends);
      return { startedAt, ms: performance.now() - t0 };
    },
    received(): { frames: number; bytes: number } {
      return { frames, bytes };
    },
    waitReceived(total: number, timeoutMs: number): Promise<number> {
      if (bytes >= total) return Promise.resolve(epochMs());
      return new Promise((resolve, reject) => {
        const w = { bytes: total, resolve };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`received ${bytes} of ${total} bytes within ${timeoutMs} ms`));
          }
        }, timeoutMs);
      });
    },
    rawDataChannel,
  };
}

/** Milliseconds to move `totalBytes` in `chunkBytes` messages over a plain RTCDataChannel pair in this page. */
async function rawDataChannel(totalBytes: number, chunkBytes: number): Promise<number> {
  const a = new RTCPeerConnection({ iceServers: [] });
  const b = new RTCPeerConnection({ iceServers: [] });
  try {
    a.onicecandidate = (e) => e.candidate && void b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && void a.addIceCandidate(e.candidate);
    const ch = a.createDataChannel('bench', { ordered: true });
    ch.binaryType = 'arraybuffer';
    const inbound = new Promise<RTCDataChannel>((res) => {
      b.ondatachannel = (e) => res(e.channel);
    });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription!);
    const rx = await inbound;
    if (ch.readyState !== 'open') await new Promise((r) => ch.addEventListener('open', r, { once: true }));
    const payload = fill(totalBytes, 9);
    let got = 0;
    const done = new Promise<number>((res) => {
      rx.onmessage = (e: MessageEvent<ArrayBuffer>) => {
        got += e.data.byteLength;
        if (got >= totalBytes) res(performance.now());
      };
    });
    // Same flow control as libp2p's WebRTC streams: wait for the buffer to drain below a mark.
    ch.bufferedAmountLowThreshold = 256 * 1024;
    const t0 = performance.now();
    for (let off = 0; off < totalBytes; off += chunkBytes) {
      if (ch.bufferedAmount > 1024 * 1024) await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
      ch.send(payload.subarray(off, Math.min(totalBytes, off + chunkBytes)));
    }
    return (await done) - t0;
  } finally {
    a.close();
    b.close();
  }
}

export type DebugApi = ReturnType<typeof debugApi>;

/** Shared helpers of the net-*.test.ts files: loopback swarms that always get stopped. */
import { createHash } from 'node:crypto';
import { Rng } from '@masha/protocol/rng';
import { createMashaNode, createSwarmTransport, startRelay } from '../src/net/index.js';
import type { MashaNodeOptions, RelayNode, SwarmTransport } from '../src/net/index.js';

/** Fast settings for loopback tests: 100 ms heartbeats, discovery every 200 ms. */
export const FAST: MashaNodeOptions = {
  gossip: { heartbeatMs: 100 },
  discovery: { intervalMs: 200 },
  bootstrapTimeoutMs: 20_000,
};

export interface TestSwarm {
  readonly relay: RelayNode;
  readonly peers: SwarmTransport[];
  stop(): Promise<void>;
}

export async function startSwarm(n: number, opts: MashaNodeOptions = {}): Promise<TestSwarm> {
  const relay = await startRelay({ gossip: { heartbeatMs: 100 } });
  const peers: SwarmTransport[] = [];
  const stop = async (): Promise<void> => {
    await Promise.allSettled(peers.map((p) => p.close()));
    await relay.stop();
  };
  try {
    for (let i = 0; i < n; i++) {
      peers.push(await createSwarmTransport(await createMashaNode({ ...FAST, ...opts, bootstrap: relay.multiaddrs })));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { relay, peers, stop };
}

/** Polls `cond` every 25 ms; rejects with `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed, 0x5eed, 0xb17e5, 0xf4a3e);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.nextU32();
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Splits a payload into frames of at most `frameBytes`: an 8-byte header (index u32, count u32)
 * then a slice of the payload. A stand-in for the protocol's frame codec in transport tests.
 */
export function toFrames(payload: Uint8Array, frameBytes: number): Uint8Array[] {
  const body = frameBytes - 8;
  const count = Math.ceil(payload.byteLength / body);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const slice = payload.subarray(i * body, Math.min(payload.byteLength, (i + 1) * body));
    const f = new Uint8Array(8 + slice.byteLength);
    const dv = new DataView(f.buffer);
    dv.setUint32(0, i, false);
    dv.setUint32(4, count, false);
    f.set(slice, 8);
    frames.push(f);
  }
  return frames;
}

/** Collects frames by index; `payload()` once all arrived. */
export class FrameCollector {
  private readonly parts = new Map<number, Uint8Array>();
  private count = -1;

  add(frame: Uint8Array): void {
    const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    this.count = dv.getUint32(4, false);
    this.parts.set(dv.getUint32(0, false), frame.slice(8));
  }

  get complete(): boolean {
    return this.count >= 0 && this.parts.size === this.count;
  }

  payload(): Uint8Array {
    const chunks = [...this.parts.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
    const out = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

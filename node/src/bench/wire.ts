/**
 * Wire overhead of the two data paths, measured in isolation (two nodes on loopback, nothing else
 * on the connection but libp2p's own keep-alive): a device sends engine-sized messages to the
 * aggregator over the direct uplink stream, and the aggregator publishes them on a gossipsub
 * topic with one subscriber. Reported: the sender's transport-level bytes (TCP payload: frames,
 * length prefixes or gossipsub RPC framing and signatures, yamux and noise) over the message
 * bodies. Messages are cut into protocol frames exactly as the driver does.
 */
import { encodeFrames } from '@masha/protocol';
import type { BenchResult } from './row.js';
import { connectSwarm } from '../launcher/connect.js';
import { parseAddress } from '../net/create-node.js';
import { startRelay } from '../net/relay.js';

const RUN = 'e'.repeat(64);

function body(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface WireOverhead {
  readonly bodyBytes: number;
  readonly directWire: number;
  readonly gossipWire: number;
}

/** Sends `messages` bodies of `bodyBytes` each both ways and returns the sender's wire bytes per path. */
export async function measureWireOverhead(bodyBytes: number, messages: number, frameBytes = 64 * 1024): Promise<WireOverhead> {
  const relay = await startRelay({ discovery: false });
  const a = await connectSwarm({ relays: relay.multiaddrs, node: { webrtc: false, discovery: false } });
  const b = await connectSwarm({ relays: relay.multiaddrs, node: { webrtc: false, discovery: false } });
  try {
    await a.node.libp2p.dial(parseAddress(b.node.multiaddrs().find((m) => m.includes('/tcp/') && !m.includes('/ws')) ?? b.node.multiaddrs()[0]));
    const topic = `masha/run/${RUN}/bcast`;
    let got = 0;
    b.onDirect(() => got++);
    b.subscribe(topic, () => got++);
    a.subscribe(topic, () => {});
    await until(() => a.topicPeers(topic).includes(b.self), 20_000, 'the gossip mesh');
    await new Promise((r) => setTimeout(r, 1_000));
    const frames = (i: number): Uint8Array[] =>
      encodeFrames(
        { kind: 4, runId: RUN, epoch: 1, round: i + 1, phase: 1, sender: a.self, codec: 1, body: body(bodyBytes, i + 1) },
        { frameSize: frameBytes, messageId: i },
      );
    const sent = (): number => a.counters().wire.connections.sent;
    // Direct stream.
    let before = sent();
    let expected = 0;
    for (let i = 0; i < messages; i++) {
      const fs = frames(i);
      expected += fs.length;
      for (const f of fs) await a.sendDirect(b.self, f);
    }
    await until(() => got >= expected, 60_000, 'the direct frames');
    const directWire = sent() - before;
    // Gossip, one subscriber (the relay follows the topic too: count only what went to b).
    got = 0;
    expected = 0;
    before = sent();
    for (let i = 0; i < messages; i++) {
      const fs = frames(messages + i);
      expected += fs.length;
      for (const f of fs) await a.publish(topic, f);
    }
    await until(() => got >= expected, 60_000, 'the gossip frames');
    await new Promise((r) => setTimeout(r, 500));
    // The relay follows the topic too: the bytes went to every topic peer, so charge each its share.
    const copies = a.topicPeers(topic).length;
    const gossipWire = (sent() - before) / Math.max(1, copies);
    return { bodyBytes: bodyBytes * messages, directWire, gossipWire };
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
    await relay.stop();
  }
}

export async function wireBenchmarks(d: number, include: (name: string) => boolean): Promise<BenchResult[]> {
  const name = (path: string): string =>
    `wire/${path}: bytes on the wire over payload bytes (d=${d === 1_000_000 ? '1e6' : d} identity uplink bodies, 64 KiB frames; target ≤ 1.10)`;
  const wanted = [name('uplink direct stream'), name('broadcast gossipsub per receiver')];
  if (!wanted.some(include)) return [];
  const m = await measureWireOverhead(4 * d + 64, 5);
  process.stderr.write(`bench wire: direct ${(m.directWire / m.bodyBytes).toFixed(4)}, gossip per receiver ${(m.gossipWire / m.bodyBytes).toFixed(4)}\n`);
  const out: BenchResult[] = [];
  const row = (n: string, v: number): BenchResult => ({
    name: n,
    value: v,
    unit: 'bytes',
    baseline: m.bodyBytes,
    baselineName: 'payload bytes',
    ratio: v / m.bodyBytes,
  });
  if (include(wanted[0])) out.push(row(wanted[0], m.directWire));
  if (include(wanted[1])) out.push(row(wanted[1], m.gossipWire));
  return out;
}

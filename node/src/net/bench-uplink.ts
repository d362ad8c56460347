/**
 * Transport measurements on loopback (run after building: `npx node node/dist/net/bench-uplink.js`).
 *
 * 1. Uplink: 8 senders each send a 1 MiB message, as 64 KiB frames, to one aggregator per round,
 *    (a) by publishing on a gossipsub topic only the aggregator subscribes to, and (b) over direct
 *    `/masha/uplink/1.0.0` streams. Both gossip signing policies. Reported: ms per round (first
 *    frame sent → last frame received), wire bytes (all nodes' TCP bytes sent, relay included)
 *    and the aggregator's received wire bytes over the payload bytes.
 * 2. Broadcast: the aggregator publishes 1 MiB (64 KiB frames) to swarms of 4, 8 and 16 peers
 *    (aggregator included) plus the relay, with flood publish off and on. Reported: the
 *    aggregator's upload per broadcast in bytes and in payload copies, the whole swarm's bytes,
 *    and ms until every peer holds every frame.
 *
 * Prints one JSON document on stdout; progress on stderr. Options: --rounds N (default 5),
 * --quick (2 rounds, sizes 4 and 8 only), --only uplink|broadcast, --sizes 4,8,16,
 * --mesh D,Dlo,Dhi[,Dlazy,gossipFactor] (gossip degrees; default: the node defaults).
 */
import { performance } from 'node:perf_hooks';
import { createMashaNode } from './create-node.js';
import type { MashaNodeOptions } from './create-node.js';
import type { GossipTuning } from './gossip-config.js';
import { createSwarmTransport } from './swarm-transport.js';
import type { SwarmTransport } from './swarm-transport.js';
import { startRelay } from './relay.js';
import type { RelayNode } from './relay.js';

const FRAME = 64 * 1024;
const MESSAGE = 1024 * 1024;
const HEADER = 12;

interface Swarm {
  relay: RelayNode;
  peers: SwarmTransport[];
  stop(): Promise<void>;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function startSwarm(n: number, gossip: Partial<GossipTuning>): Promise<Swarm> {
  const relay = await startRelay({ gossip });
  const peers: SwarmTransport[] = [];
  const opts: MashaNodeOptions = { gossip, discovery: { intervalMs: 1000 }, bootstrap: relay.multiaddrs, bootstrapTimeoutMs: 30_000, webrtc: false };
  try {
    for (let i = 0; i < n; i++) peers.push(await createSwarmTransport(await createMashaNode(opts)));
    // Enough connectivity for a mesh (Dlo + 1 peers each, relay included; everyone in small swarms).
    const want = Math.min(n, (gossip.Dlo ?? 4) + 1);
    await waitFor(() => peers.every((p) => p.connectedPeers().length >= want), 60_000, `a ${n}-peer swarm`).catch((err: Error) => {
      throw new Error(`${err.message}: peers connected to ${peers.map((p) => p.connectedPeers().length).join(',')}`);
    });
  } catch (err) {
    await Promise.allSettled(peers.map((p) => p.close()));
    await relay.stop();
    throw err;
  }
  return {
    relay,
    peers,
    stop: async () => {
      await Promise.allSettled(peers.map((p) => p.close()));
      await relay.stop();
    },
  };
}

/** 1 MiB message of `tag` as frames: [tag u32][index u32][count u32][payload slice]. */
function messageFrames(tag: number): Uint8Array[] {
  const body = FRAME - HEADER;
  const count = Math.ceil(MESSAGE / body);
  const frames: Uint8Array[] = [];
  let x = (tag * 2654435761) >>> 0;
  for (let i = 0; i < count; i++) {
    const len = Math.min(body, MESSAGE - i * body);
    const f = new Uint8Array(HEADER + len);
    const dv = new DataView(f.buffer);
    dv.setUint32(0, tag, false);
    dv.setUint32(4, i, false);
    dv.setUint32(8, count, false);
    for (let k = HEADER; k < f.length; k += 4) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x297a2d39) >>> 0;
      f[k] = x;
      if (k + 1 < f.length) f[k + 1] = x >>> 8;
      if (k + 2 < f.length) f[k + 2] = x >>> 16;
      if (k + 3 < f.length) f[k + 3] = x >>> 24;
    }
    frames.push(f);
  }
  return frames;
}

const FRAMES_PER_MESSAGE = messageFrames(0).length;
const PAYLOAD_WITH_HEADERS = messageFrames(0).reduce((s, f) => s + f.byteLength, 0);

function wireSent(nodes: Array<{ counters(): { wire: { connections: { sent: number } } } }>): number {
  return nodes.reduce((s, n) => s + n.counters().wire.connections.sent, 0);
}

function relayWire(relay: RelayNode): { sent: number; received: number } {
  return relay.node.meter.snapshot().connections;
}

function mean(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

interface UplinkResult {
  mode: 'gossip-topic' | 'direct-stream';
  signing: GossipTuning['signing'];
  senders: number;
  rounds: number;
  msPerRound: { mean: number; min: number; max: number };
  payloadBytesPerRound: number;
  wireBytesPerRound: number;
  aggregatorWireReceivedPerRound: number;
  wireOverPayload: number;
}

async function uplinkBench(signing: GossipTuning['signing'], rounds: number, mesh: Partial<GossipTuning>): Promise<UplinkResult[]> {
  const senders = 8;
  log(`uplink: starting relay + aggregator + ${senders} senders (signing ${signing})`);
  const swarm = await startSwarm(senders + 1, { ...mesh, signing });
  const [agg, ...rest] = swarm.peers as [SwarmTransport, ...SwarmTransport[]];
  const topic = 'masha/bench/uplink/agg';
  let received = 0;
  agg.subscribe(topic, () => {
    received++;
  });
  agg.onDirect(() => {
    received++;
  });
  const results: UplinkResult[] = [];
  try {
    await waitFor(() => rest.every((s) => s.topicPeers(topic).includes(agg.self)), 10_000, 'senders to see the uplink topic');
    let tag = signing === 'sign' ? 1 : 100_000;
    for (const mode of ['gossip-topic', 'direct-stream'] as const) {
      const times: number[] = [];
      const wire: number[] = [];
      const aggRx: number[] = [];
      for (let r = -1; r < rounds; r++) {
        const msgs = rest.map(() => messageFrames(tag++));
        received = 0;
        const all = [...swarm.peers];
        const w0 = wireSent(all) + relayWire(swarm.relay).sent;
        const a0 = agg.counters().wire.connections.received;
        const t0 = performance.now();
        await Promise.all(
          rest.map(async (s, i) => {
            for (const f of msgs[i]) {
              if (mode === 'gossip-topic') await s.publish(topic, f);
              else await s.sendDirect(agg.self, f);
            }
          }),
        );
        await waitFor(() => received >= senders * FRAMES_PER_MESSAGE, 30_000, `round ${r} of ${mode}`);
        const t1 = performance.now();
        // Let trailing control traffic (IDONTWANT, acks) land before reading the counters.
        await sleep(50);
        if (r < 0) continue; // warm-up round: streams opened, JIT warm
        times.push(t1 - t0);
        wire.push(wireSent(all) + relayWire(swarm.relay).sent - w0);
        aggRx.push(agg.counters().wire.connections.received - a0);
      }
      const payload = senders * MESSAGE;
      results.push({
        mode,
        signing,
        senders,
        rounds,
        msPerRound: { mean: round3(mean(times)), min: round3(Math.min(...times)), max: round3(Math.max(...times)) },
        payloadBytesPerRound: payload,
        wireBytesPerRound: Math.round(mean(wire)),
        aggregatorWireReceivedPerRound: Math.round(mean(aggRx)),
        wireOverPayload: round3(mean(aggRx) / payload),
      });
      log(`  ${mode}: ${round3(mean(times))} ms/round, aggregator rx ${Math.round(mean(aggRx))} B (x${round3(mean(aggRx) / payload)})`);
    }
  } finally {
    await swarm.stop();
  }
  return results;
}

interface BroadcastResult {
  peers: number;
  floodPublish: boolean;
  broadcasts: number;
  aggregatorUploadPerBroadcast: number;
  aggregatorUploadCopies: number;
  relayUploadPerBroadcast: number;
  swarmWirePerBroadcast: number;
  msToAllPeers: number;
}

async function broadcastBench(n: number, floodPublish: boolean, broadcasts: number, mesh: Partial<GossipTuning>): Promise<BroadcastResult> {
  log(`broadcast: relay + ${n} peers, flood publish ${floodPublish ? 'on' : 'off'}`);
  const swarm = await startSwarm(n, { ...mesh, floodPublish });
  const [agg, ...rest] = swarm.peers as [SwarmTransport, ...SwarmTransport[]];
  const topic = 'masha/bench/bcast';
  const got = rest.map(() => 0);
  rest.forEach((p, i) =>
    p.subscribe(topic, () => {
      got[i]++;
    }),
  );
  agg.subscribe(topic, () => {});
  try {
    const want = Math.min(n, (mesh.Dlo ?? 4) + 1);
    await waitFor(() => swarm.peers.every((p) => p.topicPeers(topic).length >= want), 20_000, 'topic membership');
    // Let a few heartbeats build and balance the mesh.
    await sleep(4 * 700);
    const up: number[] = [];
    const relayUp: number[] = [];
    const total: number[] = [];
    const times: number[] = [];
    for (let b = -1; b < broadcasts; b++) {
      const frames = messageFrames(1_000_000 + n * 1000 + (floodPublish ? 500 : 0) + b + 1);
      got.fill(0);
      const a0 = agg.counters().wire.connections.sent;
      const r0 = relayWire(swarm.relay).sent;
      const w0 = wireSent(swarm.peers) + r0;
      const t0 = performance.now();
      for (const f of frames) await agg.publish(topic, f);
      await waitFor(() => got.every((g) => g >= frames.length), 30_000, 'broadcast delivery').catch((err: Error) => {
        throw new Error(`${err.message}: frames per peer ${got.join(',')} of ${frames.length}`);
      });
      const t1 = performance.now();
      await sleep(100);
      if (b < 0) continue;
      up.push(agg.counters().wire.connections.sent - a0);
      relayUp.push(relayWire(swarm.relay).sent - r0);
      total.push(wireSent(swarm.peers) + relayWire(swarm.relay).sent - w0);
      times.push(t1 - t0);
    }
    const res: BroadcastResult = {
      peers: n,
      floodPublish,
      broadcasts,
      aggregatorUploadPerBroadcast: Math.round(mean(up)),
      aggregatorUploadCopies: round3(mean(up) / PAYLOAD_WITH_HEADERS),
      relayUploadPerBroadcast: Math.round(mean(relayUp)),
      swarmWirePerBroadcast: Math.round(mean(total)),
      msToAllPeers: round3(mean(times)),
    };
    log(`  aggregator upload ${res.aggregatorUploadPerBroadcast} B = ${res.aggregatorUploadCopies} copies, ${res.msToAllPeers} ms`);
    return res;
  } finally {
    await swarm.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const ri = args.indexOf('--rounds');
  const rounds = ri >= 0 ? Number(args[ri + 1]) : quick ? 2 : 5;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const si = args.indexOf('--sizes');
  const sizes = si >= 0 ? args[si + 1].split(',').map(Number) : quick ? [4, 8] : [4, 8, 16];
  const oi = args.indexOf('--only');
  const only = oi >= 0 ? args[oi + 1] : undefined;
  const mi = args.indexOf('--mesh');
  let mesh: Partial<GossipTuning> = {};
  if (mi >= 0) {
    const [D, Dlo, Dhi, Dlazy, gossipFactor] = args[mi + 1].split(',').map(Number);
    mesh = { D: D, Dlo: Dlo, Dhi: Dhi, ...(Dlazy !== undefined ? { Dlazy } : {}), ...(gossipFactor !== undefined ? { gossipFactor } : {}) };
  }

  // A case that fails (e.g. a swarm that does not form in time on a starved machine) is recorded
  // with its error and the run goes on.
  const attempt = async <T>(label: string, fn: () => Promise<T>): Promise<T | { case: string; error: string }> => {
    try {
      return await fn();
    } catch (err) {
      log(`  ${label} failed: ${(err as Error).message}`);
      return { case: label, error: (err as Error).message };
    }
  };
  const uplink: Array<UplinkResult | { case: string; error: string }> = [];
  if (only !== 'broadcast') {
    for (const signing of ['sign', 'no-sign'] as const) {
      const r = await attempt(`uplink ${signing}`, () => uplinkBench(signing, rounds, mesh));
      if (Array.isArray(r)) uplink.push(...r);
      else uplink.push(r);
    }
  }
  const broadcast: Array<BroadcastResult | { case: string; error: string }> = [];
  if (only !== 'uplink') {
    for (const flood of [false, true]) {
      for (const n of sizes) broadcast.push(await attempt(`broadcast ${n} flood=${flood}`, () => broadcastBench(n, flood, rounds, mesh)));
    }
  }

  const doc = {
    bench: 'node/net bench-uplink',
    date: new Date().toISOString(),
    node: process.version,
    frameBytes: FRAME,
    messageBytes: MESSAGE,
    framesPerMessage: FRAMES_PER_MESSAGE,
    mesh,
    uplink,
    broadcast,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench-uplink failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

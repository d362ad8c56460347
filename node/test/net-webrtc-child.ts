/**
 * Child process of net-webrtc.test.ts (run from TypeScript sources, see net-ts-register.mjs).
 * WebRTC runs on libdatachannel threads (node-datachannel); a process that used it can abort in
 * native teardown when its host (a vitest worker) ends it, so the WebRTC scenarios run here and
 * print one JSON line of facts for the test to check, then exit.
 *
 *   direct: a peer with no listener dials one that listens only on WebRTC-direct, sends 1 MiB
 *           in 64 KiB frames over /masha/uplink/1.0.0.
 *   relay:  two peers known only to a circuit relay; one dials the other's /p2p-circuit/webrtc
 *           address (the path browsers take) and sends 256 KiB.
 *   dials N: the @libp2p/webrtc dial race (see browser/UPSTREAM-webrtc-dial-race.md): N times in
 *           a row, one peer dials the other's /p2p-circuit/webrtc address (5 s limit per dial),
 *           checks that the connection is a direct WebRTC one, then hangs up; reports how many
 *           dials succeeded, how long each took and the errors of the others.
 */
import { createHash } from 'node:crypto';
import { multiaddr } from '@multiformats/multiaddr';
import { createMashaNode, createSwarmTransport, startRelay } from '../src/net/index.js';
import type { RelayNode, SwarmTransport } from '../src/net/index.js';

const FRAME = 64 * 1024;
const open: Array<SwarmTransport | RelayNode> = [];

function payloadFrames(total: number, seed: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let x = seed >>> 0;
  for (let off = 0; off < total; off += FRAME) {
    const f = new Uint8Array(Math.min(FRAME, total - off));
    for (let i = 0; i < f.length; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      f[i] = x >>> 24;
    }
    frames.push(f);
  }
  return frames;
}

const digest = (frames: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const f of frames) h.update(f);
  return h.digest('hex');
};

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function transfer(from: SwarmTransport, to: SwarmTransport, frames: Uint8Array[]): Promise<{ sent: string; received: string; fromSeen: string[] }> {
  const got: Uint8Array[] = [];
  const senders = new Set<string>();
  to.onDirect((peer, f) => {
    senders.add(peer);
    got.push(f.slice());
  });
  for (const f of frames) await from.sendDirect(to.self, f);
  await waitFor(() => got.length === frames.length, 25_000, 'frames');
  return { sent: digest(frames), received: digest(got), fromSeen: [...senders] };
}

async function direct(): Promise<Record<string, unknown>> {
  const a = await createSwarmTransport(await createMashaNode({ ports: { tcp: false, ws: false, webrtcDirect: 0 }, webrtc: false, discovery: false }));
  open.push(a);
  const listen = a.node.multiaddrs();
  const b = await createSwarmTransport(await createMashaNode({ ports: { tcp: false, ws: false }, webrtc: false, discovery: false, bootstrap: listen }));
  open.push(b);
  const conns = b.node.libp2p.getConnections().map((c) => c.remoteAddr.toString());
  const t = await transfer(b, a, payloadFrames(1024 * 1024, 9));
  return { listen, bListen: b.node.multiaddrs(), conns, sender: b.self, ...t };
}

async function relayed(): Promise<Record<string, unknown>> {
  const relay = await startRelay({});
  open.push(relay);
  const mk = async (): Promise<SwarmTransport> => {
    const t = await createSwarmTransport(await createMashaNode({ ports: { tcp: 0, ws: false }, discovery: false, bootstrap: relay.multiaddrs }));
    open.push(t);
    return t;
  };
  const a = await mk();
  const b = await mk();
  let rtc: string | undefined;
  await waitFor(() => (rtc = a.node.multiaddrs().find((m) => m.includes('/p2p-circuit/webrtc/'))) !== undefined, 10_000, 'a reservation');
  const conn = await b.node.libp2p.dial(multiaddr(rtc), { signal: AbortSignal.timeout(15_000) });
  const t = await transfer(b, a, payloadFrames(256 * 1024, 5));
  const between = b.node.libp2p.getConnections(a.node.libp2p.peerId).map((c) => ({ addr: c.remoteAddr.toString(), limited: c.limits !== undefined }));
  return { conn: conn.remoteAddr.toString(), connLimited: conn.limits !== undefined, between, sender: b.self, ...t };
}

async function dials(n: number): Promise<Record<string, unknown>> {
  const relay = await startRelay({});
  open.push(relay);
  const mk = async (): Promise<SwarmTransport> => {
    const t = await createSwarmTransport(await createMashaNode({ ports: { tcp: 0, ws: false }, discovery: false, bootstrap: relay.multiaddrs }));
    open.push(t);
    return t;
  };
  const a = await mk();
  const b = await mk();
  let rtc: string | undefined;
  await waitFor(() => (rtc = a.node.multiaddrs().find((m) => m.includes('/p2p-circuit/webrtc/'))) !== undefined, 10_000, 'a reservation');
  const target = multiaddr(rtc);
  const ms: number[] = [];
  const errors: string[] = [];
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    try {
      const conn = await b.node.libp2p.dial(target, { signal: AbortSignal.timeout(5_000) });
      if (!conn.remoteAddr.toString().includes('/webrtc/') || conn.limits !== undefined)
        throw new Error(`not a direct WebRTC connection: ${conn.remoteAddr.toString()}`);
      ok++;
      ms.push(Math.round(performance.now() - t0));
    } catch (err) {
      errors.push((err as Error).message);
    }
    await b.node.libp2p.hangUp(a.node.libp2p.peerId).catch(() => {});
    await waitFor(() => b.node.libp2p.getConnections(a.node.libp2p.peerId).length === 0, 5_000, 'the hang-up');
  }
  return { dials: n, succeeded: ok, ms, errors };
}

const scenario = process.argv[2];
let out: Record<string, unknown>;
try {
  out = { ok: true, ...(scenario === 'relay' ? await relayed() : scenario === 'dials' ? await dials(Number(process.argv[3] ?? 20)) : await direct()) };
} catch (err) {
  out = { ok: false, error: (err as Error).message };
}
// Report before teardown: closing WebRTC connections can abort the process in libdatachannel
// (measured ~1 run in 6 here: "std::system_error: Invalid argument"); the parent tells the two apart.
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
await Promise.allSettled(open.map((x) => ('close' in x ? x.close() : x.stop())));
process.stdout.write('CLOSED\n');
process.exit(0);

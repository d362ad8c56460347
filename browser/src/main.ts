/**
 * The volunteer page's main thread: the libp2p node (net.ts), the DOM (view.ts) and the bridge
 * to the dedicated worker (worker.ts), which holds the engine side. The main thread only moves
 * frames: inbound frames are copied once out of libp2p (gossipsub keeps its messages for
 * forwarding, so their buffers cannot be moved) and the copy is transferred to the worker;
 * outbound frames arrive from the worker as transferred buffers and go straight to libp2p.
 *
 * URL parameters: `run=ID` joins that run (else the newest open one); `relay=MULTIADDR`
 * (repeatable) names the relay instead of asking the serving relay; `ice=URL` adds an ICE server
 * (repeatable; none by default); `debug=1` exposes `globalThis.masha` for tests and debugging
 * (debug.ts, plus `live()`: the worker's latest live state, `records()`: the engine's records as
 * events.jsonl-shaped lines, and the send/publish failure counts);
 * `discovery=0` turns off dialling discovered peers (tests that dial by hand); `backend=auto|wasm|webgpu`
 * picks onnxruntime-web's backend for model runs (else the choice remembered from the page's control).
 */
import type { SwarmTransport } from '@masha/node/swarm-net';
import { NetError } from '@masha/node/swarm-net';
import { isDirectWebRTC, startBrowserSwarm } from './net.js';
import { relayAddresses, RelayUnreachable } from './relay-address.js';
import { View } from './view.js';
import type { FromWorker, LinkInfo, LiveState, NetState, TabRecord, ToWorker } from './worker-protocol.js';
import { isBackendChoice, type BackendChoice } from './worker/gpu-backend.js';

const params = new URLSearchParams(location.search);
const CPU_SHARE_KEY = 'masha.cpuShare';
/** The volunteer's onnxruntime-web backend choice (auto | wasm | webgpu), remembered; `?backend=` overrides it. */
const BACKEND_KEY = 'masha.backend';
const storedShare = Number(localStorage.getItem(CPU_SHARE_KEY) ?? '0.5');
const cpuShare = storedShare > 0 && storedShare <= 1 ? storedShare : 0.5;
const wantedRun = params.get('run');
const askedBackend = params.get('backend') ?? localStorage.getItem(BACKEND_KEY);
const backendChoice: BackendChoice = isBackendChoice(askedBackend) ? askedBackend : 'auto';

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'masha-engine' });
const toWorker = (msg: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(msg, transfer);

let transport: SwarmTransport | null = null;
let live: LiveState | null = null;
let relayPeers: string[] = [];
let relayWasUp = false;
let sendFailures = 0;
let relayFailures = 0;
let publishFailures = 0;
const subscribed = new Map<string, () => void>();
/** The engine's records (`?debug=1` only): the tab's event log, for tests and debugging. */
const records: TabRecord[] = [];
const debug = params.get('debug') === '1';

const view = new View(
  {
    onPause: (paused) => toWorker({ type: 'control', action: paused ? 'pause' : 'resume' }),
    onCpuShare: (share) => {
      localStorage.setItem(CPU_SHARE_KEY, String(share));
      toWorker({ type: 'cpu-share', share });
    },
    onLeave: () => toWorker({ type: 'control', action: 'leave' }),
    onBackend: (choice) => {
      localStorage.setItem(BACKEND_KEY, choice);
      toWorker({ type: 'backend', choice });
    },
  },
  cpuShare,
  backendChoice,
);

/** An exclusive copy of a frame, to be transferred to the worker. */
function copyOut(frame: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(frame.byteLength);
  new Uint8Array(buf).set(frame);
  return buf;
}

/** Bytes sent on the protocol streams whose name starts with `prefix`. */
function streamBytes(protocols: Readonly<Record<string, { sent: number }>>, prefix: string): number {
  let n = 0;
  for (const [name, c] of Object.entries(protocols)) if (name.startsWith(prefix)) n += c.sent;
  return n;
}

function linkInfo(t: SwarmTransport, net: NetState): LinkInfo {
  const c = t.counters();
  const topicPeers: Record<string, number> = {};
  for (const topic of subscribed.keys()) topicPeers[topic] = t.topicPeers(topic).length;
  const refused = c.rejected.gossipInvalid + c.rejected.oversized + c.rejected.empty;
  return {
    wireSent: c.wire.connections.sent,
    wireReceived: c.wire.connections.received,
    refused,
    sendFailed: sendFailures,
    publishFailed: publishFailures,
    relayFailed: relayFailures,
    uplinkStreamBytes: streamBytes(c.wire.protocols, '/masha/uplink/'),
    gossipStreamBytes: streamBytes(c.wire.protocols, '/meshsub/'),
    treeStreamBytes: streamBytes(c.wire.protocols, '/masha/tree/'),
    webrtcLinks: net.webrtcLinks,
    topicPeers,
  };
}

function netState(t: SwarmTransport): NetState {
  const libp2p = t.node.libp2p;
  const conns = libp2p.getConnections();
  const relayUp = conns.some((c) => relayPeers.includes(c.remotePeer.toString()));
  relayWasUp ||= relayUp;
  const c = t.counters();
  let up = c.directSent.bytes + c.treeSent.bytes;
  let down = c.directReceived.bytes + c.treeReceived.bytes;
  for (const v of Object.values(c.published)) up += v.bytes;
  for (const v of Object.values(c.delivered)) down += v.bytes;
  return {
    relay: relayUp ? 'connected' : relayWasUp ? 'lost' : 'connecting',
    peers: libp2p.getPeers().length,
    webrtcLinks: conns.filter((x) => isDirectWebRTC(x.remoteAddr.toString(), x.limits !== undefined)).length,
    bytesUp: up,
    bytesDown: down,
  };
}

function onWorker(evt: MessageEvent<FromWorker>): void {
  const msg = evt.data;
  const t = transport;
  switch (msg.type) {
    case 'live':
      live = msg.state;
      view.renderLive(msg.state);
      return;
    case 'left':
      view.setProblem('left', true);
      void t?.close();
      transport = null;
      return;
    case 'subscribe':
      if (t === null) return;
      for (const topic of msg.topics) {
        if (subscribed.has(topic)) continue;
        subscribed.set(
          topic,
          t.subscribe(topic, (from, frame) => {
            const bytes = copyOut(frame);
            toWorker({ type: 'frame', via: 'gossip', topic, from, bytes }, [bytes]);
          }),
        );
      }
      return;
    case 'send':
      if (t === null) return;
      for (const f of msg.frames) {
        t.sendDirect(msg.peer, new Uint8Array(f)).catch(() => {
          sendFailures++;
        });
      }
      return;
    case 'relay':
      if (t === null) return;
      for (const f of msg.frames) {
        t.sendTree(msg.peer, new Uint8Array(f)).catch(() => {
          relayFailures++;
        });
      }
      return;
    case 'publish':
      if (t === null) return;
      for (const f of msg.frames) {
        t.publish(msg.topic, new Uint8Array(f)).catch(() => {
          publishFailures++;
        });
      }
      return;
    case 'records':
      records.push(...msg.records);
      return;
    default: {
      const never: never = msg;
      throw new Error(`unknown worker message ${JSON.stringify(never)}`);
    }
  }
}

async function start(): Promise<void> {
  worker.onmessage = onWorker;
  let relays: string[];
  try {
    relays = await relayAddresses(params, location.origin);
  } catch (e) {
    if (e instanceof RelayUnreachable) {
      view.renderNet({ relay: 'unreachable', peers: 0, webrtcLinks: 0, bytesUp: 0, bytesDown: 0 });
      view.setProblem('relay-unreachable', true);
      console.error(e.message);
      return;
    }
    throw e;
  }
  relayPeers = relays.map((a) => a.slice(a.lastIndexOf('/p2p/') + 5));
  const hasWebRTC = typeof RTCPeerConnection === 'function';
  view.setProblem('no-webrtc', !hasWebRTC);
  let t: SwarmTransport;
  try {
    t = await startBrowserSwarm({
      relays,
      webrtc: hasWebRTC,
      iceServers: params.getAll('ice').map((urls) => ({ urls })),
      discovery: params.get('discovery') !== '0',
    });
  } catch (e) {
    if (e instanceof NetError && e.code === 'relay-unreachable') {
      view.renderNet({ relay: 'unreachable', peers: 0, webrtcLinks: 0, bytesUp: 0, bytesDown: 0 });
      view.setProblem('relay-unreachable', true);
      console.error(e.message);
      return;
    }
    throw e;
  }
  transport = t;
  t.onDirect((from, frame) => {
    const bytes = copyOut(frame);
    toWorker({ type: 'frame', via: 'direct', topic: null, from, bytes }, [bytes]);
  });
  t.onTree((from, frame) => {
    const bytes = copyOut(frame);
    toWorker({ type: 'frame', via: 'tree', topic: null, from, bytes }, [bytes]);
  });
  t.onPeer((kind, peer) => toWorker({ type: 'peer', kind, peer }));
  toWorker({
    type: 'init',
    self: t.self,
    secretKey: t.node.privateKey.raw,
    token: params.get('token'),
    runId: wantedRun,
    maxFrameBytes: t.maxFrameBytes,
    signedGossip: t.node.gossip.signing === 'sign',
    findRunMs: 15_000,
    cpuShare,
    debug,
    backend: backendChoice,
  });
  const tick = (): void => {
    if (transport === null) return;
    const net = netState(transport);
    view.renderNet(net);
    toWorker({ type: 'net', net, link: linkInfo(transport, net) });
  };
  tick();
  setInterval(tick, 500);
  if (debug) {
    const { debugApi } = await import('./debug.js');
    Object.assign(globalThis, {
      masha: { ...debugApi(t), live: () => live, records: () => records, sendFailures: () => sendFailures, publishFailures: () => publishFailures },
    });
  }
}

start().catch((e: unknown) => {
  console.error(e);
  view.setProblem('relay-unreachable', true);
});

/**
 * The volunteer page's main thread: the libp2p node (net.ts), the DOM (view.ts) and the bridge
 * to the dedicated worker (worker.ts), which holds the engine side. The main thread only moves
 * frames: inbound frames are copied once out of libp2p (gossipsub keeps its messages for
 * forwarding, so their buffers cannot be moved) and the copy is transferred to the worker;
 * outbound frames arrive from the worker as transferred buffers and go straight to libp2p.
 *
 * URL parameters: `run=ID` joins that run (else the newest open one); `relay=MULTIADDR`
 * (repeatable) names the relay instead of asking the serving relay; `ice=URL` adds an ICE server
 * (repeatable; none by default); `debug=1` exposes `globalThis.masha` for tests and debugging;
 * `discovery=0` turns off dialling discovered peers (tests that dial by hand).
 */
import type { SwarmTransport } from '@masha/node/swarm-net';
import { NetError } from '@masha/node/swarm-net';
import { broadcastTopic, statusTopic } from '@masha/protocol/swarm';
import { isDirectWebRTC, startBrowserSwarm } from './net.js';
import { relayAddresses, RelayUnreachable } from './relay-address.js';
import { View } from './view.js';
import type { FromWorker, LiveState, NetState, ToWorker } from './worker-protocol.js';

const params = new URLSearchParams(location.search);
const CPU_SHARE_KEY = 'masha.cpuShare';
const storedShare = Number(localStorage.getItem(CPU_SHARE_KEY) ?? '0.5');
const cpuShare = storedShare > 0 && storedShare <= 1 ? storedShare : 0.5;
const wantedRun = params.get('run');

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'masha-engine' });
const toWorker = (msg: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(msg, transfer);

let transport: SwarmTransport | null = null;
let live: LiveState | null = null;
let relayPeers: string[] = [];
let relayWasUp = false;
let sendFailures = 0;
const subscribed = new Map<string, () => void>();

const view = new View(
  {
    onPause: (paused) => toWorker({ type: 'control', action: paused ? 'pause' : 'resume' }),
    onCpuShare: (share) => {
      localStorage.setItem(CPU_SHARE_KEY, String(share));
      toWorker({ type: 'cpu-share', share });
    },
    onLeave: () => toWorker({ type: 'control', action: 'leave' }),
  },
  cpuShare,
);

/** An exclusive copy of a frame, to be transferred to the worker. */
function copyOut(frame: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(frame.byteLength);
  new Uint8Array(buf).set(frame);
  return buf;
}

function netState(t: SwarmTransport): NetState {
  const libp2p = t.node.libp2p;
  const conns = libp2p.getConnections();
  const relayUp = conns.some((c) => relayPeers.includes(c.remotePeer.toString()));
  relayWasUp ||= relayUp;
  const c = t.counters();
  let up = c.directSent.bytes;
  let down = c.directReceived.bytes;
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
      t?.sendDirect(msg.peer, new Uint8Array(msg.bytes)).catch(() => {
        sendFailures++;
      });
      return;
    case 'broadcast':
    case 'status-report': {
      const run = live?.run;
      if (t === null || run == null) return;
      const topic = msg.type === 'broadcast' ? broadcastTopic(run.runId) : statusTopic(run.runId);
      t.publish(topic, new Uint8Array(msg.bytes)).catch(() => {
        sendFailures++;
      });
      return;
    }
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
  t.onPeer((kind, peer) => toWorker({ type: 'peer', kind, peer }));
  toWorker({ type: 'init', self: t.self, runId: wantedRun, maxFrameBytes: t.maxFrameBytes, findRunMs: 15_000, cpuShare });
  const tick = (): void => {
    if (transport === null) return;
    const net = netState(transport);
    view.renderNet(net);
    toWorker({ type: 'net', net });
  };
  tick();
  setInterval(tick, 500);
  if (params.get('debug') === '1') {
    const { debugApi } = await import('./debug.js');
    Object.assign(globalThis, { masha: { ...debugApi(t), live: () => live, sendFailures: () => sendFailures } });
  }
}

start().catch((e: unknown) => {
  console.error(e);
  view.setProblem('relay-unreachable', true);
});

/**
 * The relay's memory of runs (protocol/src/swarm/registry.ts): it reads the run announcements it
 * relays on `masha/runs/1` and answers `/masha/runs/1.0.0` streams with what it heard — so
 * `masha status` can tell, after a launcher has gone, that its run finished and how, or that its
 * announcements stopped. At most MAX_RUN_RECORDS runs are kept (the least recently heard go first).
 */
import type { GossipsubMessage } from '@libp2p/gossipsub';
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import {
  AnnouncementReader,
  decodeRegistry,
  encodeRegistry,
  MAX_REGISTRY_BYTES,
  MAX_RUN_RECORDS,
  RUNS_TOPIC,
  runRecordOf,
  type RunAnnouncement,
  type RunRecord,
} from '@masha/protocol/swarm';
import type { MashaNode } from './create-node.js';
import { NetError } from './errors.js';
import { encodeLengthPrefixed, LengthPrefixedReader } from './length-prefix.js';

export const RUNS_PROTOCOL = '/masha/runs/1.0.0';

export interface RunRegistry {
  /** What the relay heard, newest first. */
  records(): RunRecord[];
  stop(): Promise<void>;
}

/** Starts remembering announcements on `node` (subscribed to RUNS_TOPIC) and serving them. */
export async function serveRunRegistry(node: MashaNode, clock: () => number = () => performance.now()): Promise<RunRegistry> {
  const { libp2p } = node;
  const pubsub = libp2p.services.pubsub;
  const reader = new AnnouncementReader(() => Date.now());
  const heard = new Map<string, { announcement: RunAnnouncement; at: number }>();
  const onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msg } = evt.detail;
    if (msg.topic !== RUNS_TOPIC) return;
    const now = clock();
    const a = reader.accept(msg.data, now, msg.type === 'signed' ? msg.from.toString() : undefined);
    if (a === null) return;
    heard.delete(a.runId);
    heard.set(a.runId, { announcement: a, at: now });
    if (heard.size > MAX_RUN_RECORDS) heard.delete(heard.keys().next().value as string);
  };
  pubsub.addEventListener('gossipsub:message', onMessage);
  const expiry = setInterval(() => reader.expire(clock()), 5_000);
  expiry.unref();
  const records = (): RunRecord[] => {
    const now = clock();
    return [...heard.values()].reverse().map((h) => runRecordOf(h.announcement, now - h.at));
  };
  await libp2p.handle(
    RUNS_PROTOCOL,
    (stream: Stream) => {
      try {
        stream.send(encodeLengthPrefixed(encodeRegistry(records()), MAX_REGISTRY_BYTES));
      } catch (e) {
        stream.abort(e as Error);
        return;
      }
      void stream.close().catch(() => {});
    },
    { maxInboundStreams: 4, runOnLimitedConnection: true },
  );
  return {
    records,
    stop: async () => {
      clearInterval(expiry);
      pubsub.removeEventListener('gossipsub:message', onMessage);
      await libp2p.unhandle(RUNS_PROTOCOL).catch(() => {});
    },
  };
}

/**
 * Asks the relay at `relayAddress` (a multiaddr with /p2p/<id>, already connected) what runs it
 * heard. Throws NetError('registry-unavailable') when it does not answer in time or answers
 * nonsense (an older relay, or not a Masha relay).
 */
export async function fetchRunRegistry(node: MashaNode, relayAddress: string, timeoutMs = 5_000): Promise<RunRecord[]> {
  const id = multiaddr(relayAddress)
    .getComponents()
    .findLast((c) => c.name === 'p2p')?.value;
  if (id === undefined) throw new NetError('bad-address', `address ${relayAddress} lacks the /p2p/<peer id> part`);
  const signal = AbortSignal.timeout(timeoutMs);
  let stream: Stream;
  try {
    stream = await node.libp2p.dialProtocol(peerIdFromString(id), RUNS_PROTOCOL, { signal, runOnLimitedConnection: true });
  } catch (e) {
    throw new NetError('registry-unavailable', `${relayAddress} keeps no run registry: ${(e as Error).message}`);
  }
  const reader = new LengthPrefixedReader(MAX_REGISTRY_BYTES);
  return new Promise<RunRecord[]>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => fail('no answer in time');
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stream.abort(new Error(message));
      reject(new NetError('registry-unavailable', `${relayAddress}: ${message}`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.addEventListener('message', (evt) => {
      if (settled) return;
      try {
        const frames = reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray());
        if (frames.length === 0) return;
        const runs = decodeRegistry(frames[0]);
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(runs);
        void stream.close().catch(() => {});
      } catch (e) {
        fail((e as Error).message);
      }
    });
    stream.addEventListener('close', () => fail('closed the stream without an answer'));
  });
}

/**
 * The relay / bootstrap node: a circuit-relay-v2 server (browsers reach volunteers through it and
 * negotiate WebRTC over it), TCP and WebSocket listeners, and a gossipsub participant that joins
 * the swarm's broadcast topics so it helps propagate them (and gives fresh peers a mesh partner
 * at once). Peer exchange is on, so peers it prunes learn about others.
 *
 * Which topics it follows: the ones in `topics`, plus any topic a connected peer subscribes to
 * that `follow` accepts (default: topics under `masha/` except uplink topics, which are meant to
 * reach only the aggregator).
 */
import type { SubscriptionChangeData } from '@libp2p/gossipsub';
import { RUNS_TOPIC } from '@masha/protocol/swarm';
import { createMashaNode } from './create-node.js';
import { serveRunRegistry, type RunRegistry } from './run-registry.js';
import { TopicValidatorResult, type TopicValidatorFn } from '@libp2p/gossipsub';
import { checkTopicMessage, topicKind } from './gossip-validate.js';
import { scoreTopic } from './gossip-config.js';
import type { MashaNode, MashaNodeOptions } from './create-node.js';

export interface RelayOptions extends Omit<MashaNodeOptions, 'relay' | 'webrtc' | 'bootstrap'> {
  /** Topics to join from the start. */
  readonly topics?: readonly string[];
  /** Which topics seen on peers to join. Default: `masha/…` except `…/uplink…`. */
  readonly follow?: (topic: string) => boolean;
  /** Other relays to connect to. */
  readonly bootstrap?: readonly string[];
}

export interface RelayNode {
  readonly node: MashaNode;
  readonly peerId: string;
  /** Dialable addresses with `/p2p/<id>`: hand these to `--relay`. */
  readonly multiaddrs: readonly string[];
  /** Topics the relay currently participates in. */
  topics(): string[];
  /** Gossip messages the relay refused (gossip-validate.ts: size, frame checks, run, kind, sender). */
  rejectedFrames(): number;
  /** The same by reason. */
  rejectedByReason(): Readonly<Record<string, number>>;
  /** The runs announced through this relay (run-registry.ts), served on RUNS_PROTOCOL. */
  readonly registry: RunRegistry;
  stop(): Promise<void>;
}

export function defaultFollow(topic: string): boolean {
  return topic.startsWith('masha/') && !topic.includes('/uplink') && !topic.startsWith('masha/_');
}

export async function startRelay(opts: RelayOptions = {}): Promise<RelayNode> {
  const node = await createMashaNode({
    ...opts,
    ports: { tcp: opts.ports?.tcp ?? 0, ws: opts.ports?.ws ?? 0, webrtcDirect: opts.ports?.webrtcDirect ?? false },
    relay: true,
    webrtc: false,
    gossip: { doPX: true, ...opts.gossip },
    ...(opts.bootstrap !== undefined ? { bootstrap: opts.bootstrap } : {}),
  });
  const pubsub = node.libp2p.services.pubsub;
  const follow = opts.follow ?? defaultFollow;
  let rejected = 0;
  const reasons: Record<string, number> = {};
  const signed = node.gossip.signing === 'sign';
  // The relay forwards what it accepts, so it applies every context-free check any peer applies
  // (it does not know the runs, so it leaves their limits and epochs to the peers): a relay never
  // forwards what an honest peer would reject, and is never penalised for what others publish.
  const validatorFor = (topic: string): TopicValidatorFn => {
    const kind = topicKind(topic);
    return (_peer, msg) => {
      const author = signed && msg.type === 'signed' ? msg.from.toString() : undefined;
      const c = checkTopicMessage(kind, msg.data, node.maxFrameBytes, author);
      if (c.verdict === 'accept') return TopicValidatorResult.Accept;
      rejected++;
      const r = c.reason ?? 'invalid';
      reasons[r] = (reasons[r] ?? 0) + 1;
      return TopicValidatorResult.Reject;
    };
  };
  const join = (topic: string): void => {
    pubsub.topicValidators.set(topic, validatorFor(topic));
    scoreTopic(pubsub, topic);
    pubsub.subscribe(topic);
  };
  // Run announcements from the start: the registry remembers them for `masha status`.
  for (const t of new Set([RUNS_TOPIC, ...(opts.topics ?? [])])) join(t);
  const registry = await serveRunRegistry(node);
  const onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    for (const s of evt.detail.subscriptions) {
      if (s.subscribe && follow(s.topic) && !pubsub.getTopics().includes(s.topic)) join(s.topic);
    }
  };
  pubsub.addEventListener('subscription-change', onSubscriptionChange);
  return {
    node,
    peerId: node.peerId,
    multiaddrs: node.multiaddrs(),
    topics: () => pubsub.getTopics(),
    rejectedFrames: () => rejected,
    rejectedByReason: () => ({ ...reasons }),
    registry,
    stop: async () => {
      pubsub.removeEventListener('subscription-change', onSubscriptionChange);
      await registry.stop();
      await node.stop();
    },
  };
}

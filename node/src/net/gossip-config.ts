/**
 * Gossipsub settings for the Masha swarm.
 *
 * - Message id = SHA-256 of the message data. Frames are self-identifying (run, epoch, round,
 *   phase, sender, chunk i of n), so equal bytes are the same frame: a frame that reaches a peer
 *   twice (two mesh paths, or republished by someone else) is delivered once. Consequence for the
 *   layers above: byte-identical frames published within `seenTtlMs` are deduplicated, so
 *   anything meant to be repeated (heartbeats) must carry a changing field.
 * - Signing: `sign` (gossipsub StrictSign, the default) or `no-sign` (StrictNoSign, no author).
 *   Frames carry a checksum, which protects against corruption but not against forgery: with
 *   StrictSign every message is signed by its author's libp2p key, so a receiver knows which peer
 *   authored a broadcast and the driver can drop a frame whose declared sender is not its author
 *   (a volunteer cannot impersonate the aggregator). The cost is ~100 bytes per message (from,
 *   seqno, signature) — 0.15 % of a 64 KiB frame — and one Ed25519 sign/verify per frame
 *   (`bench-uplink` measures both policies). All peers of a swarm must use the same policy.
 * - Publishing to zero topic peers is allowed (the swarm is still forming; the engine repeats
 *   what matters), duplicates are not errors.
 * - Flood publish is off by default: a publisher pushes to its mesh (≤ Dhi peers), so the
 *   aggregator's upload per broadcast is bounded by the mesh degree, not by the swarm size.
 * - Scoring keeps the defaults except the IP-colocation penalty, which is off: volunteers of one
 *   lab, one NAT or one test machine share an address, and that must not get them pruned.
 * - Validation: every topic's validator (gossip-validate.ts) rejects what is not a valid message
 *   of that topic (size, frame checks, run, kind, sender) — not delivered, not forwarded — and
 *   Masha topics are scored (`scoreTopic`) so that gossipsub penalises whoever sends what is
 *   rejected. One RPC on the wire is capped at `maxRpcBytes` (default 2 MiB,
 *   far below the 4 MiB at which gossipsub's decoder silently drops a stream, and room for
 *   IWANT replies that carry several frames).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { StrictNoSign, StrictSign, type GossipSub } from '@libp2p/gossipsub';
import { TopicValidatorResult } from '@libp2p/gossipsub';
import type { GossipsubOpts, Message, TopicValidatorFn } from '@libp2p/gossipsub';

export type SigningPolicy = 'sign' | 'no-sign';

export interface GossipTuning {
  /** Mesh degree D and its bounds (gossipsub defaults 6, 4, 12). */
  readonly D: number;
  readonly Dlo: number;
  readonly Dhi: number;
  /**
   * Gossip (IHAVE) emission: at least `Dlazy` non-mesh peers, or `gossipFactor` of them, per
   * heartbeat. Every IHAVE for a frame a peer still lacks comes back as an IWANT and costs the
   * emitter a full frame of upload, so for large frames both are kept low (defaults 3 and 0.1;
   * gossipsub's are 6 and 0.25).
   */
  readonly Dlazy: number;
  readonly gossipFactor: number;
  /** Heartbeat period (ms): mesh maintenance and gossip emission. Default 700; tests use ~100. */
  readonly heartbeatMs: number;
  /** Publish to every topic peer instead of the mesh. Default false (see the module comment). */
  readonly floodPublish: boolean;
  readonly signing: SigningPolicy;
  /** How long message ids are remembered for de-duplication (ms). Default 120 000. */
  readonly seenTtlMs: number;
  /** Largest RPC accepted on an inbound gossipsub stream. Default 2 MiB. */
  readonly maxRpcBytes: number;
  /** Peer exchange on PRUNE (useful on relays / bootstrappers). Default false. */
  readonly doPX: boolean;
}

export const DEFAULT_GOSSIP_TUNING: GossipTuning = {
  D: 6,
  Dlo: 4,
  Dhi: 12,
  Dlazy: 3,
  gossipFactor: 0.1,
  heartbeatMs: 700,
  floodPublish: false,
  signing: 'sign',
  seenTtlMs: 120_000,
  maxRpcBytes: 2 * 1024 * 1024,
  doPX: false,
};

/** SHA-256 of the message data: the swarm's gossipsub message id. */
export function frameMessageId(msg: Message): Uint8Array {
  return sha256(msg.data);
}

export function gossipOptions(tuning: GossipTuning): Partial<GossipsubOpts> {
  if (!(tuning.Dlo <= tuning.D && tuning.D <= tuning.Dhi && tuning.Dlo >= 1)) {
    throw new RangeError(`gossip mesh degrees must satisfy 1 <= Dlo <= D <= Dhi (got ${tuning.Dlo}, ${tuning.D}, ${tuning.Dhi})`);
  }
  return {
    D: tuning.D,
    Dlo: tuning.Dlo,
    Dhi: tuning.Dhi,
    // Outbound quota: below Dlo and at most D/2, as gossipsub requires.
    Dout: Math.max(0, Math.min(2, tuning.Dlo - 1, Math.floor(tuning.D / 2))),
    Dlazy: tuning.Dlazy,
    gossipFactor: tuning.gossipFactor,
    heartbeatInterval: tuning.heartbeatMs,
    floodPublish: tuning.floodPublish,
    globalSignaturePolicy: tuning.signing === 'sign' ? StrictSign : StrictNoSign,
    msgIdFn: frameMessageId,
    seenTTL: tuning.seenTtlMs,
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    fallbackToFloodsub: false,
    emitSelf: false,
    doPX: tuning.doPX,
    maxInboundDataLength: tuning.maxRpcBytes,
    scoreParams: {
      IPColocationFactorWeight: 0,
    },
  };
}

/**
 * Topic validator enforcing the frame size on gossip: empty or oversized data is rejected (not
 * delivered, not forwarded). `onReject` is called for counting.
 */
export function frameSizeValidator(maxFrameBytes: number, onReject: () => void = () => {}): TopicValidatorFn {
  return (_peer, msg) => {
    const n = msg.data.byteLength;
    if (n === 0 || n > maxFrameBytes) {
      onReject();
      return TopicValidatorResult.Reject;
    }
    return TopicValidatorResult.Accept;
  };
}

/**
 * Peer-score parameters of a Masha topic: only P4, invalid message deliveries (what a topic
 * validator *rejects*), counts — weight −10 per rejected message squared, decaying by 10 % per
 * second. One rejection takes a peer to gossipsub's gossip threshold (−10: no more gossip with
 * it), three below the graylist threshold (−80: its RPCs are ignored) for about half a minute.
 * The other topic components (time in mesh, first and mesh deliveries, mesh failures) stay off:
 * a quiet honest peer must not be penalised for being quiet. Only what every honest node rejects
 * is rejected (gossip-validate.ts), so an honest forwarder is never penalised.
 */
export const MASHA_TOPIC_SCORE = {
  topicWeight: 1,
  timeInMeshWeight: 0,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 1,
  firstMessageDeliveriesWeight: 0,
  firstMessageDeliveriesDecay: 0.5,
  firstMessageDeliveriesCap: 1,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.9,
} as const;

/** Makes gossipsub score `topic` (so that its validator's rejections count against their senders). */
export function scoreTopic(pubsub: GossipSub, topic: string): void {
  // The implementation's score parameters (not part of the public interface): topics may be added
  // at any time, the score reads them per message.
  const topics = (pubsub as unknown as { score?: { params?: { topics?: Record<string, unknown> } } }).score?.params?.topics;
  if (topics !== undefined && topics[topic] === undefined) topics[topic] = { ...MASHA_TOPIC_SCORE };
}

/** gossipsub's score of a peer (0 when the implementation does not say). */
export function gossipScore(pubsub: GossipSub, peer: string): number {
  const impl = pubsub as unknown as { getScore?: (p: string) => number };
  return impl.getScore?.(peer) ?? 0;
}

/**
 * What a gossip message must be on each of the swarm's topics, checked by gossipsub's topic
 * validator before the message is delivered or forwarded.
 *
 * A message that fails a check is **rejected**, not ignored: gossipsub then counts it against the
 * peer that sent it to us (peer scoring, P4 "invalid messages"), so a peer publishing garbage is
 * soon pruned from the meshes and graylisted, and nobody forwards its garbage further. Before, the
 * validator checked only the size and accepted everything else: every peer forwarded every
 * well-sized junk frame to its whole mesh.
 *
 * Two kinds of checks:
 * - **Context-free** (`checkTopicMessage`): what any node can check from the bytes, the topic and
 *   the signed author alone — size, frame magic, version and checksums, the run id against the
 *   topic's, the message kind and codec allowed on the topic, the frame's sender against the
 *   gossip author; status reports: size, JSON schema, run id. Every honest node (volunteers,
 *   launchers and relays alike) applies them, so an honest node never forwards a message another
 *   honest node rejects: a rejection is always the fault of the peer that sent it, and is
 *   penalised as such.
 * - **Contextual** (the driver's `ContextCheck`, from its run and engine): the message size the run
 *   allows for that kind, and the epoch window. Nodes may disagree on those (a relay does not know
 *   the run; epochs move), so a contextual failure is rejected only when the sender is the
 *   message's author itself, and ignored (dropped without penalty, not forwarded) when an honest
 *   peer may merely have forwarded it.
 *
 * Which kinds travel where (each kind on its one path): on `masha/run/<id>/bcast` the
 * aggregator's ANNOUNCE, OPEN and COMMIT and any peer's SUSPECT and EQUIVOCATION; on `masha/runs/1` run announcements; on
 * `masha/run/<id>/status` JSON status reports. HEARTBEAT, UPLINK, STATE_REQUEST, STATE and REPLAY
 * travel only on direct `/masha/uplink/1.0.0` streams (the host refuses them elsewhere).
 */
import { decodeFrame, ENGINE_CODEC, FrameError, type Frame } from '@masha/protocol';
import { KINDS_BY_PATH } from '@masha/protocol/host';
import { ANNOUNCE_KIND, decodeStatus, decodeStatusQuery, isStatusQuery, JSON_CODEC, RUNS_TOPIC, StatusError } from '@masha/protocol/swarm';

export type Verdict = 'accept' | 'reject' | 'ignore';

export interface TopicCheck {
  readonly verdict: Verdict;
  /** Why it was refused (a FrameError code or one of this module's), when it was. */
  readonly reason?: string;
  /** The decoded frame, for frame topics that passed. */
  readonly frame?: Frame;
}

/** A run's topic and what it carries. */
export type TopicKind =
  | { readonly kind: 'bcast'; readonly runId: string }
  | { readonly kind: 'status'; readonly runId: string }
  | { readonly kind: 'runs' }
  | { readonly kind: 'other' };

const RUN_TOPIC = /^masha\/run\/([0-9a-f]{64})\/(bcast|status)$/;

export function topicKind(topic: string): TopicKind {
  if (topic === RUNS_TOPIC) return { kind: 'runs' };
  const m = RUN_TOPIC.exec(topic);
  if (m === null) return { kind: 'other' };
  return { kind: m[2] as 'bcast' | 'status', runId: m[1] };
}

/** Engine kinds the broadcast topic carries (the host's own table: one list of which kind travels where). */
export const BROADCAST_KINDS: ReadonlySet<number> = KINDS_BY_PATH.broadcast;

const ACCEPT: TopicCheck = { verdict: 'accept' };

function reject(reason: string): TopicCheck {
  return { verdict: 'reject', reason };
}

/**
 * The context-free checks of one gossip message on `topic`. `author`: the message's signed author
 * (undefined when messages are unsigned: then the sender field cannot be checked).
 */
export function checkTopicMessage(topic: TopicKind, data: Uint8Array, maxFrameBytes: number, author: string | undefined): TopicCheck {
  const n = data.byteLength;
  if (n === 0) return reject('empty');
  if (n > maxFrameBytes) return reject('too-large');
  switch (topic.kind) {
    case 'other':
      return ACCEPT;
    case 'status':
      try {
        const s = isStatusQuery(data) ? decodeStatusQuery(data) : decodeStatus(data);
        if (s.runId !== topic.runId) return reject('wrong-run');
      } catch (e) {
        if (e instanceof StatusError) return reject('bad-status');
        throw e;
      }
      return ACCEPT;
    case 'runs':
    case 'bcast': {
      let frame: Frame;
      try {
        frame = decodeFrame(data);
      } catch (e) {
        if (e instanceof FrameError) return reject(e.code);
        throw e;
      }
      if (author !== undefined && frame.sender !== author) return reject('sender-mismatch');
      if (topic.kind === 'runs') {
        if (frame.kind !== ANNOUNCE_KIND || frame.codec !== JSON_CODEC) return reject('wrong-topic');
        return { verdict: 'accept', frame };
      }
      if (frame.runId !== topic.runId) return reject('wrong-run');
      if (!BROADCAST_KINDS.has(frame.kind) || frame.codec !== ENGINE_CODEC) return reject('wrong-topic');
      return { verdict: 'accept', frame };
    }
  }
}

/**
 * The contextual check a run's peer adds for its broadcast topic: returns a refusal reason or
 * null. Called with the frame that passed the context-free checks.
 */
export type ContextCheck = (frame: Frame) => string | null;

/**
 * The verdict for a contextual refusal: reject (penalise) when the peer that handed us the
 * message is its author; ignore when it may be an honest forwarder.
 */
export function contextualVerdict(author: string | undefined, propagationSource: string): 'reject' | 'ignore' {
  return author !== undefined && author === propagationSource ? 'reject' : 'ignore';
}

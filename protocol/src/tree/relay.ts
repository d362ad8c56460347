/**
 * The relay-tree broadcaster and relay of one peer: sans-I/O, driven by its host (host/peer-host.ts)
 * through `TreeIO` — frames in from the link's tree channel, control messages in from the host's
 * reassembler, a clock, one wake-up; frames and control messages out.
 *
 * # How a large broadcast travels
 *
 * 1. The aggregator's host hands a large broadcast (more than one frame, or `minBytes`) to
 *    `originate`: it hashes every frame (SHA-256 of the frame's bytes), broadcasts an ANCHOR
 *    listing the hashes over gossip (and sends it directly to its own tree children), then sends
 *    frame i to the roots of stripe i mod k (layout.ts) on the tree channel.
 * 2. A relay forwards each frame to its children in that frame's stripe as soon as it has checked
 *    it against the anchor (pipelined per frame, not stored per message), and hands it to its
 *    host for reassembly. Frames that arrive before the anchor wait for it (bounded).
 * 3. Gaps. Each peer knows from the anchor which frames to expect and from the layout who feeds it
 *    each stripe. When a stripe makes no progress for `stallMs` (for the first frame: `stallMs`
 *    per level of depth), the peer PULLs the stripe's missing frames from its grandparent in that
 *    stripe — which has them, or follows them for it as they arrive — and tells its own children
 *    to HOLD (their supply is being repaired; repaired frames flow down as usual). If that does
 *    not help within another `stallMs` it asks the next ancestor up, and finally the origin. A
 *    parent that stalled once is suspected for a lease: in the next broadcasts its children pull
 *    from the next ancestor at once. Peers outside the roster (joiners, observers) pull the
 *    whole broadcast from a "foster" member chosen by hash, and from the origin if that fails.
 *    An anchor that never came (lost gossip) is asked of the origin directly.
 * 4. What cannot be repaired here (the origin died, everything timed out) is left to the engine:
 *    a device that misses a commit notices at the next one and fetches a replay or a snapshot.
 *
 * # Trust: what a malicious relay can and cannot do
 *
 * The anchor is accepted only from the origin over an authenticated path (a gossip message signed
 * by its author, or a direct stream from the origin; `from` as the host reports it) and lists a
 * SHA-256 hash of every frame, so:
 * - a relay **cannot alter, reorder, truncate or splice** what it forwards, nor forge a broadcast
 *   in the origin's name: a frame whose hash differs from the anchor's is dropped before it is
 *   forwarded or reassembled (`tree-bad-frame`), and its stripe is repaired from another ancestor
 *   at once. End to end, the engine then checks the commit against the replica digest it carries
 *   (parent and result), as for any commit;
 * - it **can drop or delay** what it should forward (or stop altogether): its subtree repairs the
 *   stripe from the relay's ancestors after `stallMs`, and suspects it for the next broadcasts;
 * - it **can send garbage** to its children (wasting their downlink up to what it could send
 *   anyway) — it is never forwarded further; frames waiting for an anchor are bounded per
 *   broadcast and in total, and only frames naming a roster root as their sender are held;
 * - it **can ask for repairs it does not need**: each peer serves at most `PULL_COPIES_PER_PEER`
 *   copies of a broadcast to one requester and `PULL_COPIES` copies in all, so a PULL is never
 *   amplified beyond that;
 * - it **can lie in its heartbeat** about its upload rate, to sit near a tree's root or to be a
 *   leaf (then it relays nothing: others carry its share) — placement gives no power over content;
 * - it **cannot** make another peer accept anything the origin did not send, nor keep a frame from
 *   a peer that has a live path of honest ancestors or the origin (repairs escalate to the origin).
 * The origin itself (the aggregator) is trusted for content here, as elsewhere in the engine;
 * certifying aggregators is the trust layer's job.
 */
import { getU32, OFF } from '../frames/format.js';
import type { Frame } from '../frames/frame.js';
import type { EngineMessage, PeerId } from '../engine/types.js';
import { type Bcast, keyOf, newBroadcast, sameHash, sizeStripes } from './broadcast.js';
import { ancestorsIn, childrenIn, depthIn, layoutOf, positionOf, type TreeLayout } from './layout.js';
import {
  type ControlHeader,
  MAX_LIVE_BROADCASTS,
  MAX_PENDING_BYTES,
  PULL_COPIES,
  PULL_COPIES_PER_PEER,
  type RelayMeta,
  type SharedMessage,
  type TreeIO,
  type TreeRelayOptions,
} from './relay-io.js';
import type { Roster } from './roster.js';
import {
  type AnchorBody,
  decodeAnchor,
  decodeHold,
  decodePull,
  encodeAnchor,
  encodeHold,
  encodePull,
  HASH_BYTES,
  PULL_ANCHOR,
  PULL_FOLLOW,
  PULL_ROSTER,
  TREE_KIND,
} from './wire.js';

export * from './relay-io.js';

export class TreeRelay {
  private readonly io: TreeIO;
  private readonly opts: TreeRelayOptions;
  /** Rosters held, newest last (the current one and a few before it, for broadcasts in flight). */
  private readonly rosters: Roster[] = [];
  private readonly live = new Map<string, Bcast>();
  /** Peers that stalled a stripe, with when (their children skip them for a lease). */
  private readonly suspects = new Map<PeerId, number>();
  private pendingBytes = 0;
  private wakeRequested = Number.POSITIVE_INFINITY;

  constructor(io: TreeIO, opts: TreeRelayOptions) {
    this.io = io;
    this.opts = opts;
  }

  /** The newest roster held, or null. */
  get roster(): Roster | null {
    return this.rosters.length > 0 ? this.rosters[this.rosters.length - 1] : null;
  }

  /** Broadcasts tracked now (for tests and status). */
  get tracked(): number {
    return this.live.size;
  }

  // ================================================================ rosters

  /** A roster published by an aggregator (ours, or heard). */
  setRoster(roster: Roster): void {
    const cur = this.roster;
    if (cur !== null && cur.root === roster.root && cur.epoch === roster.epoch && roster.version <= cur.version) return;
    this.rosters.push(roster);
    if (this.rosters.length > 3) this.rosters.shift();
    // Broadcasts whose anchor named this roster before it arrived can now be placed and forwarded.
    for (const b of this.live.values()) {
      const a = b.anchor;
      if (a !== null && b.layout === null && !b.isOrigin && a.rosterEpoch === roster.epoch && a.rosterVersion === roster.version && roster.root === b.origin) {
        this.place(b, roster);
        for (let i = 0; i < b.count; i++) {
          const f = b.frames[i];
          if (f !== null) this.forward(b, i, f);
        }
      }
    }
  }

  private findRoster(root: PeerId, epoch: number, version: number): Roster | null {
    for (let j = this.rosters.length - 1; j >= 0; j--) {
      const r = this.rosters[j];
      if (r.root === root && r.epoch === epoch && r.version === version) return r;
    }
    return null;
  }

  private isRoot(peer: PeerId): boolean {
    for (const r of this.rosters) if (r.root === peer) return true;
    return false;
  }

  /** A transport hint: `peer`'s connection closed. Its children pull around it from now on. */
  peerGone(peer: PeerId): void {
    this.suspects.set(peer, this.io.now());
  }

  // ================================================================ originating

  /**
   * Sends `message` (already cut into `frames`) down the trees if it qualifies: this peer is the
   * root of the current roster, of the message's epoch, the kind may be relayed and the message is
   * large. Returns false when the caller should broadcast it otherwise (gossip).
   */
  originate(message: EngineMessage, frames: readonly Uint8Array[], bytes: number): boolean {
    const roster = this.roster;
    const io = this.io;
    if (roster === null || roster.root !== io.self || roster.epoch !== message.epoch || roster.members.length === 0) return false;
    if (!this.opts.kinds.has(message.kind)) return false;
    if (frames.length < 2 && bytes < this.opts.minBytes) return false;
    if (frames.length > this.opts.maxFrames) return false;
    const count = frames.length;
    const hashes = new Uint8Array(count * HASH_BYTES);
    for (let i = 0; i < count; i++) hashes.set(io.hash(frames[i]), i * HASH_BYTES);
    // The message id of the frames (every frame of a message carries the same).
    const messageId = getU32(frames[0], OFF.messageId);
    const anchor: AnchorBody = { kind: message.kind, messageId, count, rosterEpoch: roster.epoch, rosterVersion: roster.version, hashes };
    const body = encodeAnchor(anchor);
    const header: ControlHeader = { epoch: message.epoch, round: message.round, phase: message.phase };
    const key = keyOf(io.self, message.epoch, message.round, message.phase, message.kind, messageId);
    const b = this.track(key, io.self, message.epoch, message.round, message.phase, message.kind, messageId, count, true);
    b.anchor = anchor;
    b.anchorAt = io.now();
    this.place(b, roster);
    for (let i = 0; i < count; i++) {
      b.frames[i] = frames[i];
      if (frames[i].length > b.frameBytes) b.frameBytes = frames[i].length;
    }
    b.have = count;
    b.complete = true;
    b.missing.fill(0);
    io.broadcastControl(TREE_KIND.ANCHOR, header, body);
    // The root's children get the anchor directly too: they start forwarding at once.
    const sentTo = new Set<PeerId>();
    for (const kids of b.children)
      for (const c of kids)
        if (!sentTo.has(c)) {
          sentTo.add(c);
          io.sendControl(c, TREE_KIND.ANCHOR, header, body);
        }
    for (let i = 0; i < count; i++) this.forward(b, i, frames[i]);
    io.count('tree-originated');
    io.milestone('originated', b, null);
    this.reschedule();
    return true;
  }

  // ================================================================ frames

  /**
   * A frame from the tree channel, sent to us by `from` (decoded and CRC-checked by the host).
   * `shared`: the runtime's one message object for every recipient of this broadcast (optional).
   */
  onFrame(bytes: Uint8Array, frame: Frame, from: PeerId, shared?: SharedMessage): void {
    const io = this.io;
    if (frame.count > this.opts.maxFrames || frame.sender === io.self) {
      io.count('tree-unanchored-dropped');
      return;
    }
    const key = keyOf(frame.sender, frame.epoch, frame.round, frame.phase, frame.kind, frame.messageId);
    let b = this.live.get(key);
    if (b === undefined) {
      // Only frames that name a roster root as their origin are held for an anchor.
      if (!this.isRoot(frame.sender) || !this.opts.kinds.has(frame.kind)) {
        io.count('tree-unanchored-dropped');
        return;
      }
      b = this.track(key, frame.sender, frame.epoch, frame.round, frame.phase, frame.kind, frame.messageId, frame.count, false);
    }
    if (shared !== undefined && b.shared === undefined) b.shared = shared;
    const i = frame.index;
    if (i >= b.count || frame.count !== b.count) {
      io.count('tree-bad-frame');
      return;
    }
    if (b.frames[i] !== null || b.pending.has(i)) {
      io.count('tree-duplicate');
      return;
    }
    if (b.anchor === null) {
      if (this.pendingBytes + bytes.length > MAX_PENDING_BYTES) {
        io.count('tree-unanchored-dropped');
        return;
      }
      b.pending.set(i, { bytes, frame, from });
      b.pendingBytes += bytes.length;
      this.pendingBytes += bytes.length;
      if (b.pending.size === 1) this.reschedule();
      return;
    }
    this.check(b, i, bytes, frame, from);
  }

  /** Checks a frame against the anchor; accepts it, or drops it and repairs its stripe at once. */
  private check(b: Bcast, i: number, bytes: Uint8Array, frame: Frame, from: PeerId): void {
    const a = b.anchor as AnchorBody;
    if (!sameHash(this.io.hash(bytes), a.hashes, i)) {
      this.io.count('tree-bad-frame');
      b.bad.add(from);
      this.suspects.set(from, this.io.now());
      const s = i % b.stripes;
      if (!b.complete && b.missing[s] > 0) this.repair(b, s);
      return;
    }
    if (this.suspects.has(from)) this.suspects.delete(from);
    this.accept(b, i, bytes, frame);
  }

  private accept(b: Bcast, i: number, bytes: Uint8Array, frame: Frame): void {
    const io = this.io;
    b.frames[i] = bytes;
    b.have++;
    if (bytes.length > b.frameBytes) b.frameBytes = bytes.length;
    const s = i % b.stripes;
    b.missing[s]--;
    b.gotAny[s] = 1;
    b.lastProgress[s] = io.now();
    io.count('tree-frames-accepted');
    if (b.have === 1) io.milestone('first-frame', b, s);
    this.forward(b, i, bytes);
    if (b.have === b.count) {
      b.complete = true;
      io.count('tree-complete');
      io.milestone('complete', b, null);
    }
    io.deliver(frame, bytes.length, b.shared);
  }

  /** Sends frame i to this peer's children in its stripe and to the followers that want it. */
  private forward(b: Bcast, i: number, bytes: Uint8Array): void {
    const io = this.io;
    if (b.layout !== null) {
      const kids = b.children[i % b.stripes];
      for (const c of kids) {
        io.relay(c, [bytes], this.meta(b, bytes.length));
        if (!b.isOrigin) io.count('tree-frames-forwarded');
      }
    }
    if (b.followers.size > 0) {
      const byte = i >> 3;
      const bit = 1 << (i & 7);
      for (const [peer, f] of b.followers) {
        if ((f.wanted[byte] & bit) === 0) continue;
        f.wanted[byte] &= ~bit;
        f.served++;
        b.served++;
        io.relay(peer, [bytes], this.meta(b, bytes.length));
        io.count('tree-pull-served');
      }
    }
  }

  private meta(b: Bcast, bytes: number): RelayMeta {
    return { kind: b.kind, epoch: b.epoch, round: b.round, phase: b.phase, bytes, origin: b.origin, originated: b.isOrigin };
  }

  // ================================================================ control messages

  /**
   * A tree control message, reassembled by the host. `authenticated`: the transport vouches that
   * `msg.sender` sent it (a signed gossip message, a direct stream from that peer).
   */
  onControl(msg: EngineMessage, authenticated: boolean): void {
    switch (msg.kind) {
      case TREE_KIND.ANCHOR:
        if (!authenticated) {
          this.io.count('tree-bad-control');
          return;
        }
        this.onAnchor(msg);
        return;
      case TREE_KIND.PULL:
        this.onPull(msg);
        return;
      case TREE_KIND.HOLD:
        this.onHold(msg);
        return;
      default:
        this.io.count('tree-bad-control');
    }
  }

  private onAnchor(msg: EngineMessage): void {
    const io = this.io;
    const a = decodeAnchor(msg.body, this.opts.maxFrames);
    if (msg.sender === io.self || !this.opts.kinds.has(a.kind)) {
      io.count('tree-bad-control');
      return;
    }
    const key = keyOf(msg.sender, msg.epoch, msg.round, msg.phase, a.kind, a.messageId);
    let b = this.live.get(key);
    if (b !== undefined && b.anchor !== null) return; // the same anchor again (gossip and direct)
    if (b !== undefined && b.count !== a.count) {
      // Frames that disagree with the origin on the frame count were never the origin's.
      this.forget(b);
      b = undefined;
    }
    if (b === undefined) b = this.track(key, msg.sender, msg.epoch, msg.round, msg.phase, a.kind, a.messageId, a.count, false);
    b.anchor = a;
    b.anchorAt = io.now();
    const roster = this.findRoster(msg.sender, a.rosterEpoch, a.rosterVersion);
    if (roster !== null) this.place(b, roster);
    else sizeStripes(b, 1);
    for (let s = 0; s < b.stripes; s++) b.lastProgress[s] = b.anchorAt;
    io.milestone('anchor', b, null);
    io.inbound(a.kind, msg.epoch, msg.round);
    // Frames that came before the anchor.
    if (b.pending.size > 0) {
      const waiting = [...b.pending.entries()].sort((x, y) => x[0] - y[0]);
      this.pendingBytes -= b.pendingBytes;
      b.pending.clear();
      b.pendingBytes = 0;
      for (const [i, p] of waiting) this.check(b, i, p.bytes, p.frame, p.from);
    }
    if (b.complete) return;
    if (roster === null) {
      // We do not hold the roster the origin used (it was published at the same moment, by
      // gossip): frames from our parents are accepted meanwhile; after `stallMs` without it we
      // ask the origin for it and pull what is missing (see `tick`).
    } else if (b.pos === null) {
      // Not in the roster (an observer, a joiner): a foster member feeds us.
      this.fosterPull(b, ++b.level[0]);
    } else {
      // Parents that stalled recently: go around them at once.
      for (let s = 0; s < b.stripes; s++) {
        if (b.missing[s] === 0) continue;
        const anc = ancestorsIn(b.layout as TreeLayout, s, b.pos);
        if (anc.length > 1 && this.suspected(anc[0])) this.repair(b, s);
      }
    }
    this.reschedule();
  }

  private onPull(msg: EngineMessage): void {
    const io = this.io;
    const p = decodePull(msg.body, this.opts.maxFrames);
    const from = msg.sender;
    if (from === io.self) return;
    const key = keyOf(p.origin, msg.epoch, msg.round, msg.phase, p.kind, p.messageId);
    let b = this.live.get(key);
    if (p.flags & PULL_ANCHOR && b !== undefined && b.isOrigin && b.anchor !== null) {
      io.sendControl(from, TREE_KIND.ANCHOR, { epoch: b.epoch, round: b.round, phase: b.phase }, encodeAnchor(b.anchor));
    }
    if (p.flags & PULL_ROSTER && p.origin === io.self) {
      const r = b?.anchor ?? null;
      const cur = this.roster;
      if (r !== null) io.resendRoster(from, r.rosterEpoch, r.rosterVersion);
      else if (cur !== null && cur.root === io.self) io.resendRoster(from, cur.epoch, cur.version);
    }
    let any = false;
    for (let j = 0; j < p.wanted.length; j++) if (p.wanted[j] !== 0) any = true;
    if (!any) return;
    if (b === undefined) {
      // Not heard of yet here (the requester is ahead of us): follow it for the requester.
      if (!this.isRoot(p.origin) || !this.opts.kinds.has(p.kind) || p.count > this.opts.maxFrames) {
        io.count('tree-pull-refused');
        return;
      }
      b = this.track(key, p.origin, msg.epoch, msg.round, msg.phase, p.kind, p.messageId, p.count, false);
    }
    if (p.count !== b.count) {
      io.count('tree-pull-refused');
      return;
    }
    let f = b.followers.get(from);
    if (f === undefined) {
      f = { wanted: new Uint8Array((b.count + 7) >> 3), served: 0 };
      b.followers.set(from, f);
    }
    // Budgets: never amplify a request beyond a few copies of the broadcast.
    const perPeer = PULL_COPIES_PER_PEER * b.count;
    const all = PULL_COPIES * b.count;
    const now: Uint8Array[] = [];
    let bytes = 0;
    for (let i = 0; i < b.count; i++) {
      if ((p.wanted[i >> 3] & (1 << (i & 7))) === 0) continue;
      if (f.served >= perPeer || b.served >= all) {
        io.count('tree-pull-refused');
        break;
      }
      const fr = b.frames[i];
      if (fr !== null) {
        now.push(fr);
        bytes += fr.length;
        f.served++;
        b.served++;
        f.wanted[i >> 3] &= ~(1 << (i & 7));
      } else if (p.flags & PULL_FOLLOW) {
        f.wanted[i >> 3] |= 1 << (i & 7);
      }
    }
    if (now.length > 0) {
      io.relay(from, now, { ...this.meta(b, bytes) });
      io.count('tree-pull-served', now.length);
    }
  }

  private onHold(msg: EngineMessage): void {
    const h = decodeHold(msg.body);
    const b = this.live.get(keyOf(h.origin, msg.epoch, msg.round, msg.phase, h.kind, h.messageId));
    if (b === undefined || b.layout === null || b.pos === null || h.stripe >= b.stripes) return;
    const anc = ancestorsIn(b.layout, h.stripe, b.pos);
    if (anc[0] !== msg.sender) return;
    const now = this.io.now();
    // The parent is repairing this stripe: give it time, and pass the word on.
    if (now > b.lastProgress[h.stripe]) b.lastProgress[h.stripe] = now;
    if (b.held[h.stripe] === 0) {
      b.held[h.stripe] = 1;
      this.hold(b, h.stripe);
    }
    this.reschedule();
  }

  // ================================================================ repairs

  /** Asks for stripe s's missing frames from the next ancestor up; tells the children to hold. */
  private repair(b: Bcast, s: number): void {
    const io = this.io;
    if (b.layout === null || b.pos === null) {
      this.fosterPull(b, ++b.level[0]);
      return;
    }
    b.level[s]++;
    b.lastProgress[s] = io.now();
    const anc = ancestorsIn(b.layout, s, b.pos);
    // Level 1: the grandparent (or the root, for its own children); then up, skipping suspects.
    let at = Math.min(b.level[s], anc.length - 1);
    while (at < anc.length - 1 && (this.suspected(anc[at]) || b.bad.has(anc[at]))) at++;
    const target = anc[at];
    const wanted = new Uint8Array((b.count + 7) >> 3);
    for (let i = s; i < b.count; i += b.stripes) if (b.frames[i] === null) wanted[i >> 3] |= 1 << (i & 7);
    this.pull(target, b, PULL_FOLLOW, wanted);
    if (anc.length > 1) this.suspects.set(anc[0], io.now());
    io.count('tree-repair');
    io.milestone('repair', b, s);
    if (b.held[s] === 0) {
      b.held[s] = 1;
      this.hold(b, s);
    }
  }

  private hold(b: Bcast, s: number): void {
    const kids = b.children[s];
    if (kids === undefined || kids.length === 0) return;
    const body = encodeHold({ origin: b.origin, kind: b.kind, messageId: b.messageId, stripe: s });
    for (const c of kids) this.io.sendControl(c, TREE_KIND.HOLD, { epoch: b.epoch, round: b.round, phase: b.phase }, body);
    this.io.count('tree-hold');
  }

  /** Off the trees (not in the roster, or without it): pull everything missing from a member, then the origin. */
  private fosterPull(b: Bcast, level: number): void {
    const roster = this.findRoster(b.origin, b.anchor?.rosterEpoch ?? -1, b.anchor?.rosterVersion ?? -1) ?? this.roster;
    let target = b.origin;
    if (level <= 1 && roster !== null && roster.root === b.origin && roster.members.length > 0) {
      const members = roster.members;
      let h = 0x811c9dc5;
      const id = this.io.self;
      for (let j = 0; j < id.length; j++) h = Math.imul(h ^ id.charCodeAt(j), 0x01000193);
      const start = (h >>> 0) % members.length;
      // The first non-leaf member from a point drawn by our id (a leaf if there is none).
      let pick = members[start].id;
      for (let j = 0; j < members.length; j++) {
        const m = members[(start + j) % members.length];
        if (!m.leaf && m.id !== this.io.self && !this.suspected(m.id)) {
          pick = m.id;
          break;
        }
      }
      if (pick !== this.io.self) target = pick;
    }
    const wanted = new Uint8Array((b.count + 7) >> 3);
    for (let i = 0; i < b.count; i++) if (b.frames[i] === null) wanted[i >> 3] |= 1 << (i & 7);
    this.pull(target, b, PULL_FOLLOW, wanted);
    for (let s = 0; s < b.stripes; s++) b.lastProgress[s] = this.io.now();
    this.io.count('tree-foster-pull');
    this.io.milestone('foster', b, null);
  }

  private pull(to: PeerId, b: Bcast, flags: number, wanted: Uint8Array | null): void {
    if (to === this.io.self) return;
    const body = encodePull({
      origin: b.origin,
      kind: b.kind,
      messageId: b.messageId,
      count: b.count,
      flags,
      wanted: wanted ?? new Uint8Array((b.count + 7) >> 3),
    });
    this.io.sendControl(to, TREE_KIND.PULL, { epoch: b.epoch, round: b.round, phase: b.phase }, body);
  }

  private suspected(peer: PeerId): boolean {
    const t = this.suspects.get(peer);
    if (t === undefined) return false;
    if (this.io.now() - t > this.opts.maxAgeMs) {
      this.suspects.delete(peer);
      return false;
    }
    return true;
  }

  // ================================================================ time

  /** The wake-up: stalls, anchors that never came, expiry. */
  tick(): void {
    const io = this.io;
    const now = io.now();
    this.wakeRequested = Number.POSITIVE_INFINITY;
    for (const b of [...this.live.values()]) {
      if (now - b.createdAt > this.opts.maxAgeMs) {
        if (!b.complete && !b.isOrigin) io.count('tree-expired-incomplete');
        this.forget(b);
        continue;
      }
      if (b.complete || b.isOrigin) continue;
      if (b.anchor === null) {
        if (b.pending.size > 0 && now - b.createdAt >= this.opts.stallMs && now - b.anchorAskedAt >= this.opts.stallMs) {
          b.anchorAskedAt = now;
          this.pull(b.origin, b, PULL_ANCHOR, null);
          io.count('tree-anchor-pull');
        }
        continue;
      }
      if (b.pos === null) {
        // Off the trees: one escalation for the whole broadcast (foster member, then the origin).
        let stalled = false;
        for (let s = 0; s < b.stripes; s++) if (b.missing[s] > 0 && now - b.lastProgress[s] >= this.opts.stallMs) stalled = true;
        if (stalled) {
          if (b.layout === null && !b.rosterAsked) {
            b.rosterAsked = true;
            this.pull(b.origin, b, PULL_ROSTER, null);
          }
          this.fosterPull(b, ++b.level[0]);
        }
        continue;
      }
      for (let s = 0; s < b.stripes; s++) {
        if (b.missing[s] === 0) continue;
        if (now - b.lastProgress[s] >= this.patience(b, s)) this.repair(b, s);
      }
    }
    this.reschedule();
  }

  private patience(b: Bcast, s: number): number {
    if (b.gotAny[s] === 1 || b.pos === null || b.layout === null) return this.opts.stallMs;
    return this.opts.stallMs * Math.max(1, depthIn(b.layout, s, b.pos));
  }

  private reschedule(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const b of this.live.values()) {
      next = Math.min(next, b.createdAt + this.opts.maxAgeMs + 1);
      if (b.complete || b.isOrigin) continue;
      if (b.anchor === null) {
        if (b.pending.size > 0) next = Math.min(next, Math.max(b.createdAt, b.anchorAskedAt) + this.opts.stallMs);
        continue;
      }
      for (let s = 0; s < b.stripes; s++) if (b.missing[s] > 0) next = Math.min(next, b.lastProgress[s] + this.patience(b, s));
    }
    this.schedule(next);
  }

  private schedule(t: number): void {
    if (t === this.wakeRequested) return;
    this.wakeRequested = t;
    this.io.wakeAt(t);
  }

  // ================================================================ bookkeeping

  private track(
    key: string,
    origin: PeerId,
    epoch: number,
    round: number,
    phase: number,
    kind: number,
    messageId: number,
    count: number,
    isOrigin: boolean,
  ): Bcast {
    if (this.live.size >= MAX_LIVE_BROADCASTS) {
      // Forget the oldest (a finished one if there is one).
      let victim: Bcast | null = null;
      for (const b of this.live.values()) {
        if (victim === null || (b.complete && !victim.complete) || (b.complete === victim.complete && b.createdAt < victim.createdAt)) victim = b;
      }
      if (victim !== null) this.forget(victim);
    }
    const b = newBroadcast(key, origin, epoch, round, phase, kind, messageId, count, isOrigin, this.io.now());
    this.live.set(key, b);
    return b;
  }

  /** Places the broadcast in a roster's layout: stripes, this peer's children per stripe. */
  private place(b: Bcast, roster: Roster): void {
    const layout = layoutOf(roster);
    b.layout = layout;
    b.pos = positionOf(layout, this.io.self);
    sizeStripes(b, layout.stripes);
    if (b.pos !== null) for (let s = 0; s < layout.stripes; s++) b.children[s] = childrenIn(layout, s, b.pos);
  }

  private forget(b: Bcast): void {
    this.pendingBytes -= b.pendingBytes;
    b.pending.clear();
    b.pendingBytes = 0;
    this.live.delete(b.key);
  }
}

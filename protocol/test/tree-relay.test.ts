import { describe, expect, it } from 'vitest';
import { encodeFrames } from '../src/frames/encode.js';
import { decodeFrame } from '../src/frames/decode.js';
import type { Frame } from '../src/frames/frame.js';
import type { EngineMessage, PeerId } from '../src/engine/types.js';
import { ENGINE_CODEC, MSG } from '../src/engine/messages.js';
import { ancestorsIn, childrenIn, layoutOf, positionOf } from '../src/tree/layout.js';
import type { Roster } from '../src/tree/roster.js';
import { PULL_COPIES, PULL_COPIES_PER_PEER, TreeRelay, type ControlHeader, type RelayMeta, type TreeCounter, type TreeIO } from '../src/tree/relay.js';
import { decodeHold, decodePull, encodeHold, encodePull, frameHash, PULL_FOLLOW, TREE_KIND, type TreeKind } from '../src/tree/wire.js';

const RUN = 'cd'.repeat(32);
const ROOT = 'agg';
const STALL = 100;

/** 24 members, 4 stripes asked for. */
const roster: Roster = {
  root: ROOT,
  epoch: 2,
  version: 1,
  stripes: 4,
  frameCost: 0,
  latencyCost: 0,
  members: Array.from({ length: 24 }, (_, i) => ({ id: `m${String(i).padStart(2, '0')}`, upKbps: 20_000, leaf: false })),
};
const layout = layoutOf(roster);

interface Sent {
  readonly to: PeerId;
  readonly kind: TreeKind;
  readonly body: Uint8Array;
}

/** A relay with a fake world: what it sends, delivers and counts is recorded; time is set by the test. */
class World implements TreeIO {
  now_ = 0;
  readonly relayed: { to: PeerId; frames: readonly Uint8Array[]; meta: RelayMeta }[] = [];
  readonly controls: Sent[] = [];
  readonly broadcasts: Sent[] = [];
  readonly delivered: Frame[] = [];
  readonly counts = new Map<string, number>();
  readonly inbounds: number[] = [];
  wake = Number.POSITIVE_INFINITY;
  readonly relay_: TreeRelay;

  constructor(readonly self: PeerId) {
    this.relay_ = new TreeRelay(this, { stallMs: STALL, maxAgeMs: 60_000, minBytes: 1024, maxFrames: 1000, kinds: new Set([MSG.COMMIT]) });
    this.relay_.setRoster(roster);
  }
  now(): number {
    return this.now_;
  }
  relay(to: PeerId, frames: readonly Uint8Array[], meta: RelayMeta): void {
    this.relayed.push({ to, frames, meta });
  }
  sendControl(to: PeerId, kind: TreeKind, _h: ControlHeader, body: Uint8Array): void {
    this.controls.push({ to, kind, body });
  }
  broadcastControl(kind: TreeKind, _h: ControlHeader, body: Uint8Array): void {
    this.broadcasts.push({ to: '*', kind, body });
  }
  deliver(frame: Frame): void {
    this.delivered.push(frame);
  }
  resendRoster(): void {}
  inbound(_kind: number, _epoch: number, round: number): void {
    this.inbounds.push(round);
  }
  milestone(): void {}
  wakeAt(t: number): void {
    this.wake = t;
  }
  count(name: TreeCounter, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  hash(frame: Uint8Array): Uint8Array {
    return frameHash(frame);
  }
  /** Advances time to t and fires the relay's wake-up if due. */
  at(t: number): void {
    this.now_ = t;
    if (this.wake <= t) this.relay_.tick();
  }
}

function commitMessage(bytes: number, round = 5): EngineMessage {
  const body = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 31 + round) & 0xff;
  return { kind: MSG.COMMIT, runId: RUN, epoch: 2, round, phase: 1, sender: ROOT, codec: ENGINE_CODEC, body };
}

/** The root's broadcast of a 20-frame commit: its frames and its anchor message. */
function originate(round = 5) {
  const root = new World(ROOT);
  const msg = commitMessage(20 * 900, round);
  const frames = encodeFrames(msg, { frameSize: 1000, messageId: 77 });
  expect(
    root.relay_.originate(
      msg,
      frames,
      frames.reduce((a, f) => a + f.length, 0),
    ),
  ).toBe(true);
  const anchorBody = root.broadcasts.find((b) => b.kind === TREE_KIND.ANCHOR)?.body as Uint8Array;
  const anchor: EngineMessage = { kind: TREE_KIND.ANCHOR, runId: RUN, epoch: 2, round, phase: 1, sender: ROOT, codec: ENGINE_CODEC, body: anchorBody };
  return { root, frames, anchor };
}

function parentOf(peer: PeerId, s: number): PeerId {
  return ancestorsIn(layout, s, positionOf(layout, peer) as NonNullable<ReturnType<typeof positionOf>>)[0];
}

/** A member two levels down in stripe 0 (its parent and grandparent are members). */
function deepMember(): PeerId {
  for (const m of roster.members) {
    const anc = ancestorsIn(layout, 0, positionOf(layout, m.id) as NonNullable<ReturnType<typeof positionOf>>);
    if (anc.length >= 3 && childrenIn(layout, 0, positionOf(layout, m.id) as NonNullable<ReturnType<typeof positionOf>>).length > 0) return m.id;
  }
  throw new Error('no deep relay in the layout');
}

describe('TreeRelay', () => {
  it('the root sends one copy: each frame to its stripe root, the anchor by gossip and to its children', () => {
    const { root, frames } = originate();
    expect(root.relayed.length).toBe(frames.length);
    for (const r of root.relayed) expect(r.meta.originated).toBe(true);
    expect(root.broadcasts.map((b) => b.kind)).toEqual([TREE_KIND.ANCHOR]);
    expect(root.controls.every((c) => c.kind === TREE_KIND.ANCHOR)).toBe(true);
    expect(new Set(root.controls.map((c) => c.to)).size).toBe(layout.stripes);
    // Small or roster-less broadcasts are not relayed.
    const small = commitMessage(100);
    const f = encodeFrames(small, { frameSize: 1000 });
    expect(root.relay_.originate(small, f, f[0].length)).toBe(false);
  });

  it('forwards checked frames to its children at once, holds early frames for the anchor, and drops forged ones', () => {
    const { frames, anchor } = originate();
    const me = deepMember();
    const w = new World(me);
    const pos = positionOf(layout, me) as NonNullable<ReturnType<typeof positionOf>>;
    const parent = parentOf(me, 0);
    // Frame 0 (stripe 0) before the anchor: held, neither forwarded nor delivered.
    w.relay_.onFrame(frames[0], decodeFrame(frames[0]), parent);
    expect(w.relayed.length + w.delivered.length).toBe(0);
    w.relay_.onControl(anchor, true);
    expect(w.inbounds).toEqual([5]);
    expect(w.delivered.length).toBe(1);
    const kids = childrenIn(layout, 0, pos);
    expect(w.relayed.map((r) => r.to).sort()).toEqual([...kids].sort());
    // A forged frame k (stripe 0 too): a payload byte changed, CRCs fixed up — refused by its hash.
    const k = layout.stripes;
    const forged = frames[k].slice();
    forged[forged.length - 1] ^= 1;
    const fake: Frame = { ...decodeFrame(frames[k]) };
    w.relay_.onFrame(forged, fake, parent);
    expect(w.counts.get('tree-bad-frame')).toBe(1);
    expect(w.delivered.length).toBe(1);
    expect(w.relayed.length).toBe(kids.length);
    // … and the stripe is repaired at once from the grandparent; the children are told to hold.
    const pull = w.controls.find((c) => c.kind === TREE_KIND.PULL);
    expect(pull?.to).toBe(ancestorsIn(layout, 0, pos)[1]);
    const wanted = decodePull(pull?.body as Uint8Array, 1000).wanted;
    for (let i = 0; i < 20; i++) expect(((wanted[i >> 3] >> (i & 7)) & 1) === 1).toBe(i % k === 0 && i !== 0);
    expect(
      w.controls
        .filter((c) => c.kind === TREE_KIND.HOLD)
        .map((c) => c.to)
        .sort(),
    ).toEqual([...kids].sort());
    // The genuine frame still goes through afterwards; a duplicate is counted, not forwarded.
    w.relay_.onFrame(frames[k], decodeFrame(frames[k]), parent);
    w.relay_.onFrame(frames[k], decodeFrame(frames[k]), parent);
    expect(w.delivered.length).toBe(2);
    expect(w.counts.get('tree-duplicate')).toBe(1);
  });

  it('refuses anchors that are not authenticated and frames of origins it has no roster of', () => {
    const { frames, anchor } = originate();
    const w = new World('m05');
    w.relay_.onControl(anchor, false);
    expect(w.counts.get('tree-bad-control')).toBe(1);
    const stranger = encodeFrames({ ...commitMessage(5000), sender: 'mallory' }, { frameSize: 1000 });
    w.relay_.onFrame(stranger[0], decodeFrame(stranger[0]), 'm01');
    expect(w.counts.get('tree-unanchored-dropped')).toBe(1);
    expect(w.relay_.tracked).toBe(0);
    void frames;
  });

  it('repairs a stalled stripe from the grandparent, then further up, and honours a HOLD from its parent', () => {
    const { frames, anchor } = originate();
    const me = deepMember();
    const w = new World(me);
    const pos = positionOf(layout, me) as NonNullable<ReturnType<typeof positionOf>>;
    const anc = ancestorsIn(layout, 0, pos);
    w.at(0);
    w.relay_.onControl(anchor, true);
    // Every frame arrives but stripe 0's after its first.
    for (let i = 0; i < frames.length; i++)
      if (i === 0 || i % layout.stripes !== 0) w.relay_.onFrame(frames[i], decodeFrame(frames[i]), parentOf(me, i % layout.stripes));
    // The parent says it is repairing: the stall clock restarts from its word.
    w.at(STALL - 1);
    const hold: EngineMessage = {
      ...anchor,
      kind: TREE_KIND.HOLD,
      sender: anc[0],
      body: encodeHold({ origin: ROOT, kind: MSG.COMMIT, messageId: 77, stripe: 0 }),
    };
    w.relay_.onControl(hold, true);
    expect(w.controls.filter((c) => c.kind === TREE_KIND.HOLD).length).toBe(childrenIn(layout, 0, pos).length);
    expect(decodeHold(w.controls[0].body).stripe).toBe(0);
    w.at(2 * STALL - 2);
    expect(w.controls.some((c) => c.kind === TREE_KIND.PULL)).toBe(false);
    // A HOLD from a peer that is not our parent changes nothing.
    w.relay_.onControl({ ...hold, sender: 'm99' }, true);
    w.at(2 * STALL - 1);
    const pulls = (): PeerId[] => w.controls.filter((c) => c.kind === TREE_KIND.PULL).map((c) => c.to);
    expect(pulls()).toEqual([anc[1]]);
    // No answer: one level up each stall period, up to the root.
    let t = 2 * STALL - 1;
    for (let level = 2; level < anc.length; level++) {
      t += STALL;
      w.at(t);
      expect(pulls()[pulls().length - 1]).toBe(anc[level]);
    }
    t += STALL;
    w.at(t);
    expect(pulls()[pulls().length - 1]).toBe(ROOT);
    // The frames come (from anyone): delivered and forwarded, the repair ends.
    for (let i = 0; i < frames.length; i += layout.stripes) w.relay_.onFrame(frames[i], decodeFrame(frames[i]), ROOT);
    expect(w.delivered.length).toBe(frames.length);
    expect(w.counts.get('tree-complete')).toBe(1);
    const before = pulls().length;
    w.at(t + 10 * STALL);
    expect(pulls().length).toBe(before);
  });

  it('serves pulls within its budgets, and follows frames it does not have yet', () => {
    const { root, frames } = originate();
    const pull = (from: PeerId, all: boolean): EngineMessage => {
      const wanted = new Uint8Array(3);
      for (let i = 0; i < 20; i++) if (all || i % 2 === 0) wanted[i >> 3] |= 1 << (i & 7);
      return {
        kind: TREE_KIND.PULL,
        runId: RUN,
        epoch: 2,
        round: 5,
        phase: 1,
        sender: from,
        codec: ENGINE_CODEC,
        body: encodePull({ origin: ROOT, kind: MSG.COMMIT, messageId: 77, count: 20, flags: PULL_FOLLOW, wanted }),
      };
    };
    const served = (to: PeerId): number => root.relayed.filter((r) => r.to === to).reduce((a, r) => a + r.frames.length, 0);
    root.relayed.length = 0;
    for (let k = 0; k < 5; k++) root.relay_.onControl(pull('m01', true), true);
    expect(served('m01')).toBe(PULL_COPIES_PER_PEER * frames.length);
    for (const p of ['m02', 'm03', 'm04']) root.relay_.onControl(pull(p, true), true);
    let total = 0;
    for (const r of root.relayed) total += r.frames.length;
    expect(total).toBe(PULL_COPIES * frames.length);
    expect(root.counts.get('tree-pull-refused')).toBeGreaterThan(0);
    // A relay asked for frames it has not received yet forwards them when they come.
    const me = deepMember();
    const w = new World(me);
    w.relay_.onControl(pull('m20', false), true);
    expect(w.relayed.length).toBe(0);
    const anchor = originate().anchor;
    w.relay_.onControl(anchor, true);
    w.relay_.onFrame(frames[2], decodeFrame(frames[2]), parentOf(me, 2 % layout.stripes));
    w.relay_.onFrame(frames[3], decodeFrame(frames[3]), parentOf(me, 3 % layout.stripes));
    expect(w.relayed.filter((r) => r.to === 'm20').map((r) => decodeFrame(r.frames[0]).index)).toEqual([2]);
  });

  it('off the roster it pulls everything from a foster member, then from the origin', () => {
    const { frames, anchor } = originate();
    const w = new World('launcher');
    w.at(0);
    w.relay_.onControl(anchor, true);
    const first = w.controls.find((c) => c.kind === TREE_KIND.PULL);
    expect(roster.members.map((m) => m.id)).toContain(first?.to);
    const body = decodePull(first?.body as Uint8Array, 1000);
    expect(body.wanted).toEqual(Uint8Array.of(0xff, 0xff, 0x0f));
    w.at(STALL);
    expect(w.controls.filter((c) => c.kind === TREE_KIND.PULL).map((c) => c.to)).toEqual([first?.to, ROOT]);
    for (const f of frames) w.relay_.onFrame(f, decodeFrame(f), ROOT);
    expect(w.delivered.length).toBe(frames.length);
    // It forwards to nobody (it has no children).
    expect(w.relayed.length).toBe(0);
  });
});

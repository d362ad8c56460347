/**
 * Relay-tree layout: from a roster, every peer computes the same k interior-disjoint trees rooted
 * at the aggregator (SplitStream-style striping), deterministically and with no communication.
 *
 * A broadcast of n frames is cut into k stripes (frame i belongs to stripe i mod k); stripe s
 * travels down tree T_s. The relays (members that are neither leaves nor slow) are split into k
 * groups with balanced upload capacity; the relays of group s are the interior nodes of T_s and
 * leaves of every other tree, and every other member is a leaf of T_s. So each relay forwards one
 * stripe to about k children — it uploads about one copy of the message whatever the swarm size —
 * every member receives every stripe exactly once (each byte crosses each downlink once), and the
 * aggregator sends each stripe to one child: one copy in all. The k trees run side by side, so a
 * member receives at the sum of its k parents' per-child rates: close to the upload rate itself,
 * where a single tree of fan-out k would give 1/k of it.
 *
 * - **Who relays.** A member flagged leaf (browser tab) does not, unless no other member can (a
 *   swarm of tabs only); nor does one whose upload rate is below a quarter of the median (it could
 *   not feed even one child at the stripe rate). Unknown rates count as the median.
 * - **Fan-out from capacity.** In T_s the root has one child (all leaves: every member) and the
 *   relays of group s share the remaining n − 1 child slots in proportion to their upload rates
 *   (largest remainder), so each one's upload time per broadcast is about the same. Relays are
 *   placed breadth-first in decreasing rate order, fastest nearest the root, then the other
 *   members in an order drawn per stripe (so a member's parents differ from tree to tree).
 * - **How many stripes.** k is the number in [1, roster.stripes] with the lowest predicted time:
 *   the largest upload time of any uploader (copies it sends over its rate, in units of the
 *   median rate's time for one copy, S/u; at least 1, the root's copy) plus the pipeline's fill,
 *   one hop per level of the deepest tree: a hop costs the upload of one frame to each of a
 *   node's c children and one link latency, c·f/S + L·u/S in the same unit — the roster's
 *   `frameCost` and `latencyCost`, which the aggregator estimates from its broadcasts' size S,
 *   the frame size f, the median rate u and an assumed hop latency L (`HOP_COST` per level when
 *   the roster gives none). Ties go to fewer stripes. In a small swarm this picks one stripe per
 *   relay (every relay feeds all others its stripe: depth 2); in a large one shallow trees of
 *   fan-out ~k, as wide as the frame term allows.
 * - **Ties** between equal rates are broken by a hash of (epoch, version, id), so another roster
 *   moves the load around.
 *
 * Rebuilt only when the roster changes (round boundaries, membership or rate classes); layouts
 * are cached by roster object (`layoutOf`).
 */
import type { PeerId } from '../engine/types.js';
import { hashString } from '../rng/streams.js';
import type { Roster } from './roster.js';

/** Predicted cost of one tree level, in units of one copy's upload time at the median rate. */
export const HOP_COST = 0.05;
/** A member below this fraction of the median upload rate never relays. */
export const SLOW_FRACTION = 0.25;

export interface StripeTree {
  /** parent[i]: the member index of member i's parent; −1 = the root. */
  readonly parent: Int32Array;
  /** depth[i] ≥ 1: hops from the root (its children have depth 1). */
  readonly depth: Int32Array;
  /** Children of member i: childList[childStart[i] .. childStart[i + 1]). */
  readonly childStart: Int32Array;
  readonly childList: Int32Array;
  /** The root's children. */
  readonly rootChildren: Int32Array;
  readonly maxDepth: number;
}

export interface TreeLayout {
  readonly roster: Roster;
  /** Stripes in use (≤ roster.stripes). */
  readonly stripes: number;
  readonly trees: readonly StripeTree[];
  /** Member index by id. */
  readonly index: ReadonlyMap<PeerId, number>;
  /** Members that relay in some tree. */
  readonly relays: number;
  /** Predicted largest upload time per broadcast, in copies at the median rate (≥ 1). */
  readonly bottleneck: number;
  readonly maxDepth: number;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Prepared {
  readonly n: number;
  /** Effective rates (unknown = median), by member index. */
  readonly rate: Float64Array;
  readonly median: number;
  /** Relay member indices, fastest first (ties by hash). */
  readonly relays: Int32Array;
  /** Per-member hash of (epoch, version, id). */
  readonly hash: Uint32Array;
}

function prepare(roster: Roster): Prepared {
  const members = roster.members;
  const n = members.length;
  const known: number[] = [];
  for (const m of members) if (m.upKbps > 0) known.push(m.upKbps);
  known.sort((a, b) => a - b);
  const median = known.length === 0 ? 1 : known.length % 2 === 1 ? known[known.length >> 1] : (known[known.length / 2 - 1] + known[known.length / 2]) / 2;
  const rate = new Float64Array(n);
  const hash = new Uint32Array(n);
  const salt = fmix32(Math.imul(roster.epoch + 1, 0x9e3779b1) ^ Math.imul(roster.version + 1, 0x85ebca77));
  let relayIdx: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = members[i];
    rate[i] = m.upKbps > 0 ? m.upKbps : median;
    hash[i] = fmix32(hashString(m.id) ^ salt);
    if (!m.leaf && rate[i] >= SLOW_FRACTION * median) relayIdx.push(i);
  }
  // Nobody but leaves (a swarm of browser tabs): they relay after all, rather than the root
  // sending a copy to every member.
  if (relayIdx.length === 0) {
    relayIdx = [];
    for (let i = 0; i < n; i++) if (rate[i] >= SLOW_FRACTION * median) relayIdx.push(i);
  }
  relayIdx.sort((a, b) => rate[b] - rate[a] || hash[a] - hash[b] || a - b);
  return { n, rate, median, relays: Int32Array.from(relayIdx), hash };
}

/** Splits `total` slots among `weights` in proportion (largest remainder; ties to the earlier). */
function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = new Array<number>(weights.length).fill(0);
  if (weights.length === 0 || total <= 0) return out;
  const rem: { i: number; r: number }[] = [];
  let given = 0;
  for (let i = 0; i < weights.length; i++) {
    const exact = (total * weights[i]) / sum;
    out[i] = Math.floor(exact);
    given += out[i];
    rem.push({ i, r: exact - out[i] });
  }
  rem.sort((a, b) => b.r - a.r || a.i - b.i);
  for (let j = 0; given < total; j++, given++) out[rem[j % rem.length].i]++;
  return out;
}

interface Candidate {
  readonly stripes: number;
  readonly trees: StripeTree[];
  readonly bottleneck: number;
  readonly maxDepth: number;
  /** Most children of any node (the root included) in any tree. */
  readonly maxChildren: number;
}

/** Builds the k trees for one stripe count. */
function build(p: Prepared, k: number): Candidate {
  const { n, rate, median, relays, hash } = p;
  // Snake order over the relays (fastest first) balances the groups' capacity.
  const groups: number[][] = Array.from({ length: k }, () => []);
  for (let j = 0; j < relays.length; j++) {
    const round = Math.floor(j / k);
    const pos = j % k;
    groups[round % 2 === 0 ? pos : k - 1 - pos].push(relays[j]);
  }
  const isRelayOf = new Int32Array(n).fill(-1);
  for (let s = 0; s < k; s++) for (const i of groups[s]) isRelayOf[i] = s;
  let bottleneck = 1; // the root's one copy
  let maxDepth = 0;
  let maxChildren = 0;
  const trees: StripeTree[] = [];
  let rootCopies = 0;
  for (let s = 0; s < k; s++) {
    const g = groups[s];
    const rootSlots = g.length > 0 ? Math.min(1, n) : n;
    rootCopies += rootSlots;
    const slots = apportion(
      n - rootSlots,
      g.map((i) => rate[i]),
    );
    // Interior members with more slots first within equal rate order is not needed: g is sorted.
    const cap = new Int32Array(n);
    for (let j = 0; j < g.length; j++) {
      cap[g[j]] = slots[j];
      const load = slots[j] / k / (rate[g[j]] / median);
      if (load > bottleneck) bottleneck = load;
    }
    // Placement order: the group's relays (fastest first, those with no slot last), then the rest
    // in an order drawn for this stripe.
    const interior = g.slice().sort((a, b) => (cap[b] > 0 ? 1 : 0) - (cap[a] > 0 ? 1 : 0));
    const rest: number[] = [];
    for (let i = 0; i < n; i++) if (isRelayOf[i] !== s) rest.push(i);
    const sh = Math.imul(s + 1, 0x27d4eb2f);
    rest.sort((a, b) => fmix32(hash[a] ^ sh) - fmix32(hash[b] ^ sh) || a - b);
    const order = interior.concat(rest);
    const parent = new Int32Array(n);
    const depth = new Int32Array(n);
    const rootChildren: number[] = [];
    const kids: number[][] = Array.from({ length: n }, () => []);
    // FIFO of parents with free slots: −1 = the root.
    const queue: number[] = [-1];
    const free = new Int32Array(n);
    let rootFree = rootSlots;
    let head = 0;
    let deepest = 0;
    for (const i of order) {
      while (head < queue.length && (queue[head] === -1 ? rootFree : free[queue[head]]) === 0) head++;
      // Capacity runs out only through rounding corner cases: the root takes the node then.
      const par = head < queue.length ? queue[head] : -1;
      if (par === -1) {
        if (rootFree > 0) rootFree--;
        rootChildren.push(i);
        depth[i] = 1;
      } else {
        free[par]--;
        kids[par].push(i);
        depth[i] = depth[par] + 1;
      }
      parent[i] = par;
      if (depth[i] > deepest) deepest = depth[i];
      if (cap[i] > 0) {
        free[i] = cap[i];
        queue.push(i);
      }
    }
    const childStart = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      childStart[i + 1] = childStart[i] + kids[i].length;
      if (kids[i].length > maxChildren) maxChildren = kids[i].length;
    }
    if (rootChildren.length > maxChildren) maxChildren = rootChildren.length;
    const childList = new Int32Array(childStart[n]);
    for (let i = 0; i < n; i++) childList.set(kids[i], childStart[i]);
    trees.push({ parent, depth, childStart, childList, rootChildren: Int32Array.from(rootChildren), maxDepth: deepest });
    if (deepest > maxDepth) maxDepth = deepest;
  }
  const rootLoad = rootCopies / k;
  if (rootLoad > bottleneck) bottleneck = rootLoad;
  return { stripes: k, trees, bottleneck, maxDepth, maxChildren };
}

/** Computes the layout of a roster (see the module comment). O(k² · n log n) for k ≤ roster.stripes. */
export function computeLayout(roster: Roster): TreeLayout {
  const p = prepare(roster);
  const index = new Map<PeerId, number>();
  roster.members.forEach((m, i) => index.set(m.id, i));
  const most = Math.max(1, Math.min(roster.stripes, p.relays.length));
  let best: Candidate | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  for (let k = 1; k <= most; k++) {
    const c = build(p, k);
    const hop = roster.frameCost === 0 && roster.latencyCost === 0 ? HOP_COST : (c.maxChildren * roster.frameCost + roster.latencyCost) / 1e6;
    const score = c.bottleneck + hop * c.maxDepth;
    if (score < bestScore - 1e-9) {
      best = c;
      bestScore = score;
    }
  }
  const c = best as Candidate;
  return { roster, stripes: c.stripes, trees: c.trees, index, relays: p.relays.length, bottleneck: c.bottleneck, maxDepth: c.maxDepth };
}

const LAYOUTS = new WeakMap<Roster, TreeLayout>();

/** `computeLayout`, cached by roster object (a simulator's peers share one decoded roster). */
export function layoutOf(roster: Roster): TreeLayout {
  let l = LAYOUTS.get(roster);
  if (l === undefined) {
    l = computeLayout(roster);
    LAYOUTS.set(roster, l);
  }
  return l;
}

/** The stripe of frame `index`. */
export function stripeOf(index: number, stripes: number): number {
  return index % stripes;
}

/** Where one peer sits in a layout: per stripe, its parent, children and depth. */
export interface Position {
  /** Member index, or −1 for the root. */
  readonly member: number;
  readonly isRoot: boolean;
}

/** The position of `peer` in `layout`, or null when it is neither the root nor a member. */
export function positionOf(layout: TreeLayout, peer: PeerId): Position | null {
  if (peer === layout.roster.root) return { member: -1, isRoot: true };
  const i = layout.index.get(peer);
  return i === undefined ? null : { member: i, isRoot: false };
}

/** Ids of the children of `pos` in stripe `s`. */
export function childrenIn(layout: TreeLayout, s: number, pos: Position): PeerId[] {
  const t = layout.trees[s];
  const members = layout.roster.members;
  const out: PeerId[] = [];
  if (pos.isRoot) {
    for (let j = 0; j < t.rootChildren.length; j++) out.push(members[t.rootChildren[j]].id);
  } else {
    for (let j = t.childStart[pos.member]; j < t.childStart[pos.member + 1]; j++) out.push(members[t.childList[j]].id);
  }
  return out;
}

/** Ancestors of member `pos` in stripe `s`, nearest first, ending with the root. Empty for the root. */
export function ancestorsIn(layout: TreeLayout, s: number, pos: Position): PeerId[] {
  if (pos.isRoot) return [];
  const t = layout.trees[s];
  const members = layout.roster.members;
  const out: PeerId[] = [];
  for (let i = t.parent[pos.member]; i !== -1; i = t.parent[i]) out.push(members[i].id);
  out.push(layout.roster.root);
  return out;
}

/** Depth of member `pos` in stripe `s` (0 for the root). */
export function depthIn(layout: TreeLayout, s: number, pos: Position): number {
  return pos.isRoot ? 0 : layout.trees[s].depth[pos.member];
}

/**
 * Predicted upload of every uploader per broadcast, in message copies (stripe share × children):
 * the root's first. For tests and benchmarks.
 */
export function uploadCopies(layout: TreeLayout): { root: number; members: Float64Array } {
  const n = layout.roster.members.length;
  const members = new Float64Array(n);
  let root = 0;
  for (const t of layout.trees) {
    root += t.rootChildren.length / layout.stripes;
    for (let i = 0; i < n; i++) members[i] += (t.childStart[i + 1] - t.childStart[i]) / layout.stripes;
  }
  return { root, members };
}

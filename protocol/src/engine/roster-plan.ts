/**
 * The relay trees' roster an aggregator publishes at a round boundary (aggregator.ts): its members
 * in id order (up to the cap; the rest pull from a member, tree/relay.ts) and the layout's cost
 * model (tree/layout.ts) from this epoch's largest commit, the frame size, the median upload rate
 * and the hop latency. Every peer lays out the very same trees from it.
 */
import { MAX_COST_PPM, MAX_ROSTER_MEMBERS, sameMembers, type Roster, type RosterMember } from '../tree/roster.js';
import type { AggState } from './agg-state.js';
import type { RunContext } from './context.js';
import type { Membership } from './membership.js';
import type { PeerId } from './types.js';

/** The next roster (version + 1), or null when it would list the same members as the last one. */
export function nextRoster(ctx: RunContext, table: Membership, agg: Pick<AggState, 'epoch' | 'largestBody' | 'roster'>, self: PeerId): Roster | null {
  const members: RosterMember[] = [];
  for (const m of table.members.values()) if (m.id !== self && !m.disconnected) members.push({ id: m.id, upKbps: m.upKbps, leaf: m.leaf });
  members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Beyond the cap, members stay off the trees and pull from a member (tree/relay.ts).
  if (members.length > MAX_ROSTER_MEMBERS) members.length = MAX_ROSTER_MEMBERS;
  const stripes = ctx.broadcast.stripes;
  if (agg.roster !== null && sameMembers(agg.roster, { members, stripes })) return null;
  // The layout's cost model (layout.ts), in ppm of one copy's upload time S/u at the median rate.
  const bc = ctx.broadcast;
  const rates = members
    .filter((m) => m.upKbps > 0)
    .map((m) => m.upKbps)
    .sort((a, b) => a - b);
  const upKbps = rates.length > 0 ? rates[rates.length >> 1] : bc.defaultUpKbps;
  const S = Math.max(1, agg.largestBody);
  const copyMs = S / (upKbps / 8); // kbit/s = 1/8 byte per ms
  // Rounded as the wire carries them: every peer must lay out the very same trees.
  const frameCost = Math.min(MAX_COST_PPM, Math.round((1e6 * Math.min(bc.frameBytes, S)) / S));
  const latencyCost = Math.min(MAX_COST_PPM, Math.round((1e6 * bc.hopMs) / copyMs));
  return { root: self, epoch: agg.epoch, version: (agg.roster?.version ?? 0) + 1, stripes, frameCost, latencyCost, members };
}

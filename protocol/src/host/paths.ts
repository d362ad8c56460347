/** The two paths a frame takes to a peer and the message kinds each carries (checked on receipt). */
import { MSG } from '../engine/messages.js';
import { TREE_KIND } from '../tree/wire.js';

/** How a frame reached this peer: a direct stream to it, or the run's broadcast topic. */
export type FramePath = 'direct' | 'broadcast';

/**
 * The message kinds each path carries. The aggregator broadcasts ANNOUNCE, OPEN, COMMIT and its
 * ROSTER (the relay trees' membership), and any peer broadcasts its lease-expiry attestations
 * (SUSPECT) and equivocation proofs; a relay tree's ANCHOR goes to a whole tree by gossip or to one
 * child. ROSTER (a resend) and the trees' controls also go to one peer, as do AUDIT requests;
 * every other kind goes to one peer only. A frame of another kind on a path is refused
 * ('wrong-path'): a device never takes an UPLINK from the broadcast topic, nor a COMMIT from a
 * direct stream (commits relayed down the trees arrive on the tree channel, checked against their
 * anchor, not on either path).
 */
export const KINDS_BY_PATH: Readonly<Record<FramePath, ReadonlySet<number>>> = {
  direct: new Set([
    MSG.HEARTBEAT,
    MSG.UPLINK,
    MSG.STATE_REQUEST,
    MSG.STATE,
    MSG.REPLAY,
    MSG.AUDIT,
    MSG.ROSTER,
    TREE_KIND.ANCHOR,
    TREE_KIND.PULL,
    TREE_KIND.HOLD,
  ]),
  broadcast: new Set([MSG.ANNOUNCE, MSG.OPEN, MSG.COMMIT, MSG.SUSPECT, MSG.EQUIVOCATION, MSG.ROSTER, TREE_KIND.ANCHOR]),
};
